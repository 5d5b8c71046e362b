//! The state behind the hypervisor console (`hypervisor_console`): one
//! lock for every CPU's output, and which CPU holds it (so a CPU that
//! panics while printing does not wait for itself).
//!
//! The lock is a ticket lock: CPUs get the console in the order they asked
//! for it. A cell printing without pause therefore delays another CPU's
//! line by at most one line per other CPU waiting, where an unfair spin
//! lock could keep a victim's report (or its own output) waiting without
//! bound (finding F7). The console is held for one line at a time: at
//! 115200 baud a full line (160 bytes, its tag and the continuation mark)
//! takes about 16 ms, so with N CPUs a line waits at most (N - 1) x 16 ms.

use core::sync::atomic::AtomicUsize;

use spin::mutex::TicketMutex;

/// No CPU holds the console.
pub(crate) const NO_OWNER: usize = usize::MAX;
/// How often the emergency path tries the lock before it writes anyway:
/// long enough for another CPU to finish a line of a few hundred bytes.
pub(crate) const EMERGENCY_LOCK_TRIES: u32 = 10_000_000;

/// The hypervisor console's lock and its holder.
#[derive(Debug)]
pub(crate) struct ConsoleLock {
    pub(crate) lock: TicketMutex<()>,
    /// CPU holding `lock`, or [`NO_OWNER`]. Only the holder stores its own
    /// index, so a CPU comparing with its own index needs no stronger
    /// ordering than `Relaxed`.
    pub(crate) owner: AtomicUsize,
}

impl ConsoleLock {
    /// Free.
    pub(crate) const fn new() -> Self {
        Self {
            lock: TicketMutex::new(()),
            owner: AtomicUsize::new(NO_OWNER),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    /// F7: a CPU that holds the console and asks for it again at once
    /// (a cell printing without pause) queues behind a CPU already waiting.
    #[test]
    fn f7_the_console_goes_to_cpus_in_the_order_they_asked() {
        let console = Arc::new(ConsoleLock::new());
        let order = Arc::new(Mutex::new(Vec::new()));
        let asked = Arc::new(AtomicBool::new(false));
        let held = console.lock.lock();
        let waiter = {
            let (console, order, asked) = (console.clone(), order.clone(), asked.clone());
            std::thread::spawn(move || {
                asked.store(true, Ordering::Release);
                let _turn = console.lock.lock();
                order.lock().unwrap().push("waiter");
            })
        };
        while !asked.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        // Time for the waiter to take its place in the queue.
        std::thread::sleep(Duration::from_millis(200));
        drop(held);
        {
            let _again = console.lock.lock();
            order.lock().unwrap().push("holder");
        }
        waiter.join().unwrap();
        assert_eq!(*order.lock().unwrap(), ["waiter", "holder"]);
    }
}
