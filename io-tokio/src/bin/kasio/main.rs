//! `kasio`: a Kafka consumer with kcat's command line (see `args.rs` for the flags and
//! where they differ from kcat, `format.rs` for the output and kcat's quirks it keeps).
//!
//! Exit codes: 0 done, 1 runtime error, 2 usage error.

mod args;
// The record path (formatter, JSON, record view) is called by the consumer loop, which
// comes with the kasio-tokio driver; until then only the tests use all of it.
#[cfg_attr(not(test), allow(dead_code))]
mod format;
#[cfg(test)]
mod golden;
#[cfg_attr(not(test), allow(dead_code))]
mod json;
#[cfg_attr(not(test), allow(dead_code))]
mod metadata;
mod offsets;
#[cfg_attr(not(test), allow(dead_code))]
mod record;

use std::io::Write;
use std::process::ExitCode;

use args::{Cluster, Command, UsageError};

const USAGE_EXIT: u8 = 2;
const RUNTIME_EXIT: u8 = 1;

fn main() -> ExitCode {
    let argv: Vec<_> = std::env::args_os().skip(1).collect();
    let code = main_with(&argv, &mut std::io::stdout().lock(), &mut std::io::stderr());
    ExitCode::from(code)
}

/// The whole program but the process: arguments in, exit code out.
fn main_with(argv: &[std::ffi::OsString], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let result = args::parse(argv)
        .map_err(Failure::Usage)
        .and_then(|c| run(c, out));
    // Nothing useful is left to do when stderr itself fails.
    match result {
        Ok(()) => 0,
        Err(Failure::Usage(e)) => {
            let _ = writeln!(err, "kasio: error: {e}\nTry 'kasio -h' for the options.");
            USAGE_EXIT
        }
        Err(Failure::Runtime(msg)) => {
            let _ = writeln!(err, "kasio: error: {msg}");
            RUNTIME_EXIT
        }
    }
}

enum Failure {
    Usage(UsageError),
    Runtime(String),
}

impl From<UsageError> for Failure {
    fn from(e: UsageError) -> Self {
        Failure::Usage(e)
    }
}

fn run(command: Command, out: &mut dyn Write) -> Result<(), Failure> {
    let written =
        |r: std::io::Result<()>| r.map_err(|e| Failure::Runtime(format!("writing to stdout: {e}")));
    let what = match &command {
        Command::Help => return written(out.write_all(args::HELP.as_bytes())),
        Command::Version => {
            return written(writeln!(out, "kasio {}", env!("CARGO_PKG_VERSION")));
        }
        Command::ListProperties => {
            for p in kasio_core::config::Config::properties() {
                let default = p.default.unwrap_or("(required)");
                written(writeln!(out, "{} = {default}\n    {}", p.name, p.doc))?;
            }
            return Ok(());
        }
        Command::DumpConfig(common) => {
            let config = common.config()?;
            for p in kasio_core::config::Config::properties() {
                let value = config.get(p.name).unwrap_or_default();
                let value = if p.name == "bootstrap.servers" && common.cluster == Cluster::Simulated
                {
                    "(none: the in-process simulated cluster)".to_owned()
                } else if p.name.contains("password") && !value.is_empty() {
                    // A dump gets pasted into tickets; librdkafka redacts these too.
                    "[redacted]".to_owned()
                } else {
                    value
                };
                written(writeln!(out, "{} = {value}", p.name))?;
            }
            return Ok(());
        }
        Command::Consume(c) => {
            c.common.config()?;
            "consuming"
        }
        Command::Metadata(m) => {
            m.common.config()?;
            "metadata (-L)"
        }
        Command::QueryOffsets(q) => {
            q.common.config()?;
            "offsets by time (-Q)"
        }
        Command::GroupDescribe(g) => {
            g.common.config()?;
            "group describe"
        }
        Command::GroupLag(g) => {
            g.common.config()?;
            "group lag"
        }
    };
    Err(Failure::Runtime(format!(
        "{what} is not wired to the kasio-tokio driver yet (the command line parsed fine)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(a: &[&str]) -> (u8, String, String) {
        let argv: Vec<std::ffi::OsString> = a.iter().map(Into::into).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = main_with(&argv, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn exit_codes() {
        let (code, out, err) = run_args(&["-h"]);
        assert_eq!((code, out.as_str(), err.as_str()), (0, args::HELP, ""));
        let (code, out, _) = run_args(&["-V"]);
        assert_eq!(code, 0);
        assert!(out.starts_with("kasio "));
        let (code, out, err) = run_args(&["-o", "nope"]);
        assert_eq!((code, out.as_str()), (2, ""));
        assert!(
            err.starts_with("kasio: error: -o: invalid offset 'nope'"),
            "{err}"
        );
        assert!(err.ends_with("Try 'kasio -h' for the options.\n"), "{err}");
        let (code, _, err) = run_args(&["-X", "no.such=1"]);
        assert_eq!(code, 2);
        assert!(err.contains("no.such: unknown property (from -X)"), "{err}");
        for a in [
            &[][..],
            &["-b", "k:1", "-t", "x", "-e"],
            &["-G", "g", "t"],
            &["-L"],
            &["-Q", "-t", "t:0:1"],
            &["group", "describe", "g"],
            &["group", "lag", "g"],
        ] {
            let (code, out, err) = run_args(a);
            assert_eq!((code, out.as_str()), (1, ""), "{a:?}");
            assert!(
                err.contains("not wired to the kasio-tokio driver yet"),
                "{a:?}: {err}"
            );
        }
    }

    #[test]
    fn dump_redacts_and_names_the_simulated_cluster() {
        let (code, out, _) = run_args(&[
            "-X",
            "dump",
            "-X",
            "security.protocol=SASL_SSL",
            "-X",
            "sasl.username=u",
            "-X",
            "sasl.password=hunter2",
        ]);
        assert_eq!(code, 0);
        assert!(out.contains("sasl.password = [redacted]\n"), "{out}");
        assert!(!out.contains("hunter2"));
        assert!(out.contains("bootstrap.servers = (none: the in-process simulated cluster)\n"));
        let (_, out, _) = run_args(&["-X", "dump", "-b", "k:9092"]);
        assert!(out.contains("bootstrap.servers = k:9092\n"), "{out}");
        let (code, out, _) = run_args(&["-X", "list"]);
        assert_eq!(code, 0);
        assert!(out.starts_with("bootstrap.servers = (required)\n"), "{out}");
    }
}
