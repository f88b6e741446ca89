//! The `kasio` binary against kcat 1.7.1 on librdkafka's mock cluster (the rig,
//! `scripts/setup-rig.sh`; Debian's kcat cannot talk to tansu): the same topic
//! read by both must print the same bytes. Also exit codes, the run without `-b`,
//! and the progress line in a terminal (tmux).
//!
//! The cluster runs behind mock_cluster.py's repairing proxy (`--proxy`), which
//! kasio's group APIs need and librdkafka does not mind. Nothing is skipped: a
//! missing kcat, tmux or rig fails with what to install.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use kasio_sim::rig::{output_within, produce, python, repo_root, MockCluster, ProduceSpec};

const KASIO: &str = env!("CARGO_BIN_EXE_kasio");
const BASE_TS: i64 = 1_700_000_000_000;

fn need(tool: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{tool} is not installed (Debian: apt-get install {tool}); the CLI tests need it")
    })
}

/// Runs a client to its end; one still running after two minutes fails the test
/// with what it printed (every run here reads a few hundred records).
fn run(program: &std::path::Path, args: &[&str]) -> Output {
    output_within(Command::new(program).args(args), Duration::from_secs(120))
}

fn kcat(args: &[&str]) -> Output {
    let out = run(&need("kcat"), args);
    assert!(
        out.status.success(),
        "kcat {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn kasio(args: &[&str]) -> Output {
    run(std::path::Path::new(KASIO), args)
}

fn kasio_ok(args: &[&str]) -> Output {
    let out = kasio(args);
    assert!(
        out.status.success(),
        "kasio {args:?}: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn cluster(topics: &[(&str, u32, u32)]) -> MockCluster {
    MockCluster::start_with(3, topics, &["--proxy"])
}

/// The golden records of `testdata/make_golden.py` (headers, null and empty keys
/// and values, every byte value, invalid UTF-8, NULs), partition i in codec i:
/// none, gzip, snappy, lz4, zstd.
fn produce_golden(bootstrap: &str, topic: &str) {
    let script = format!(
        r#"
import sys
sys.path.insert(0, {dir:?})
from make_golden import records, CODECS, BASE_TS
from confluent_kafka import Producer
for p, codec in enumerate(CODECS):
    pr = Producer({{"bootstrap.servers": {bootstrap:?}, "compression.type": codec, "linger.ms": 5}})
    for i, (k, v, h) in enumerate(records()):
        pr.produce({topic:?}, key=k, value=v, headers=h, partition=p, timestamp=BASE_TS + i)
    assert pr.flush(60) == 0
"#,
        dir = repo_root()
            .join("io-tokio/src/bin/kasio/testdata")
            .display()
            .to_string(),
    );
    let out = output_within(
        Command::new(python()).args(["-c", &script]),
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "producing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn records_print_like_kcat_byte_for_byte() {
    let rig = cluster(&[("golden", 5, 1)]);
    let b = rig.bootstrap();
    produce_golden(&b, "golden");
    let cases: &[&[&str]] = &[
        &[],
        &["-J"],
        &["-J", "-Z"],
        &["-J", "-D", "\\r\\n"],
        &["-K", ":"],
        &["-Z", "-K", "\\t"],
        &["-f", "%t|%p|%o|%T|%K|%S|%h|%k|%s\\n"],
        &["-f", "%R%s"],
        &["-f", "Topic %t [%p] at offset %o: key %k: %s\\n"],
    ];
    for case in cases {
        for p in 0..5 {
            let ps = p.to_string();
            let mut args = vec!["-b", &b, "-C", "-t", "golden", "-p", &ps];
            args.extend(["-o", "beginning", "-e", "-q"]);
            args.extend_from_slice(case);
            let want = kcat(&args).stdout;
            let got = kasio_ok(&args).stdout;
            assert!(!want.is_empty(), "{case:?} p{p}");
            assert!(
                want == got,
                "{case:?} partition {p}:\nkcat:  {}\nkasio: {}",
                text(&want),
                text(&got)
            );
        }
    }
    // Every partition at once: the same records (order across partitions is
    // the brokers'), and kcat's notices on stderr, the last one exiting.
    let all = [
        "-b",
        &b,
        "-C",
        "-t",
        "golden",
        "-o",
        "beginning",
        "-e",
        "-J",
    ];
    let (want, got) = (kcat(&all), kasio_ok(&all));
    let lines = |o: &Output| {
        let mut v: Vec<Vec<u8>> = o
            .stdout
            .split(|&c| c == b'\n')
            .map(<[u8]>::to_vec)
            .collect();
        v.sort();
        v
    };
    assert_eq!(lines(&want), lines(&got));
    let notices = text(&got.stderr);
    assert_eq!(
        notices.matches("% Reached end of topic golden [").count(),
        5,
        "{notices}"
    );
    assert!(notices.ends_with("at offset 15: exiting\n"), "{notices}");
}

#[test]
fn exit_at_end_read_committed_counts_the_final_marker() {
    let rig = cluster(&[("tx", 1, 1)]);
    let b = rig.bootstrap();
    // Transactions of 5; the third aborted; the log ends with a COMMIT marker.
    let mut spec = ProduceSpec::new("tx", 1, 20);
    spec.txn_size = 5;
    spec.value_size = 10;
    produce(&b, &spec);
    for isolation in ["read_committed", "read_uncommitted"] {
        let iso = format!("isolation.level={isolation}");
        let args = [
            "-b",
            &b,
            "-C",
            "-t",
            "tx",
            "-o",
            "beginning",
            "-e",
            "-X",
            &iso,
            "-f",
            "%o %k %s\\n",
        ];
        let want = kcat(&args);
        // The mock writes its markers with a zero CRC (librdkafka does not check
        // CRCs by default; kasio does, and would rightly report them as corrupt).
        let mut ours = args.to_vec();
        ours.extend(["-X", "check.crcs=false"]);
        let started = Instant::now();
        let got = kasio_ok(&ours);
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(text(&want.stdout), text(&got.stdout), "{isolation}");
        // The last record is at 22, the marker at 23: the end (24) is reached
        // past the marker.
        assert_eq!(
            text(&got.stderr),
            "% Reached end of topic tx [0] at offset 24: exiting\n",
            "{isolation}"
        );
        assert_eq!(text(&want.stderr), text(&got.stderr));
    }
    // Without check.crcs=false the zero CRC is an error that ends the run.
    let got = kasio(&[
        "-b",
        &b,
        "-t",
        "tx",
        "-e",
        "-q",
        "-X",
        "isolation.level=read_committed",
    ]);
    assert_eq!(got.status.code(), Some(1));
    assert!(
        text(&got.stderr).contains("CRC mismatch"),
        "{}",
        text(&got.stderr)
    );
}

#[test]
fn offset_forms_like_kcat() {
    let rig = cluster(&[("golden", 5, 1)]);
    let b = rig.bootstrap();
    produce_golden(&b, "golden");
    let s_at = format!("s@{}", BASE_TS + 5);
    let e_at = format!("e@{}", BASE_TS + 9);
    let forms: &[&[&str]] = &[
        &["-o", "beginning"],
        &["-o", "end"],
        &["-o", "3"],
        &["-o", "-4"],
        &["-o", &s_at],
        &["-o", "beginning", "-o", &e_at],
        &["-o", "2", "-o", &e_at],
    ];
    for form in forms {
        for p in ["0", "3"] {
            let mut args = vec!["-b", &b, "-C", "-t", "golden", "-p", p, "-e", "-q"];
            args.extend(["-f", "%p %o %T %k\\n"]);
            args.extend_from_slice(form);
            let want = kcat(&args).stdout;
            let got = kasio_ok(&args).stdout;
            assert_eq!(text(&want), text(&got), "{form:?} p{p}");
        }
    }
    // -c stops after that many records.
    let got = kasio_ok(&[
        "-b",
        &b,
        "-t",
        "golden",
        "-p",
        "1",
        "-o",
        "beginning",
        "-c",
        "4",
        "-f",
        "%o\\n",
    ]);
    assert_eq!(text(&got.stdout), "0\n1\n2\n3\n");
}

#[test]
fn group_with_exit_at_end_and_stored_offsets() {
    let rig = cluster(&[("golden", 5, 1)]);
    let b = rig.bootstrap();
    produce_golden(&b, "golden");
    // (No keys: the golden keys hold newlines, and lines are compared.)
    let fmt = ["-f", "%p %o %T\\n"];
    let earliest = ["-X", "auto.offset.reset=earliest"];
    let lines = |o: &Output| {
        let mut v: Vec<String> = text(&o.stdout).lines().map(String::from).collect();
        v.sort();
        v
    };
    // -G with -e: every partition to its end, as kcat's member reads it.
    let mut args = vec!["-b", &b, "-q", "-e"];
    args.extend(fmt);
    args.extend(earliest);
    let mut kc = args.clone();
    kc.extend(["-G", "kcat-group", "golden"]);
    let mut ks = args.clone();
    ks.extend(["-G", "kasio-group", "golden"]);
    let want = kcat(&kc);
    let got = kasio_ok(&ks);
    assert_eq!(lines(&want).len(), 75);
    assert_eq!(lines(&want), lines(&got));
    // A group that read 20 records and stopped (-c): -o stored goes on from
    // there, and the two runs read every record once.
    let mut first = args.clone();
    first.retain(|a| *a != "-e");
    first.extend(["-G", "resume", "golden", "-c", "20"]);
    let a = kasio_ok(&first);
    let mut second = args.clone();
    second.extend(["-G", "resume", "golden", "-o", "stored"]);
    let bb = kasio_ok(&second);
    let (la, lb) = (lines(&a), lines(&bb));
    assert_eq!(la.len(), 20);
    let mut both: Vec<String> = la.into_iter().chain(lb).collect();
    both.sort();
    assert_eq!(both, lines(&want));
}

/// kcat names the broker that answered, which is any of them: compared apart.
fn without_origin(s: &str) -> String {
    let mut s = s.to_owned();
    for (start, end) in [("(from broker ", "):"), ("\"originating_broker\":{", "}")] {
        if let Some(i) = s.find(start) {
            let j = i + s[i..].find(end).expect("end of the origin");
            s.replace_range(i + start.len()..j, "*");
        }
    }
    s
}

#[test]
fn metadata_and_offsets_by_time_like_kcat() {
    let rig = cluster(&[("golden", 5, 1), ("other", 2, 1)]);
    let b = rig.bootstrap();
    produce_golden(&b, "golden");
    for args in [
        &["-L"][..],
        &["-L", "-J"],
        &["-L", "-t", "golden"],
        &["-L", "-t", "golden", "-J"],
    ] {
        let mut a = vec!["-b", b.as_str()];
        a.extend_from_slice(args);
        let want = text(&kcat(&a).stdout);
        let got = text(&kasio_ok(&a).stdout);
        assert_eq!(without_origin(&want), without_origin(&got), "{args:?}");
        assert!(got.contains("/"), "{got}");
    }
    let q1 = format!("golden:0:{}", BASE_TS + 3);
    for json in [false, true] {
        let mut a = vec!["-b", b.as_str(), "-Q", "-t", &q1];
        a.extend(["-t", "golden:2:-1", "-t", "golden:1:-2", "-t", "other:1:-1"]);
        a.extend(["-t", "golden:4:1900000000000"]);
        if json {
            a.push("-J");
        }
        let want = kcat(&a).stdout;
        let got = kasio_ok(&a).stdout;
        assert_eq!(text(&want), text(&got), "json {json}");
    }
}

#[test]
fn exit_codes_and_errors() {
    let usage = kasio(&["-o", "nope"]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(text(&usage.stderr).contains("-o: invalid offset 'nope'"));
    let usage = kasio(&["-X", "fetch.max.wait.ms=soon", "-b", "k:1", "-t", "x"]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(
        text(&usage.stderr).contains("fetch.max.wait.ms: invalid value \"soon\"")
            && text(&usage.stderr).contains("(from -X)"),
        "{}",
        text(&usage.stderr)
    );
    // A port nobody listens on: exit 1 within -m, naming it and the reason.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    for args in [
        vec!["-b", &addr, "-t", "x", "-m", "1"],
        vec!["-b", &addr, "-G", "g", "x", "-m", "1"],
        vec!["-b", &addr, "-L", "-m", "1"],
        vec!["group", "describe", "g", "-b", &addr, "-m", "1"],
    ] {
        let started = Instant::now();
        let out = kasio(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(started.elapsed() < Duration::from_secs(15), "{args:?}");
        assert!(
            text(&out.stderr).starts_with(&format!(
                "kasio: error: cannot connect to broker {addr} (connection refused)"
            )),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // An unknown topic.
    let rig = cluster(&[("golden", 1, 1)]);
    // (kasio-core asks for auto-creation by default, as Java; the mock obliges.)
    let out = kasio(&[
        "-b",
        &rig.bootstrap(),
        "-t",
        "nosuch",
        "-m",
        "2",
        "-X",
        "allow.auto.create.topics=false",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("topic 'nosuch' not found"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn without_brokers_it_reads_the_simulated_demo_topic() {
    let out = kasio_ok(&["-f", "%t %p %o %k %s\\n"]);
    let s = text(&out.stdout);
    assert_eq!(s.lines().count(), 60, "{s}");
    assert!(
        s.contains("kasio-demo 0 0 user-0 event 0 on partition 0\n"),
        "{s}"
    );
    let err = text(&out.stderr);
    assert!(err.starts_with("% No -b given"), "{err}");
    assert!(err.ends_with("at offset 20: exiting\n"), "{err}");
    // Piped stderr: no progress line, no escape codes.
    assert!(
        !err.contains("records/s") && !err.contains('\x1b'),
        "{err:?}"
    );
    let quiet = kasio_ok(&["-q", "-J", "-c", "5"]);
    assert_eq!(text(&quiet.stdout).lines().count(), 5);
    assert_eq!(text(&quiet.stderr), "");
}

fn tmux(socket: &str, args: &[&str]) -> String {
    let out = Command::new(need("tmux"))
        .args(["-L", socket])
        .args(args)
        .output()
        .expect("run tmux");
    text(&out.stdout)
}

#[test]
fn progress_line_updates_in_a_terminal_and_disappears() {
    let rig = cluster(&[("live", 1, 1)]);
    let b = rig.bootstrap();
    produce(&b, &ProduceSpec::new("live", 1, 100));
    let socket = format!("kasio-cli-{}", std::process::id());
    // The shell survives the Ctrl-C (a trap) to print kasio's exit code.
    let cmd = format!(
        "trap true INT; '{KASIO}' -b {b} -t live -o beginning > /dev/null; echo EXIT=$?; sleep 30"
    );
    tmux(
        &socket,
        &[
            "new-session",
            "-d",
            "-x",
            "160",
            "-y",
            "20",
            "sh",
            "-c",
            &cmd,
        ],
    );
    struct Kill(String);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = Command::new("tmux")
                .args(["-L", &self.0, "kill-server"])
                .output();
        }
    }
    let _kill = Kill(socket.clone());
    let wait_for = |what: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let pane = tmux(&socket, &["capture-pane", "-p"]);
            if pane.contains(what) {
                return pane;
            }
            assert!(Instant::now() < deadline, "{what:?} never showed:\n{pane}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let pane = wait_for("kasio: 100 records");
    assert!(
        pane.contains("records/s") && pane.contains("lag 0"),
        "{pane}"
    );
    // More records: the same line, updated in place.
    let mut more = ProduceSpec::new("live", 1, 50);
    more.start = 100;
    produce(&b, &more);
    let pane = wait_for("kasio: 150 records");
    assert_eq!(
        pane.matches("kasio:").count(),
        1,
        "one line, redrawn:\n{pane}"
    );
    // Ctrl-C: closed cleanly, exit 0, and the line is gone.
    tmux(&socket, &["send-keys", "C-c"]);
    let pane = wait_for("EXIT=");
    assert!(pane.contains("EXIT=0"), "{pane}");
    assert!(
        !pane.contains("records/s"),
        "the progress line stayed:\n{pane}"
    );
}
