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
mod offsets;
#[cfg_attr(not(test), allow(dead_code))]
mod record;

use std::io::Write as _;
use std::process::ExitCode;

use args::{Command, UsageError};

const USAGE_EXIT: u8 = 2;
const RUNTIME_EXIT: u8 = 1;

fn main() -> ExitCode {
    let argv: Vec<_> = std::env::args_os().skip(1).collect();
    let command = match args::parse(&argv) {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    match run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => usage_error(&e),
        Err(Failure::Runtime(msg)) => {
            eprintln!("kasio: error: {msg}");
            ExitCode::from(RUNTIME_EXIT)
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

fn usage_error(e: &UsageError) -> ExitCode {
    eprintln!("kasio: error: {e}\nTry 'kasio -h' for the options.");
    ExitCode::from(USAGE_EXIT)
}

fn run(command: Command) -> Result<(), Failure> {
    let what = match &command {
        Command::Help => {
            print!("{}", args::HELP);
            return Ok(());
        }
        Command::Version => {
            println!("kasio {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        Command::ListProperties => {
            let mut out = std::io::stdout().lock();
            for p in kasio_core::config::Config::properties() {
                let default = p.default.unwrap_or("(required)");
                let _ = writeln!(out, "{} = {default}\n    {}", p.name, p.doc);
            }
            return Ok(());
        }
        Command::DumpConfig(common) => {
            let config = common.config()?;
            let mut out = std::io::stdout().lock();
            for p in kasio_core::config::Config::properties() {
                let value = config.get(p.name).unwrap_or_default();
                let _ = writeln!(out, "{} = {value}", p.name);
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
