//! The shared state of the stop-every-CPU protocol (`stop`): what a
//! panicking CPU raises and the others acknowledge. Atomics only.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// No CPU coordinates a stop.
pub(crate) const NO_CPU: usize = usize::MAX;
/// The stop-all protocol's shared state.
#[derive(Debug)]
pub(crate) struct StopFlags {
    pub(crate) requested: AtomicBool,
    pub(crate) coordinator: AtomicUsize,
    pub(crate) stopped: AtomicUsize,
    /// Per-CPU "already panicking" bits (a panic inside the panic path).
    pub(crate) panicking: AtomicUsize,
}

impl StopFlags {
    /// Nothing requested.
    pub(crate) const fn new() -> Self {
        Self {
            requested: AtomicBool::new(false),
            coordinator: AtomicUsize::new(NO_CPU),
            stopped: AtomicUsize::new(0),
            panicking: AtomicUsize::new(0),
        }
    }

    /// Whether a stop was requested.
    #[inline]
    pub(crate) fn requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }
}
