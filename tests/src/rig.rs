//! Third-party brokers and producers for end-to-end tests, started through the
//! project's scripts (`scripts/rig/`, installed by `scripts/setup-rig.sh`).
//!
//! Each broker runs as a child process that exits when its stdin closes, so a test
//! that panics still takes its broker down ([`RigProcess`]'s `Drop` also kills it).
//! A missing rig is a test failure with a message saying how to install it, never
//! a silent skip.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The rig's Python (with confluent-kafka).
pub fn python() -> PathBuf {
    let p = repo_root().join(".venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup-rig.sh (the README's test command does)",
        p.display()
    );
    p
}

/// Runs `cmd` to its end with stdout and stderr captured, as
/// [`Command::output`] does, but never longer than `limit`: a child still running
/// then is killed and the test fails with what it printed. A hung peer must fail
/// its test, not stall the whole run until CI's own timeout.
pub fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped")));
    let err = drain(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    match status {
        Some(status) => Output {
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "{cmd:?} still running after {limit:?}, killed.\nstdout (last 4 KiB): {}\nstderr (last 4 KiB): {}",
            tail(&stdout),
            tail(&stderr)
        ),
    }
}

fn tail(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(4096)..]).into_owned()
}

/// A rig script running as a child, with its JSON control channel.
pub struct RigProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// The first line the script printed (addresses, versions).
    pub info: Value,
    next_id: u64,
}

impl RigProcess {
    /// Starts `scripts/rig/<script>` with `args` and waits for its first line.
    pub fn start(script: &str, args: &[String]) -> Self {
        let mut child = Command::new(python())
            .arg(repo_root().join("scripts/rig").join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {script}: {e}"));
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("{script}: {e}"));
        let info: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{script} said {line:?}: {e}"));
        Self {
            child,
            stdin,
            stdout,
            info,
            next_id: 1,
        }
    }

    /// The bootstrap servers the script reported.
    pub fn bootstrap(&self) -> String {
        self.info["bootstrap"]
            .as_str()
            .expect("bootstrap in the first line")
            .to_string()
    }

    /// How the script's process ended, if it has (a broker that crashed: the mock
    /// cluster aborts the whole process on some of its internal assertions).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends one control command and returns its answer once it has taken effect.
    pub fn command(&mut self, cmd: Value) -> Value {
        let stdin = self.stdin.as_mut().expect("open");
        let cmd = send_command(stdin, &mut self.next_id, cmd);
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("control channel");
        let answer: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("answer {line:?}: {e}"));
        check_answer(&answer, &cmd, "rig");
        answer
    }
}

/// Writes `cmd` with the next id as one line of a rig script's control channel
/// and returns it as sent.
pub(crate) fn send_command(stdin: &mut ChildStdin, next_id: &mut u64, mut cmd: Value) -> Value {
    cmd["id"] = json!(*next_id);
    *next_id += 1;
    writeln!(stdin, "{cmd}").expect("control channel");
    stdin.flush().expect("control channel");
    cmd
}

/// Panics unless `answer` is the successful answer to `cmd`.
pub(crate) fn check_answer(answer: &Value, cmd: &Value, who: &str) {
    assert_eq!(
        answer["ok"],
        json!(true),
        "{who}: command {cmd} failed: {answer}"
    );
    assert_eq!(answer["id"], cmd["id"], "{who}: answers out of order");
}

