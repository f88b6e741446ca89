//! `-d CONTEXTS` (kcat's flag, librdkafka's `debug` property): kasio's tracing
//! events and kasio-core's log lines on stderr.
//!
//! librdkafka's contexts name its own subsystems; kasio's log has no switch per
//! subsystem, so each context is accepted for compatibility and sets a level:
//! the per-message contexts (`msg`, `fetch`, `protocol`, `all`) turn on trace
//! lines, every other context debug lines. An unknown context is a usage error
//! listing the allowed ones, as librdkafka refuses it.

use tracing::Level;

use crate::args::UsageError;

/// librdkafka's debug contexts (CONFIGURATION.md, `debug`).
pub const CONTEXTS: &[&str] = &[
    "generic",
    "broker",
    "topic",
    "metadata",
    "feature",
    "queue",
    "msg",
    "protocol",
    "cgrp",
    "security",
    "fetch",
    "interceptor",
    "plugin",
    "consumer",
    "admin",
    "eos",
    "mock",
    "assignor",
    "conf",
    "telemetry",
    "all",
];

const TRACE_CONTEXTS: &[&str] = &["msg", "fetch", "protocol", "all"];

/// The level a comma-separated context list asks for.
pub fn level(contexts: &str) -> Result<Level, UsageError> {
    let mut level = Level::DEBUG;
    for c in contexts.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        if !CONTEXTS.contains(&c) {
            return Err(UsageError(format!(
                "-d: unknown debug context '{c}' (allowed: {})",
                CONTEXTS.join(", ")
            )));
        }
        if TRACE_CONTEXTS.contains(&c) {
            level = Level::TRACE;
        }
    }
    Ok(level)
}

/// Sends kasio's events at `level` and above, and kasio-core's log lines, to
/// stderr. Other crates' events (tokio's) stay off.
pub fn install(level: Level) {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = Targets::new()
        .with_target("kasio_tokio", level)
        .with_target("kasio_core", level)
        .with_target("kasio", level);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    // A second install (tests run main_with more than once) keeps the first.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init();
    // The core logs through the `log` crate; forwarded as tracing events.
    let _ = tracing_log::LogTracer::init_with_filter(match level {
        Level::TRACE => log::LevelFilter::Trace,
        _ => log::LevelFilter::Debug,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_set_the_level_and_unknown_ones_are_refused() {
        assert_eq!(level("broker,cgrp").unwrap(), Level::DEBUG);
        assert_eq!(level("cgrp,fetch").unwrap(), Level::TRACE);
        assert_eq!(level("all").unwrap(), Level::TRACE);
        let e = level("broker,nonsense").unwrap_err();
        assert!(e.0.contains("'nonsense'") && e.0.contains("cgrp"), "{e}");
    }
}
