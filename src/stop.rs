//! Stopping every CPU, and the panic report.
//!
//! A panic on one CPU must stop the others before they touch whatever state
//! the panic found broken: the panicking CPU raises a flag, kicks every
//! other online CPU out of its guest or its wait, and waits (bounded) until
//! each has acknowledged and halted. CPUs look at the flag whenever they
//! are in the hypervisor ([`Hypervisor::stop_if_requested`]). When two CPUs
//! panic at once, the first coordinates and the second just stops. The
//! panic handler of every hypervisor image is here.

use core::fmt;
use core::sync::atomic::Ordering;

use crate::arch::{Arch, StopOutcome};
use crate::hv_emergency_println;
use crate::hypervisor::Hypervisor;
use crate::stop_flags::NO_CPU;

/// How long the coordinator waits for acknowledgements, where the CPU
/// has a clock.
const STOP_TIMEOUT_US: u64 = 100_000;
/// The same wait in spins, the bound where there is no clock.
const STOP_SPIN_LIMIT: u64 = 50_000_000;

/// Every panic of the hypervisor ends here, on any architecture.
#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    #[cfg(target_arch = "aarch64")]
    let hv = &crate::arch::aarch64::HV;
    #[cfg(target_arch = "x86_64")]
    let hv = &crate::arch::x86_64::HV;
    let location = info
        .location()
        .map_or(("<unknown>", 0, 0), |l| (l.file(), l.line(), l.column()));
    hv.report_panic(hv.arch.current_cpu(), location, info.message())
}

impl<A: Arch, const CPUS: usize, const CELLS: usize> Hypervisor<A, CPUS, CELLS> {
    /// If another CPU asked every CPU to stop (it panicked), acknowledges
    /// and halts this one.
    #[inline]
    pub(crate) fn stop_if_requested(&self) {
        if self.stop.requested() {
            self.stop_here();
        }
    }

    /// This CPU answers a stop request: interrupts masked, counted, halted.
    #[cold]
    #[inline(never)]
    fn stop_here(&self) -> ! {
        self.arch.mask_interrupts();
        self.stop.stopped.fetch_add(1, Ordering::AcqRel);
        self.arch.publish();
        self.arch.halt();
    }

    /// Asks every other online CPU to stop and waits (bounded) for them.
    pub(crate) fn stop_other_cpus(&self, me: usize) -> StopOutcome {
        if self
            .stop
            .coordinator
            .compare_exchange(NO_CPU, me, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return StopOutcome::AlreadyInProgress;
        }
        self.stop.requested.store(true, Ordering::Release);
        self.arch.publish();
        let online = self.arch.online_cpus() & !(1 << me);
        for cpu in (0..CPUS).filter(|cpu| online & (1 << cpu) != 0) {
            self.arch.kick(cpu);
        }
        let others = online.count_ones() as usize;
        let start = self.arch.now_micros();
        let mut spins = 0u64;
        while self.stop.stopped.load(Ordering::Acquire) < others && spins < STOP_SPIN_LIMIT {
            if let (Some(start), Some(now)) = (start, self.arch.now_micros())
                && now.saturating_sub(start) > STOP_TIMEOUT_US
            {
                break;
            }
            self.arch.relax();
            spins += 1;
        }
        // A CPU that came online after the snapshot may have acknowledged
        // too.
        let stopped = self.stop.stopped.load(Ordering::Acquire).min(others);
        StopOutcome::Coordinated { others, stopped }
    }