/// Closes a rig child's stdin (it then shuts down and exits) and waits up to
/// `grace` for it to exit; kills it after that.
pub(crate) fn close_child(child: &mut Child, stdin: &mut Option<ChildStdin>, grace: Duration) {
    drop(stdin.take());
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for RigProcess {
    fn drop(&mut self) {
        // Closing stdin makes the script stop its broker and exit.
        close_child(&mut self.child, &mut self.stdin, Duration::from_secs(5));
    }
}

/// The tansu broker (memory storage) with some topics.
pub struct Tansu(pub RigProcess);

impl Tansu {
    /// Starts tansu on a free port and creates `topics` (name, partitions).
    pub fn start(topics: &[(&str, u32)]) -> Self {
        let args = topics
            .iter()
            .flat_map(|(t, p)| ["--topic".to_string(), format!("{t}:{p}")])
            .collect::<Vec<_>>();
        Tansu(RigProcess::start("tansu.py", &args))
    }

    /// [`Tansu::start`] with more tansu.py arguments: `--scram-user NAME:PASSWORD[:MECH]`
    /// (SCRAM users, authentication on), `--tls-cert PEM --tls-key PEM` (stunnel in
    /// front, advertised), … (see the script's docstring). `bootstrap` is then the
    /// address clients start at, `info["security_protocol"]` what they speak there.
    pub fn start_with(topics: &[(&str, u32)], extra: &[&str]) -> Self {
        let mut args = topics
            .iter()
            .flat_map(|(t, p)| ["--topic".to_string(), format!("{t}:{p}")])
            .collect::<Vec<_>>();
        args.extend(extra.iter().map(|a| a.to_string()));
        Tansu(RigProcess::start("tansu.py", &args))
    }

    /// `host:port`.
    pub fn bootstrap(&self) -> String {
        self.0.bootstrap()
    }
}

/// librdkafka's mock cluster, with fault injection.
pub struct MockCluster(pub RigProcess);

impl MockCluster {
    /// Starts a cluster of `brokers` brokers with `topics` (name, partitions,
    /// replication factor).
    pub fn start(brokers: u32, topics: &[(&str, u32, u32)]) -> Self {
        Self::start_with(brokers, topics, &[])
    }

    /// [`MockCluster::start`] with the brokers behind mock_cluster.py's repairing
    /// proxy (`--proxy`), which the Java client needs (scripts/rig/README.md).
    pub fn start_for_java(brokers: u32, topics: &[(&str, u32, u32)]) -> Self {
        Self::start_with(brokers, topics, &["--proxy"])
    }

    /// [`MockCluster::start`] with more mock_cluster.py arguments.
    pub fn start_with(brokers: u32, topics: &[(&str, u32, u32)], extra: &[&str]) -> Self {
        let mut args = vec!["--brokers".to_string(), brokers.to_string()];
        for (t, p, rf) in topics {
            args.push("--topic".into());
            args.push(format!("{t}:{p}:{rf}"));
        }
        args.extend(extra.iter().map(|a| a.to_string()));
        MockCluster(RigProcess::start("mock_cluster.py", &args))
    }

    /// Comma-separated bootstrap servers.
    pub fn bootstrap(&self) -> String {
        self.0.bootstrap()
    }

    /// Moves a partition's leadership to `broker`.
    pub fn set_leader(&mut self, topic: &str, partition: i32, broker: i32) {
        self.0.command(json!({"cmd": "partition_set_leader", "topic": topic, "partition": partition, "broker": broker}));
    }

    /// Sends any control command (see scripts/rig/README.md).
    pub fn command(&mut self, cmd: Value) -> Value {
        self.0.command(cmd)
    }
}

/// What a produce run wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Produced {
    /// Records sent.
    pub produced: u64,
    /// Records in committed transactions (all of them without transactions).
    pub committed: u64,
    /// Records in aborted transactions.
    pub aborted: u64,
}

/// How to produce a workload (see [`crate::workload`] for the record contents).
#[derive(Debug, Clone)]
pub struct ProduceSpec<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Its partition count (record i goes to i % partitions).
    pub partitions: u32,
    /// How many records.
    pub count: u64,
    /// First sequence number.
    pub start: u64,
    /// librdkafka `compression.type`.
    pub compression: &'a str,
    /// Value size in bytes.
    pub value_size: usize,
    /// Records per transaction (0: no transactions).
    pub txn_size: u64,
    /// More librdkafka properties (`name=value`), applied last.
    pub extra: &'a [&'a str],
}

impl<'a> ProduceSpec<'a> {
    /// `count` uncompressed records of 100 bytes into `topic`.
    pub fn new(topic: &'a str, partitions: u32, count: u64) -> Self {
        Self {
            topic,
            partitions,
            count,
            start: 0,
            compression: "none",
            value_size: 100,
            txn_size: 0,
            extra: &[],
        }
    }
}

/// Produces with librdkafka (scripts/rig/produce.py) and waits for every delivery.
pub fn produce(bootstrap: &str, spec: &ProduceSpec<'_>) -> Produced {
    let mut cmd = Command::new(python());
    cmd.arg(repo_root().join("scripts/rig/produce.py"))
        .args([
            "--bootstrap",
            bootstrap,
            "--topic",
            spec.topic,
            "--compression",
            spec.compression,
        ])
        .args([
            "--partitions",
            &spec.partitions.to_string(),
            "--count",
            &spec.count.to_string(),
        ])
        .args([
            "--start",
            &spec.start.to_string(),
            "--value-size",
            &spec.value_size.to_string(),
        ])
        .args(["--txn-size", &spec.txn_size.to_string()])
        .args(spec.extra.iter().flat_map(|kv| ["--set", kv]));
    let out = output_within(&mut cmd, Duration::from_secs(300));
    let line = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(line.trim()).unwrap_or_else(|e| {
        panic!(
            "produce.py said {line:?}: {e}\nstderr: {}",
            tail(&out.stderr)
        )
    });
    assert!(
        out.status.success() && v.get("error").is_none(),
        "produce failed: {v}\nstderr: {}",
        tail(&out.stderr)
    );
    Produced {
        produced: v["produced"].as_u64().unwrap(),
        committed: v["committed"].as_u64().unwrap(),
        aborted: v["aborted"].as_u64().unwrap(),
    }
}

