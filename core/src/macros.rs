//! The one internal logging macro. It routes to `defmt` or `log` (mutually exclusive
//! features) and compiles to nothing without either, so the core never pays for
//! formatting it does not use.

#[cfg(feature = "log")]
#[allow(unused_macros)]
macro_rules! kasio_log {
    (trace, $($arg:tt)+) => { log::trace!($($arg)+) };
    (debug, $($arg:tt)+) => { log::debug!($($arg)+) };
    (info, $($arg:tt)+) => { log::info!($($arg)+) };
    (warn, $($arg:tt)+) => { log::warn!($($arg)+) };
    (error, $($arg:tt)+) => { log::error!($($arg)+) };
}

#[cfg(feature = "defmt")]
#[allow(unused_macros)]
macro_rules! kasio_log {
    (trace, $($arg:tt)+) => { defmt::trace!($($arg)+) };
    (debug, $($arg:tt)+) => { defmt::debug!($($arg)+) };
    (info, $($arg:tt)+) => { defmt::info!($($arg)+) };
    (warn, $($arg:tt)+) => { defmt::warn!($($arg)+) };
    (error, $($arg:tt)+) => { defmt::error!($($arg)+) };
}

#[cfg(not(any(feature = "log", feature = "defmt")))]
#[allow(unused_macros)]
macro_rules! kasio_log {
    ($level:ident, $($arg:tt)+) => {{
        // Logging is compiled out; the arguments are still type-checked (and count
        // as used) but nothing is formatted.
        let _ = ::core::format_args!($($arg)+);
    }};
}
