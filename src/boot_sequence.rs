//! The boot sequence, the same on every architecture: from a working
//! console to every CPU running its loop.
//!
//! The back end's entry code first makes the console work (AArch64:
//! vectors, the EL2 map and MMU, the PL011; x86_64: the CPU index, the
//! 16550, the IDT), then the boot CPU runs [`Hypervisor::boot`]:
//!
//! 1. the banner;
//! 2. the CPU's own checks and boot line (`Arch::init_boot_cpu`: on x86 the
//!    VMX checks, which power off with the missing feature named);
//! 3. the partition table compiled into the image;
//! 4. every other CPU brought up (`Arch::start_secondaries`), and how many
//!    came;
//! 5. every cell's second-stage tables (`Arch::build_cell_maps`);
//! 6. every cell started (`Hypervisor::start_all`), console input routed;
//! 7. this CPU's own loop (`Hypervisor::run_cpu`).
//!
//! Other CPUs run [`Hypervisor::secondary`] once their back end set them up.

use core::fmt;

use crate::arch::Arch;
use crate::hv_println;
use crate::hypervisor::Hypervisor;
use crate::partition_table::{write_banner, write_partition_table};

/// The console as a [`fmt::Write`] (each piece printed under the lock).
struct ConsoleWriter<'h, A: Arch, const CPUS: usize, const CELLS: usize>(
    &'h Hypervisor<A, CPUS, CELLS>,
);

impl<A: Arch, const CPUS: usize, const CELLS: usize> fmt::Write
    for ConsoleWriter<'_, A, CPUS, CELLS>
{
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.print(format_args!("{s}"));
        Ok(())
    }
}

impl<A: Arch, const CPUS: usize, const CELLS: usize> Hypervisor<A, CPUS, CELLS> {
    /// The boot CPU `cpu`, once its console works: see the module docs.
    pub(crate) fn boot(&self, cpu: usize) -> ! {
        let print = |line: fmt::Arguments<'_>| hv_println!(self, "{line}");
        let _ = write_banner(&mut ConsoleWriter(self));
        self.arch.init_boot_cpu(cpu, &print);
        let _ = write_partition_table(&mut ConsoleWriter(self), self.tables());
        let online = self.arch.start_secondaries(cpu, &print).count_ones();
        hv_println!(self, "all {online} CPUs online");
        crate::log::info!(
            "{=u32} of {=usize} CPUs online",
            online,
            self.tables().cpus.len()
        );
        if cfg!(feature = "panic-selftest") {
            self.arch.panic_selftest(&print);
        }
        self.arch.build_cell_maps();
        self.start_all();
        self.route_console_input();
        self.run_cpu(cpu)
    }

    /// Another CPU, once its back end set it up and marked it online.
    pub(crate) fn secondary(&self, cpu: usize) -> ! {
        // Do not run guests in a system that is being stopped.
        self.stop_if_requested();
        self.run_cpu(cpu)
    }
}

#[cfg(test)]
mod tests {
    use crate::arch::fake::{Event, FakeArch, TestHv, Waited};

    #[test]
    fn the_boot_cpu_prints_builds_starts_every_cell_then_runs_its_vcpu() {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.arch.set_online(0b1111);
        hv.arch.stop_at_first_wait();
        assert_eq!(hv.arch.catch(0, || hv.boot(0)), Some(Waited));
        let text = hv.arch.console_text();
        let banner = text.find("Bulkhead").expect("banner");
        let boot_line = text.find("fake boot cpu 0").expect("boot line");
        let table = text.find("alpha").expect("partition table");
        let online = text.find("all 4 CPUs online").expect("online line");
        let started = text
            .find("bulkhead: cell alpha (0) starting on cpu 0")
            .unwrap();
        assert!(banner < boot_line && boot_line < table && table < online && online < started);
        let maps = hv.arch.position(&Event::BuildCellMaps).unwrap();
        let first_start = hv.arch.position(&Event::ResetDevices(0)).unwrap();
        let route = hv.arch.position(&Event::RouteInput(Some(0))).unwrap();
        let run = hv
            .arch
            .events()
            .iter()
            .position(|e| {
                matches!(
                    e,
                    Event::RunVcpu {
                        cpu: 0,
                        cell: 0,
                        vcpu: 0,
                        ..
                    }
                )
            })
            .unwrap();
        assert!(maps < first_start && first_start < route && route < run);
    }

    #[test]
    fn a_secondary_stops_at_once_when_a_stop_was_requested() {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.arch.set_online(0b11);
        let _ = hv.stop_other_cpus(0);
        let halted = hv.arch.catch(1, || hv.secondary(1));
        assert_eq!(halted, Some(crate::arch::fake::Halted));
        assert!(
            !hv.arch
                .events()
                .iter()
                .any(|e| matches!(e, Event::RunVcpu { .. }))
        );
    }

    #[test]
    fn a_cpu_no_cell_owns_idles() {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.arch.stop_at_first_wait();
        assert_eq!(hv.arch.catch(3, || hv.secondary(3)), Some(Waited));
        assert_eq!(hv.arch.events().last(), Some(&Event::Idle(3)));
    }
}
