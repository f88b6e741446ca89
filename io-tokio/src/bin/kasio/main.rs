//! `kasio`: a Kafka consumer with kcat's command line (see `args.rs` for the flags and
//! where they differ from kcat, `format.rs` for the output and kcat's quirks it keeps).
//!
//! Exit codes: 0 done, 1 runtime error, 2 usage error.

mod args;
mod commands;
mod consume;
mod debug;
mod demo;
mod format;
#[cfg(test)]
mod golden;
mod json;
mod kafka;
mod metadata;
mod offsets;
mod progress;
mod record;

use std::io::Write;
use std::process::ExitCode;

use args::{Cluster, Command, Common, Origin, Property, UsageError};

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
        .and_then(|c| run(c, out, err));
    // Nothing useful is left to do when stderr itself fails.
    match result {
        Ok(()) | Err(Failure::Quiet) => 0,
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
    /// Stop without a message, successfully (stdout's reader went away).
    Quiet,
}

impl From<UsageError> for Failure {
    fn from(e: UsageError) -> Self {
        Failure::Usage(e)
    }
}

fn run(command: Command, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), Failure> {
    let written =
        |r: std::io::Result<()>| r.map_err(|e| Failure::Runtime(format!("writing to stdout: {e}")));
    match &command {
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
                } else if p.is_secret() && !value.is_empty() {
                    // A dump gets pasted into tickets; librdkafka redacts these too.
                    "[redacted]".to_owned()
                } else {
                    value
                };
                written(writeln!(out, "{} = {value}", p.name))?;
            }
            return Ok(());
        }
        _ => {}
    }
    // Checked before anything starts: a configuration mistake is a usage error.
    let common = match &command {
        Command::Consume(c) => &c.common,
        Command::Metadata(m) => &m.common,
        Command::QueryOffsets(q) => &q.common,
        Command::GroupDescribe(g) | Command::GroupLag(g) => &g.common,
        _ => unreachable!("handled above"),
    };
    let config = common.config()?;
    if let Some(warning) = args::cleartext_credentials(&config) {
        let _ = writeln!(err, "% WARNING: {warning}");
    }
    if let Some(contexts) = &common.debug {
        debug::install(debug::level(contexts)?);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("starting the tokio runtime: {e}")))?;
    runtime.block_on(run_async(command, out))
}

/// The configuration to run with, the bootstrap servers, and the simulated cluster
/// (kept alive while the command runs) when no broker was given.
fn connect(
    common: &Common,
    extra: &[(&str, &str)],
) -> Result<
    (
        kasio_core::config::Config,
        String,
        Option<kasio_sim::sim::serve::Served>,
    ),
    Failure,
> {
    let mut common = common.clone();
    let served = match &common.cluster {
        Cluster::Simulated => {
            let served = demo::start()
                .map_err(|e| Failure::Runtime(format!("starting the simulated cluster: {e}")))?;
            if common.verbosity > 0 {
                eprintln!(
                    "% No -b given: reading the in-process simulated cluster (kasio-sim) at {}, topic '{}' ({} records)",
                    served.bootstrap,
                    args::DEMO_TOPIC,
                    demo::RECORDS
                );
            }
            common.properties.push(Property {
                name: "bootstrap.servers".into(),
                value: served.bootstrap.clone(),
                origin: Origin::Brokers,
            });
            common.cluster = Cluster::Brokers(served.bootstrap.clone());
            Some(served)
        }
        Cluster::Brokers(_) => None,
    };
    for (name, value) in extra {
        common.properties.push(Property {
            name: (*name).into(),
            value: (*value).into(),
            origin: Origin::Flag,
        });
    }
    let config = common.config()?;
    let bootstrap = config.get("bootstrap.servers").unwrap_or_default();
    Ok((config, bootstrap, served))
}

async fn run_async(command: Command, out: &mut dyn Write) -> Result<(), Failure> {
    match command {
        Command::Consume(mut c) => {
            // kcat's consumer always asks for end-of-partition events.
            let (config, bootstrap, served) =
                connect(&c.common, &[("enable.partition.eof", "true")])?;
            if served.is_some() {
                // Nothing else writes to the demo topic: read it and stop.
                c.exit_at_end = true;
            }
            let r = consume::run(c, config, bootstrap, out).await;
            drop(served);
            r
        }
        Command::Metadata(m) => {
            let (config, bootstrap, _served) = connect(&m.common, &[])?;
            commands::metadata(&m, &config, &bootstrap, out).await
        }
        Command::QueryOffsets(q) => {
            let (config, bootstrap, _served) = connect(&q.common, &[])?;
            commands::query(&q, config, &bootstrap, out).await
        }
        Command::GroupDescribe(g) => {
            let (config, bootstrap, _served) = connect(&g.common, &[("group.id", &g.group)])?;
            commands::describe(&g, config, &bootstrap, out).await
        }
        Command::GroupLag(g) => {
            let (config, bootstrap, _served) = connect(&g.common, &[("group.id", &g.group)])?;
            commands::lag(&g, config, &bootstrap, out).await
        }
        _ => unreachable!("handled before the runtime starts"),
    }
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
        // A broker nobody listens on: exit 1, naming the address and the reason.
        for a in [
            &["-b", "127.0.0.1:1", "-t", "x", "-e", "-m", "1"][..],
            &["-b", "127.0.0.1:1", "-L", "-m", "1"],
            &["-b", "127.0.0.1:1", "-Q", "-t", "t:0:1", "-m", "1"],
            &["group", "lag", "g", "-b", "127.0.0.1:1", "-m", "1"],
        ] {
            let (code, out, err) = run_args(a);
            assert_eq!((code, out.as_str()), (1, ""), "{a:?}");
            assert!(
                err.starts_with(
                    "kasio: error: cannot connect to broker 127.0.0.1:1 (connection refused)"
                ),
                "{a:?}: {err}"
            );
        }
    }

    #[test]
    fn plaintext_credentials_are_warned_about_on_stderr() {
        let (code, out, err) = run_args(&[
            "-b",
            "127.0.0.1:1",
            "-L",
            "-m",
            "1",
            "-X",
            "security.protocol=SASL_PLAINTEXT",
            "-X",
            "sasl.username=u",
            "-X",
            "sasl.password=hunter2",
        ]);
        assert_eq!((code, out.as_str()), (1, ""));
        assert!(
            err.starts_with(
                "% WARNING: sasl.mechanism=PLAIN over security.protocol=SASL_PLAINTEXT"
            ),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
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