/// What librdkafka's consumer (the reference peer) reads from partitions
/// `0..partitions` of `topic`, up to their ends: the `seq` numbers, sorted.
pub fn reference_consume(
    bootstrap: &str,
    topic: &str,
    partitions: u32,
    extra: &[&str],
) -> Vec<u64> {
    let mut cmd = Command::new(python());
    cmd.arg(repo_root().join("scripts/rig/ref_consume.py"))
        .args([
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--partitions",
            &partitions.to_string(),
        ]);
    for kv in extra {
        if let Some(level) = kv.strip_prefix("isolation.level=") {
            cmd.args(["--isolation", level]);
        } else {
            cmd.args(["--set", kv]);
        }
    }
    let out = output_within(&mut cmd, Duration::from_secs(300));
    let line = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("ref_consume.py said {line:?}: {e}"));
    assert!(
        out.status.success() && v.get("error").is_none(),
        "reference consumer failed: {v}"
    );
    v["seqs"]
        .as_array()
        .expect("seqs")
        .iter()
        .map(|s| s.as_u64().expect("number"))
        .collect()
}

/// Records that interop-matrix row `row` passed against `broker` with `records`
/// records checked; `drivers` are the kasio drivers that took part (kasio-std,
/// kasio-tokio, both, or none: "-" when third-party clients alone were checked).
/// `scripts/interop-matrix.py` turns these into the README's matrix. Call it last
/// in a test, after every assertion.
pub fn report(row: &str, broker: &str, drivers: &[&str], records: u64) {
    let driver = if drivers.is_empty() {
        "-".to_string()
    } else {
        drivers.join(" + ")
    };
    let dir = repo_root().join("target/interop");
    std::fs::create_dir_all(&dir).expect("target/interop");
    let file = dir.join(format!("{}.json", row.replace('/', "__")));
    let body = json!({"row": row, "broker": broker, "driver": driver, "records": records});
    std::fs::write(file, body.to_string()).expect("write interop result");
}

/// The directory of compiled Java peer classes (scripts/rig/java) to run this
/// checkout's source with, for `$RIG_JAVA_CLASSES` of group_consume_java.sh:
/// the shared install (.rig/java/classes) when scripts/setup-rig.sh compiled it
/// from this very source (its `.stamp`, computed the way setup-rig.sh does),
/// else this checkout's own copy under target/, compiled here with javac against
/// the rig's jars when the sources changed. The shared install is never written.
pub fn java_peer_classes() -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let root = repo_root();
    let lib = root.join(".rig/java/lib");
    assert!(
        lib.join(".installed").exists(),
        "{} is missing: run scripts/setup-rig.sh (it installs the Java client)",
        lib.display()
    );
    // setup-rig.sh: (cat scripts/rig/java/*.java; ls $JLIB; javac -version 2>&1) | sha256sum | cut -c1-16
    let stamp = |script: &str| -> String {
        let out = output_within(
            Command::new("bash").current_dir(&root).args(["-c", script]),
            Duration::from_secs(60),
        );
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let want = stamp(
        "(cat scripts/rig/java/*.java; ls .rig/java/lib; javac -version 2>&1) | sha256sum | cut -c1-16",
    );
    let shared = root.join(".rig/java/classes");
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    if read(shared.join(".stamp")).trim() == want {
        return shared;
    }
    let own = root.join("target/rig-java-classes");
    if read(own.join(".stamp")).trim() == want {
        return own;
    }
    let _ = std::fs::remove_dir_all(&own);
    std::fs::create_dir_all(&own).expect("target/rig-java-classes");
    let out = output_within(
        Command::new("bash").current_dir(&root).args([
            "-c",
            "javac -nowarn -d target/rig-java-classes -cp '.rig/java/lib/*' scripts/rig/java/*.java",
        ]),
        Duration::from_secs(180),
    );
    assert!(
        out.status.success(),
        "javac of scripts/rig/java failed (run scripts/setup-rig.sh for the JDK and jars): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(own.join(".stamp"), format!("{want}\n")).expect("stamp");
    own
}
