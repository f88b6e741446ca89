//! Golden tests: kasio's output against the real kcat's, byte for byte.
//!
//! `testdata/make_golden.py` produced a topic on librdkafka's mock cluster (headers,
//! null and empty keys/values, all 256 byte values, invalid UTF-8, NULs, one codec a
//! partition) and saved what kcat 1.7.1 printed for each case of `cases.txt`. Here the
//! same records (from `records.txt`, taken from the producer's delivery reports) go
//! through kasio's argument parser and formatter twice:
//! - as a list of [`RecordView`]s;
//! - encoded into one batch a partition with kasio-core's encoder and that
//!   partition's codec, decoded with kasio-core, and viewed with
//!   [`RecordView::from_ref`], the path the consumer wiring takes;
//!
//! and must equal kcat's bytes. `kcat_live` reruns the script (when the rig's `.venv`
//! and `kcat` are installed) and checks that kcat still prints the fixtures.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use kasio_core::records::{batches, BatchBuilder, Compression, DecodeOptions, Header};

use crate::args::{self, Command};
use crate::format::{self, Formatter};
use crate::record::{HeadersView, RecordView, TsType};

const TOPIC: &str = "golden";
const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin/kasio/testdata")
}

/// One produced record, owned.
struct Rec {
    partition: i32,
    offset: i64,
    timestamp: i64,
    leader: i32,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn field(s: &str) -> Option<Vec<u8>> {
    match s {
        "-" => None,
        "_" => Some(Vec::new()),
        h => Some(unhex(h)),
    }
}

fn records(dir: &Path) -> Vec<Rec> {
    let text = std::fs::read_to_string(dir.join("records.txt")).expect("records.txt");
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 7, "{l}");
            let headers = match f[6] {
                "-" => Vec::new(),
                hs => hs
                    .split(',')
                    .map(|h| {
                        let (n, v) = h.split_once('=').expect("name=value");
                        (String::from_utf8(unhex(n)).expect("UTF-8 name"), field(v))
                    })
                    .collect(),
            };
            Rec {
                partition: f[0].parse().unwrap(),
                offset: f[1].parse().unwrap(),
                timestamp: f[2].parse().unwrap(),
                leader: f[3].parse().unwrap(),
                key: field(f[4]),
                value: field(f[5]),
                headers,
            }
        })
        .collect()
}

/// (case name, the formatter kasio builds from kcat's arguments for it).
fn cases(dir: &Path) -> Vec<(String, Formatter)> {
    let text = std::fs::read_to_string(dir.join("cases.txt")).expect("cases.txt");
    text.lines()
        .map(|l| {
            let mut f = l.split(' ');
            let name = f.next().unwrap().to_owned();
            let mut argv: Vec<OsString> = ["-b", "mock:9092", "-t", TOPIC, "-e", "-q"]
                .iter()
                .map(OsString::from)
                .collect();
            argv.extend(f.map(|a| OsString::from(String::from_utf8(unhex(a)).unwrap())));
            match args::parse_with(&argv, &mut |_| unreachable!()) {
                Ok(Command::Consume(c)) => (name, c.output),
                other => panic!("{name}: {other:?}"),
            }
        })
        .collect()
}

/// Renders every record, partitions in order, as kcat's per-partition runs did.
fn render_listed(recs: &[Rec], f: &Formatter) -> Vec<u8> {
    let mut out = Vec::new();
    for p in 0..CODECS.len() as i32 {
        for r in recs.iter().filter(|r| r.partition == p) {
            let headers: Vec<Header<'_>> = r
                .headers
                .iter()
                .map(|(k, v)| Header {
                    key: k,
                    value: v.as_deref(),
                })
                .collect();
            let view = RecordView {
                topic: TOPIC,
                partition: r.partition,
                offset: r.offset,
                ts_type: TsType::CreateTime,
                timestamp: r.timestamp,
                broker: r.leader,
                key: r.key.as_deref(),
                value: r.value.as_deref(),
                headers: HeadersView::List(&headers),
            };
            f.render(&view, &mut out);
        }
    }
    out
}

/// One v2 batch a partition, in that partition's codec, as kasio-core encodes it.
fn encoded_batches(recs: &[Rec]) -> Vec<(i32, i32, Bytes)> {
    (0..CODECS.len())
        .map(|p| {
            let part: Vec<&Rec> = recs.iter().filter(|r| r.partition == p as i32).collect();
            let mut b = BatchBuilder::new(part[0].offset).with_compression(CODECS[p]);
            for r in &part {
                let headers: Vec<(&str, Option<&[u8]>)> = r
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_deref()))
                    .collect();
                b.push_at(
                    (r.offset - part[0].offset) as i32,
                    r.timestamp,
                    r.key.as_deref(),
                    r.value.as_deref(),
                    &headers,
                );
            }
            let mut buf = BytesMut::new();
            b.encode(&mut buf).expect("encode");
            (p as i32, part[0].leader, buf.freeze())
        })
        .collect()
}

