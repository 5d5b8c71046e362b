//! Hypervisor log records: `defmt` on the target, nothing on the host.
//!
//! Core code logs with these macros so it builds on the host, where there is
//! no `defmt` logger; on the target they forward to `defmt`, whose binary
//! frames go to the transport the config picks (`[hypervisor] log`), never
//! to a guest's console. Levels follow Hafnium's rules: `error` only for
//! hypervisor bugs or broken platform data, `warn` for events that hint at a
//! guest bug, `info` for boot milestones, `debug`/`trace` for per-exit
//! detail.

/// Logs at `info` level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => {{
        #[cfg(target_os = "none")]
        defmt::info!($($arg)*);
        #[cfg(not(target_os = "none"))]
        $crate::log::discard!($($arg)*);
    }};
}

/// Logs at `warn` level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {{
        #[cfg(target_os = "none")]
        defmt::warn!($($arg)*);
        #[cfg(not(target_os = "none"))]
        $crate::log::discard!($($arg)*);
    }};
}

/// Logs at `error` level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => {{
        #[cfg(target_os = "none")]
        defmt::error!($($arg)*);
        #[cfg(not(target_os = "none"))]
        $crate::log::discard!($($arg)*);
    }};
}

/// Logs at `debug` level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {{
        #[cfg(target_os = "none")]
        defmt::debug!($($arg)*);
        #[cfg(not(target_os = "none"))]
        $crate::log::discard!($($arg)*);
    }};
}

/// Host builds: evaluates the arguments (so they type-check and count as
/// used) and drops them.
#[doc(hidden)]
#[macro_export]
macro_rules! discard {
    ($fmt:literal $(, $arg:expr)* $(,)?) => {{
        $(let _ = &$arg;)*
    }};
}

#[doc(hidden)]
pub use discard;
