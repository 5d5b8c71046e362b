//! Hypervisor log records: `defmt` on the target, nothing on the host.
//!
//! Code logs with `log::info!`, `log::warn!`, `log::error!`, `log::debug!`.
//! On the target these are `defmt`'s own macros (so records carry their
//! real source location); their binary frames go to the transport the config
//! picks (`[hypervisor] log`), never to a guest's console. On the host, where
//! there is no `defmt` logger, they evaluate their arguments and drop them,
//! so core code that logs still builds and is unit-tested.
//!
//! Levels follow Hafnium's rules: `error` only for hypervisor bugs or broken
//! platform data, `warn` for events that hint at a guest bug, `info` for
//! boot milestones, `debug` for per-exit detail.

#[cfg(target_os = "none")]
#[allow(
    unused_imports,
    reason = "the logging API: not every back end uses every level"
)]
pub(crate) use defmt::{debug, error, info, warn};

/// Host builds: evaluates the arguments (so they type-check and count as
/// used) and drops them.
#[cfg(not(target_os = "none"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __discard_log_record {
    ($fmt:literal $(, $arg:expr)* $(,)?) => {{
        $(let _ = &$arg;)*
    }};
}

#[cfg(not(target_os = "none"))]
#[allow(
    unused_imports,
    reason = "the logging API: not every module uses every level"
)]
pub(crate) use crate::__discard_log_record as debug;
#[cfg(not(target_os = "none"))]
#[allow(
    unused_imports,
    reason = "the logging API: not every module uses every level"
)]
pub(crate) use crate::__discard_log_record as error;
#[cfg(not(target_os = "none"))]
pub(crate) use crate::__discard_log_record as info;
#[cfg(not(target_os = "none"))]
pub(crate) use crate::__discard_log_record as warn;
