//! The state behind the hypervisor console (`hypervisor_console`): one
//! lock for every CPU's output, and which CPU holds it (so a CPU that
//! panics while printing does not wait for itself).

use core::sync::atomic::AtomicUsize;

use spin::Mutex;

/// No CPU holds the console.
pub(crate) const NO_OWNER: usize = usize::MAX;
/// How often the emergency path tries the lock before it writes anyway:
/// long enough for another CPU to finish a line of a few hundred bytes.
pub(crate) const EMERGENCY_LOCK_TRIES: u32 = 10_000_000;

/// The hypervisor console's lock and its holder.
#[derive(Debug)]
pub(crate) struct ConsoleLock {
    pub(crate) lock: Mutex<()>,
    /// CPU holding `lock`, or [`NO_OWNER`]. Only the holder stores its own
    /// index, so a CPU comparing with its own index needs no stronger
    /// ordering than `Relaxed`.
    pub(crate) owner: AtomicUsize,
}

impl ConsoleLock {
    /// Free.
    pub(crate) const fn new() -> Self {
        Self {
            lock: Mutex::new(()),
            owner: AtomicUsize::new(NO_OWNER),
        }
    }
}