/// Renders the decoded batches through [`RecordView::from_ref`].
fn render_decoded(batches_: &[(i32, i32, Bytes)], f: &Formatter) -> Vec<u8> {
    let mut out = Vec::new();
    let opts = DecodeOptions::default();
    for (partition, broker, data) in batches_ {
        for batch in batches(data.clone(), opts) {
            let batch = batch.expect("batch");
            let magic = batch.header().magic;
            let mut records = batch.records(&opts).expect("records");
            while let Some(r) = records.next_ref() {
                let r = r.expect("record");
                f.render(
                    &RecordView::from_ref(TOPIC, *partition, *broker, magic, &r),
                    &mut out,
                );
            }
        }
    }
    out
}

/// Equal, or a message that shows where they part.
fn same(name: &str, what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let from = at.saturating_sub(60);
    Err(format!(
        "{name} ({what}): differs from kcat at byte {at} (kasio {} bytes, kcat {} bytes)\n kasio: {:?}\n  kcat: {:?}",
        got.len(),
        want.len(),
        String::from_utf8_lossy(&got[from..(at + 60).min(got.len())]),
        String::from_utf8_lossy(&want[from..(at + 60).min(want.len())]),
    ))
}

/// Checks every case of `dir` (fixtures or a fresh kcat run) against kasio.
fn check_dir(dir: &Path) -> Vec<String> {
    let recs = records(dir);
    let encoded = encoded_batches(&recs);
    let mut failures = Vec::new();
    for (name, f) in cases(dir) {
        let want = std::fs::read(dir.join(format!("{name}.out"))).expect("fixture");
        assert!(!want.is_empty(), "{name}: empty fixture");
        for (what, got) in [
            ("listed", render_listed(&recs, &f)),
            ("decoded by kasio-core", render_decoded(&encoded, &f)),
        ] {
            if let Err(e) = same(&name, what, &got, &want) {
                failures.push(e);
            }
        }
    }
    failures
}

#[test]
fn fixtures_cover_what_they_claim() {
    let recs = records(&testdata());
    assert_eq!(recs.len(), 15 * CODECS.len());
    assert!(recs.iter().any(|r| r.key.is_none()));
    assert!(recs.iter().any(|r| r.value.is_none()));
    assert!(recs.iter().any(|r| r.key.as_deref() == Some(b"")));
    assert!(recs
        .iter()
        .any(|r| r.value.as_deref() == Some(&(0..=255).collect::<Vec<u8>>()[..])));
    assert!(recs
        .iter()
        .any(|r| r.headers.iter().any(|(_, v)| v.is_none())));
    assert!(recs.iter().any(|r| r
        .value
        .as_deref()
        .is_some_and(|v| std::str::from_utf8(v).is_err())));
    // Every partition starts at offset 0 and has no gaps.
    for p in 0..CODECS.len() as i32 {
        let offsets: Vec<i64> = recs
            .iter()
            .filter(|r| r.partition == p)
            .map(|r| r.offset)
            .collect();
        assert_eq!(offsets, (0..15).collect::<Vec<i64>>());
    }
    assert!(cases(&testdata()).len() >= 15);
}

#[test]
fn kasio_prints_what_kcat_printed() {
    let failures = check_dir(&testdata());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn eof_notice_is_kcats() {
    let want = std::fs::read_to_string(testdata().join("eof_stderr.txt")).unwrap();
    assert_eq!(format::eof_notice(TOPIC, 1, 15, true), want);
}

/// Runs `make_golden.py` with the real kcat into a temporary directory: kcat must
/// still print the committed fixtures (the topic's content is deterministic), and
/// kasio must print what this kcat run printed. Needs the rig (`.venv` and `kcat`,
/// installed by scripts/setup-rig.sh, which the README's test command runs): as
/// every rig test, it fails rather than skip when the rig is missing.
#[test]
fn kcat_live() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    let kcat_ok = std::process::Command::new("kcat")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        python.exists() && kcat_ok,
        "kcat_live needs {} and kcat on PATH: run scripts/setup-rig.sh (the README's test command does)",
        python.display()
    );
    let out = std::env::temp_dir().join(format!("kasio-golden-{}", std::process::id()));
    let status = std::process::Command::new(&python)
        .arg(testdata().join("make_golden.py"))
        .arg("--out")
        .arg(&out)
        .status()
        .expect("run make_golden.py");
    assert!(status.success(), "make_golden.py failed: {status}");
    let mut failures = check_dir(&out);
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        // Broker ports differ per run.
        if name.starts_with("metadata") || name == "bootstrap.txt" {
            continue;
        }
        let fresh = std::fs::read(out.join(&name)).unwrap();
        match std::fs::read(testdata().join(&name)) {
            Ok(fixture) => {
                if let Err(e) = same(&name, "fresh kcat run vs fixture", &fresh, &fixture) {
                    failures.push(e);
                }
            }
            Err(e) => failures.push(format!("{name}: no committed fixture: {e}")),
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