    /// The panic path: reports where CPU `me` panicked and why, stops every
    /// other CPU, drains the console and halts.
    pub(crate) fn report_panic(
        &self,
        me: usize,
        location: (&str, u32, u32),
        message: impl fmt::Display,
    ) -> ! {
        self.arch.mask_interrupts();
        let (file, line, column) = location;
        if !self.arch.locks_usable() {
            // Early boot: only this CPU runs and atomics may not work.
            hv_emergency_println!(
                self,
                "PANIC on cpu {me} at {file}:{line}:{column}: {message} (MMU off)"
            );
            self.drain_console();
            self.arch.halt();
        }
        let bit = 1usize.checked_shl(me as u32).unwrap_or(0);
        if self.stop.panicking.fetch_or(bit, Ordering::AcqRel) & bit != 0 {
            hv_emergency_println!(
                self,
                "PANIC on cpu {me} while panicking, at {file}:{line}:{column}: {message}"
            );
            self.drain_console();
            self.arch.halt();
        }
        hv_emergency_println!(
            self,
            "PANIC on cpu {me} at {file}:{line}:{column}: {message}"
        );
        match self.stop_other_cpus(me) {
            StopOutcome::Coordinated { others, stopped } if stopped >= others => {
                hv_emergency_println!(self, "all cores stopped ({others} others)");
            }
            StopOutcome::Coordinated { others, stopped } => {
                hv_emergency_println!(self, "{} of {others} cores did not stop", others - stopped);
            }
            StopOutcome::AlreadyInProgress => {
                // Another CPU panicked first and collects acknowledgements.
                self.drain_console();
                self.stop_if_requested();
            }
        }
        self.drain_console();
        self.arch.halt()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::arch::StopOutcome;
    use crate::arch::fake::{Event, FakeArch, Halted, TestHv};

    #[test]
    fn a_panic_reports_its_place_kicks_every_online_cpu_and_counts_their_halts() {
        let hv = Arc::new(TestHv::over(FakeArch::two_cells()));
        hv.arch.set_online(0b1011);
        // CPUs 1 and 3 acknowledge when kicked (each on its own thread).
        let others = hv.arch.spawn_stoppers(&hv, &[1, 3]);
        let halted = hv
            .arch
            .catch(0, || hv.report_panic(0, ("src/x.rs", 7, 9), "boom"));
        assert_eq!(halted, Some(Halted));
        for other in others {
            other.join().unwrap();
        }
        let text = hv.arch.console_text();
        assert!(
            text.starts_with("PANIC on cpu 0 at src/x.rs:7:9: boom\r\n"),
            "{text}"
        );
        assert!(text.contains("all cores stopped (2 others)\r\n"), "{text}");
        let events = hv.arch.events();
        assert!(events.contains(&Event::Kick(1)) && events.contains(&Event::Kick(3)));
        assert!(!events.contains(&Event::Kick(2)), "CPU 2 is not online");
        assert!(events.contains(&Event::Drained));
    }

    #[test]
    fn cpus_that_do_not_acknowledge_are_reported() {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.arch.set_online(0b0111);
        let halted = hv.arch.catch(1, || hv.report_panic(1, ("a.rs", 1, 1), "x"));
        assert_eq!(halted, Some(Halted));
        assert!(hv.arch.console_text().contains("2 of 2 cores did not stop"));
    }

    #[test]
    fn a_second_panicking_cpu_only_stops_itself() {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.arch.set_online(0b11);
        assert!(matches!(
            hv.stop_other_cpus(0),
            StopOutcome::Coordinated { others: 1, .. }
        ));
        assert_eq!(hv.stop_other_cpus(1), StopOutcome::AlreadyInProgress);
        let halted = hv
            .arch
            .catch(1, || hv.report_panic(1, ("b.rs", 2, 3), "late"));
        assert_eq!(halted, Some(Halted));
        assert!(!hv.arch.console_text().contains("cores stopped"));
    }

    #[test]
    fn a_panic_inside_the_panic_path_halts_without_a_second_stop() {
        let hv = TestHv::over(FakeArch::two_cells());
        let _ = hv
            .arch
            .catch(0, || hv.report_panic(0, ("c.rs", 1, 1), "first"));
        let kicks = hv.arch.count(|e| matches!(e, Event::Kick(_)));
        let _ = hv
            .arch
            .catch(0, || hv.report_panic(0, ("c.rs", 2, 2), "second"));
        assert!(
            hv.arch
                .console_text()
                .contains("while panicking, at c.rs:2:2: second")
        );
        assert_eq!(hv.arch.count(|e| matches!(e, Event::Kick(_))), kicks);
    }
}
