//! The trigger mode of shared interrupts in the physical distributor.
//!
//! `GICD_ICFGR<n>` holds the edge/level bit of 16 interrupts, which may
//! belong to different cells (on QEMU `virt`, INTIDs 33, 34 and 39 share
//! ICFGR2). Changing one interrupt's mode is a read-modify-write of the
//! whole word, so two CPUs doing it at once (two cells reconfiguring, or one
//! reconfiguring while another restarts) could each write back the other's
//! stale bit (finding F6). Every such update goes through one lock.

use spin::Mutex;

/// A 32-bit register read and written whole (the hardware's ICFGR word, or
/// a fake in tests).
pub(crate) trait ConfigWord {
    /// The word's value.
    fn get(&self) -> u32;
    /// Writes the whole word.
    fn set(&self, value: u32);
}

/// The lock every ICFGR read-modify-write takes.
pub(crate) struct TriggerConfig {
    lock: Mutex<()>,
}

impl TriggerConfig {
    /// Unlocked.
    pub(crate) const fn new() -> Self {
        TriggerConfig {
            lock: Mutex::new(()),
        }
    }

    /// Makes interrupt `intid` edge- (true) or level-triggered in `word`,
    /// its ICFGR word (`intid / 16`), leaving the other 15 alone.
    pub(crate) fn set_edge(&self, word: &impl ConfigWord, intid: u32, edge: bool) {
        let shift = (intid % 16) * 2 + 1;
        let _held = self.lock.lock();
        let value = (word.get() & !(1 << shift)) | (u32::from(edge) << shift);
        word.set(value);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// An ICFGR word whose read and write are separate steps, with time
    /// for another CPU in between (what makes the update racy).
    struct SlowWord(AtomicU32);

    impl ConfigWord for SlowWord {
        fn get(&self) -> u32 {
            let value = self.0.load(Ordering::SeqCst);
            std::thread::yield_now();
            value
        }
        fn set(&self, value: u32) {
            std::thread::yield_now();
            self.0.store(value, Ordering::SeqCst);
        }
    }

    /// F6: cells toggling the trigger modes of their interrupts in one
    /// ICFGR word (INTIDs 33, 34 and 39 on QEMU `virt`) never see their own
    /// setting undone by another's update, and none is lost at the end.
    #[test]
    fn f6_concurrent_trigger_changes_in_one_word_are_never_lost() {
        let config = Arc::new(TriggerConfig::new());
        let word = Arc::new(SlowWord(AtomicU32::new(0)));
        let toggler = |intid: u32, last_edge: bool| {
            let (config, word) = (config.clone(), word.clone());
            std::thread::spawn(move || {
                let mut undone = 0;
                for round in 0..2_000 {
                    let edge = round % 2 == 1;
                    config.set_edge(&*word, intid, edge);
                    // Only this thread changes this bit: it must stay.
                    let now = word.0.load(Ordering::SeqCst);
                    if (now >> ((intid % 16) * 2 + 1) & 1 == 1) != edge {
                        undone += 1;
                    }
                }
                config.set_edge(&*word, intid, last_edge);
                undone
            })
        };
        let a = toggler(34, true);
        let b = toggler(39, false);
        let c = toggler(33, true);
        for t in [a, b, c] {
            assert_eq!(t.join().unwrap(), 0, "a setting was undone");
        }
        let value = word.0.load(Ordering::SeqCst);
        let edge = |intid: u32| value >> ((intid % 16) * 2 + 1) & 1 == 1;
        assert!(edge(34) && !edge(39) && edge(33), "{value:#x}");
    }
}
