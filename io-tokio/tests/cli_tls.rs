//! `kasio -X security.protocol=SSL -X ssl.ca.location=…` reads through a TLS
//! terminator in front of a served broker; an unknown CA is a clear error.

use std::net::SocketAddr;
use std::process::Command;

use kasio_core::records::Compression;
use kasio_sim::sim::cluster::ClusterSpec;
use kasio_sim::sim::record::SimRecord;
use kasio_sim::sim::serve::Served;
use kasio_sim::tls::{temp_dir, write, TestCa, TlsProxy};

const KASIO: &str = env!("CARGO_BIN_EXE_kasio");

#[test]
fn the_cli_reads_over_tls_and_names_an_unknown_ca() {
    let ca = TestCa::new("kasio test CA");
    let served = Served::start(ClusterSpec::new(1).topic("t", 1, 1)).expect("serve");
    let backend: SocketAddr = served.bootstrap.parse().expect("one broker");
    let proxy = TlsProxy::start(backend, &ca.leaf(&["localhost"], false), None);
    served.with_cluster(|c| {
        let records: Vec<SimRecord> = (0..10)
            .map(|i| {
                SimRecord::new(
                    1_700_000_000_000 + i,
                    None,
                    Some(format!("v{i}").as_bytes()),
                )
            })
            .collect();
        c.produce("t", 0, &records, Compression::None)
            .expect("produce");
        for id in c.broker_ids() {
            c.set_address(id, "localhost", proxy.port);
        }
    });
    let dir = temp_dir("cli");
    let ca_file = write(&dir, "ca.pem", &ca.cert_pem);
    let other_file = write(&dir, "other.pem", &TestCa::new("other").cert_pem);
    let bootstrap = format!("localhost:{}", proxy.port);
    let run = |ca: &str| {
        Command::new(KASIO)
            .args([
                "-b",
                &bootstrap,
                "-C",
                "-t",
                "t",
                "-o",
                "beginning",
                "-e",
                "-q",
            ])
            .args([
                "-X",
                "security.protocol=SSL",
                "-X",
                &format!("ssl.ca.location={ca}"),
            ])
            .output()
            .expect("run kasio")
    };
    let ok = run(&ca_file);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let want: String = (0..10).map(|i| format!("v{i}\n")).collect();
    assert_eq!(String::from_utf8_lossy(&ok.stdout), want);
    let bad = run(&other_file);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("unknown CA") || err.contains("not trusted"),
        "{err}"
    );
}
