//! Cells at run time, the same on every architecture: starting them,
//! starting and parking their vCPUs, stopping them for good (halt) or
//! reloading them from their pristine image (restart), and the loop every
//! CPU runs.
//!
//! A CPU a cell owns waits in the hypervisor until its vCPU slot holds a
//! start request (the cell's start, or a guest's `CPU_ON`), runs the vCPU
//! until it parks (`CPU_OFF`, its cell stopped), and waits again. Stopping a
//! cell gives it a new epoch and kicks its other CPUs out of their guests;
//! a vCPU whose epoch is old is stale and parks at its next exit
//! ([`Hypervisor::after_exit`]). The last cell to stop powers the machine
//! off, exactly once.

use crate::arch::{Arch, Next};
use crate::cell::lifecycle::{Power, Stopped};
use crate::cell::ram_host_address;
use crate::config::{CellDesc, Tables};
use crate::hv_println;
use crate::hypervisor::Hypervisor;

impl<A: Arch, const CPUS: usize, const CELLS: usize> Hypervisor<A, CPUS, CELLS> {
    /// The configuration tables.
    pub(crate) fn tables(&self) -> &'static Tables<'static> {
        self.arch.tables()
    }

    /// The cell and vCPU index of physical CPU `cpu`, if a cell owns it.
    pub(crate) fn vcpu_of(&self, cpu: usize) -> Option<(&'static CellDesc, usize)> {
        crate::cell::vcpu_of(self.tables(), cpu)
    }

    /// Power state of vCPU `index` of `cell`.
    pub(crate) fn vcpu_power(&self, cell: &CellDesc, index: usize) -> Power {
        crate::cell::cpu_of(cell, index).map_or(Power::Off, |cpu| self.life.power(cpu))
    }

    /// Asks vCPU `index` of `cell` to start at `entry` with `context` (`x0`,
    /// `RDI`), on behalf of the cell's epoch `epoch` (the hypervisor's own
    /// starts: the current one; a guest's `CPU_ON`: the caller's), and rings
    /// its CPU. Fails with its state unless it is off.
    pub(crate) fn request_start(
        &self,
        cell: &CellDesc,
        index: usize,
        epoch: u32,
        entry: u64,
        context: u64,
    ) -> Result<(), Power> {
        let cpu = crate::cell::cpu_of(cell, index).ok_or(Power::Off)?;
        self.life.request_start(cpu, epoch, entry, context)?;
        self.arch.ring_doorbell(cpu);
        Ok(())
    }

    /// Starts every cell: its devices at reset, its image loaded, vCPU 0
    /// asked to start at the entry point. Boot CPU, every CPU online.
    pub(crate) fn start_all(&self) {
        for cell in self.tables().cells {
            self.arch.reset_cell_devices(cell);
            self.load_image(cell);
            let epoch = self.life.epoch(cell.id.index());
            let _ = self.request_start(cell, 0, epoch, cell.entry.as_u64(), cell.boot_arg);
            hv_println!(
                self,
                "bulkhead: cell {} ({}) starting on cpu {}",
                cell.name,
                cell.id,
                cell.cpus.first().map_or(0, |c| c.index())
            );
        }
    }

    /// What a CPU does once an exit of vCPU `vcpu` of `cell` on `cpu` was
    /// handled (`next`): resume, unless the handler parked it or its cell
    /// was stopped or restarted meanwhile (then it parks, and says so).
    /// Every exit passes here; the caller already knows the cell, so this
    /// is one epoch comparison.
    #[inline]
    pub(crate) fn after_exit(&self, cpu: usize, cell: &CellDesc, vcpu: usize, next: Next) -> Next {
        if next == Next::Park {
            return Next::Park;
        }
        if !self.life.stale(cpu, cell.id.index()) {
            return Next::Resume;
        }
        self.report_parked(cpu, cell, vcpu);
        Next::Park
    }

    /// The line a vCPU of a stopped or restarted cell prints as it parks
    /// (out of the exit path: it happens once per stop). It counts against
    /// the cell's report budget: a cell restarting in a loop must not
    /// flood the console (finding F7).
    #[cold]
    #[inline(never)]
    fn report_parked(&self, cpu: usize, cell: &CellDesc, vcpu: usize) {
        crate::log::info!(
            "cell {=str} vcpu {=usize} (cpu {=usize}) stopped",
            cell.name,
            vcpu,
            cpu
        );
        if self.may_report(cell.id.index()) {
            hv_println!(
                self,
                "bulkhead: cell {} vcpu {vcpu} (cpu {cpu}) stopped",
                cell.name
            );
        }
    }

    /// Stops every vCPU of `cell`: a new epoch; the others are kicked out
    /// of their guests and park.
    fn stop_cell(&self, cell: &CellDesc) {
        self.life.stop(
            cell.id.index(),
            cell.cpus.iter().map(|c| c.index()),
            self.arch.current_cpu(),
            |cpu| self.arch.kick(cpu),
        );
    }

    /// Whether `cell` stopped for good.
    pub(crate) fn is_stopped(&self, cell: &CellDesc) -> bool {
        self.life.is_stopped(cell.id.index())
    }

    /// Stops `cell` for good (`SYSTEM_OFF`, fault policy `halt`); the
    /// calling vCPU parks afterwards. When no cell is left running, prints
    /// every cell's counters and powers the machine off (exactly once, even
    /// when the last cells stop at the same moment).
    pub(crate) fn halt(&self, cell: &CellDesc) {
        self.stop_cell(cell);
        self.flush_cell_console(cell.id.index());
        match self.life.mark_stopped(cell.id.index()) {
            Stopped::Already => {}
            Stopped::Now => self.route_console_input(),
            Stopped::Last => {
                self.route_console_input();
                self.print_counters();
                hv_println!(self, "bulkhead: every cell has stopped; powering off");
                crate::log::info!("every cell stopped, powering off");
                self.drain_console();
                self.arch.power_off();
            }
        }
    }

    /// Restarts `cell` from its pristine image (`SYSTEM_RESET`, policy
    /// `restart`): stops it, waits until its other vCPUs parked, resets its
    /// virtual devices (UART, interrupt controller), reloads the image and
    /// starts vCPU 0 again. `caller_cpu` is the CPU of the vCPU asking; it
    /// parks afterwards (and takes the start if it is vCPU 0's). While
    /// another CPU restarts the cell, or once it stopped for good, the call
    /// does nothing: the caller's vCPU just parks (finding F12). `announce`
    /// runs only for the call that restarts, before anything stops (its
    /// report line comes before the restarted guest's first line).
    pub(crate) fn restart(
        &self,
        cell: &'static CellDesc,
        caller_cpu: usize,
        announce: impl FnOnce(),
    ) {
        if !self.life.begin_restart(cell.id.index()) {
            return;
        }
        announce();
        self.stop_cell(cell);
        self.flush_cell_console(cell.id.index());
        self.life.set_off(caller_cpu);
        for cpu in cell.cpus.iter().map(|c| c.index()) {
            // The others were kicked and park at once.
            while cpu != caller_cpu && self.life.power(cpu) != Power::Off {
                self.stop_if_requested();
                self.arch.relax();
            }
        }
        self.reset_virtual_uart(cell.id.index());
        self.arch.reset_cell_devices(cell);
        self.load_image(cell);
        if self.life.finish_restart(cell.id.index()) {
            let epoch = self.life.epoch(cell.id.index());
            let _ = self.request_start(cell, 0, epoch, cell.entry.as_u64(), cell.boot_arg);
        }
    }

    /// Copies the cell's pristine image into its RAM: every segment's bytes,
    /// then zeros for the rest of the segment (`.bss`). The rest of the
    /// cell's RAM is left as it is, as on a warm reset: it only ever held
    /// this cell's data. Clearing all of it cost two thirds of the boot (1.6
    /// M of 2.7 M instructions for a 16 MiB cell, seconds for 256 MiB).
    fn load_image(&self, cell: &'static CellDesc) {
        debug_assert!(
            cell.cpus
                .iter()
                .all(|c| self.life.power(c.index()) != Power::On),
            "a cell's image is reloaded only while none of its vCPUs runs"
        );
        for segment in cell.image.segments {
            let gpa = segment.gpa.as_u64();
            let Some(host) = ram_host_address(cell, gpa, segment.memory_size) else {
                // The config checker proved every segment fits: a bug.
                panic!(
                    "cell {}: image segment at {gpa:#x} is not in its RAM",
                    cell.name
                );
            };
            let copied = segment.data.len().min(segment.memory_size as usize);
            let zeros = segment.memory_size - copied as u64;
            self.arch.load_segment(host, &segment.data[..copied], zeros);
        }
        self.arch.prepare_cell_start(cell);
    }

    /// One turn of `cpu`'s loop: runs its vCPU if a start is waiting (until
    /// it parks), else waits for one.
    fn run_cpu_once(&self, cpu: usize, cell: &'static CellDesc, vcpu: usize) {
        self.stop_if_requested();
        match self.life.take_start(cpu, cell.id.index()) {
            Some(start) => {
                crate::log::info!(
                    "cell {=str} vcpu {=usize} enters at {=u64:#x} on cpu {=usize}",
                    cell.name,
                    vcpu,
                    start.entry,
                    cpu
                );
                self.arch.run_vcpu(cpu, cell, vcpu, start);
                self.park(cpu);
            }
            None => {
                if self.arch.wait_for_start(cpu).console_input {
                    self.poll_console_input();
                }
            }
        }
    }

    /// The loop of CPU `cpu`, after boot: run its vCPU whenever it is
    /// started. A CPU no cell owns idles.
    pub(crate) fn run_cpu(&self, cpu: usize) -> ! {
        let Some((cell, vcpu)) = self.vcpu_of(cpu) else {
            loop {
                self.stop_if_requested();
                if self.arch.idle(cpu).console_input {
                    self.poll_console_input();
                }
            }
        };
        loop {
            self.run_cpu_once(cpu, cell, vcpu);
        }
    }

    /// The vCPU on `cpu` parks (a start a restart already requested for it
    /// stays pending) and those waiting for it are told.
    fn park(&self, cpu: usize) {
        self.life.park(cpu);
        self.arch.publish();
    }

    /// An exit decided [`Next::Park`] on a back end whose exits arrive on
    /// their own stack (AArch64): the vCPU parks and the CPU's loop goes
    /// on (the stack starts over when the next vCPU enters).
    #[cfg_attr(
        not(target_arch = "aarch64"),
        allow(dead_code, reason = "x86 exits return to its vCPU loop instead")
    )]
    pub(crate) fn vcpu_parked(&self, cpu: usize) -> ! {
        self.park(cpu);
        self.run_cpu(cpu)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::arch::fake::{Event, FakeArch, PoweredOff, TestHv};
    use crate::console::hub::REPORT_BUDGET;

    fn cell(hv: &TestHv, index: usize) -> &'static CellDesc {
        &hv.tables().cells[index]
    }

    #[test]
    fn start_all_resets_devices_loads_images_then_rings_each_first_vcpu() {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.start_all();
        let events = hv.arch.events();
        for (index, first_cpu) in [(0, 0), (1, 1)] {
            let reset = hv.arch.position(&Event::ResetDevices(index)).unwrap();
            let prepared = hv.arch.position(&Event::PrepareStart(index)).unwrap();
            let rung = hv.arch.position(&Event::Doorbell(first_cpu)).unwrap();
            assert!(reset < prepared && prepared < rung, "{events:?}");
            assert_eq!(hv.life.power(first_cpu), Power::OnPending);
        }
        assert_eq!(hv.life.power(2), Power::Off, "only vCPU 0 starts");
        let text = hv.arch.console_text();
        assert!(
            text.contains("bulkhead: cell alpha (0) starting on cpu 0"),
            "{text}"
        );
        assert!(
            text.contains("bulkhead: cell beta (1) starting on cpu 1"),
            "{text}"
        );
    }

    #[test]
    fn an_image_is_copied_and_its_bss_zeroed_in_the_cells_own_ram() {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.arch.fill_memory(0xee);
        hv.start_all();
        let beta = cell(&hv, 1);
        let segment = &beta.image.segments[0];
        let host = ram_host_address(beta, segment.gpa.as_u64(), 1).unwrap();
        let loaded = hv.arch.memory(host, segment.memory_size as usize);
        assert_eq!(&loaded[..segment.data.len()], segment.data);
        assert!(loaded[segment.data.len()..].iter().all(|&b| b == 0));
        let after = hv.arch.memory(host + segment.memory_size, 16);
        assert!(
            after.iter().all(|&b| b == 0xee),
            "RAM past the image is left alone"
        );
    }

    #[test]
    fn a_started_vcpu_runs_from_its_entry_and_parks_when_it_returns() {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.start_all();
        let beta = cell(&hv, 1);
        hv.arch.as_cpu(1, || hv.run_cpu_once(1, beta, 0));
        assert!(hv.arch.events().contains(&Event::RunVcpu {
            cpu: 1,
            cell: 1,
            vcpu: 0,
            entry: beta.entry.as_u64(),
            context: beta.boot_arg,
        }));
        assert_eq!(hv.life.power(1), Power::Off, "parked after running");
        // Nothing to start now: the CPU waits.
        hv.arch.as_cpu(1, || hv.run_cpu_once(1, beta, 0));
        assert_eq!(hv.arch.events().last(), Some(&Event::WaitForStart(1)));
    }

    #[test]
    fn a_start_request_for_a_running_vcpu_fails_with_its_state() {
        let hv = TestHv::over(FakeArch::two_cells());
        let beta = cell(&hv, 1);
        hv.request_start(beta, 1, hv.life.epoch(beta.id.index()), 0x4000_0000, 5)
            .unwrap();
        assert_eq!(
            hv.request_start(beta, 1, hv.life.epoch(beta.id.index()), 0, 0),
            Err(Power::OnPending)
        );
        assert_eq!(
            hv.request_start(beta, 7, hv.life.epoch(beta.id.index()), 0, 0),
            Err(Power::Off)
        );
        assert_eq!(hv.vcpu_power(beta, 1), Power::OnPending);
        assert_eq!(hv.arch.count(|e| *e == Event::Doorbell(2)), 1);
    }

    #[test]
    fn halting_a_cell_kicks_its_running_vcpus_and_makes_them_stale() {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.start_all();
        let beta = cell(&hv, 1);
        hv.request_start(
            beta,
            1,
            hv.life.epoch(beta.id.index()),
            beta.entry.as_u64(),
            0,
        )
        .unwrap();
        hv.life.take_start(1, 1).unwrap();
        hv.life.take_start(2, 1).unwrap();
        hv.arch.as_cpu(1, || hv.halt(beta));
        assert!(hv.arch.events().contains(&Event::Kick(2)));
        assert!(
            !hv.arch.events().contains(&Event::Kick(1)),
            "not the caller"
        );
        assert!(hv.is_stopped(beta));
        assert_eq!(hv.after_exit(2, beta, 1, Next::Resume), Next::Park);
        assert!(
            hv.arch
                .console_text()
                .contains("bulkhead: cell beta vcpu 1 (cpu 2) stopped")
        );
        assert_eq!(
            hv.after_exit(0, cell(&hv, 0), 0, Next::Resume),
            Next::Resume,
            "alpha runs on"
        );
    }

    #[test]
    fn the_last_halt_flushes_prints_counters_and_powers_off_exactly_once() {
        let hv = Arc::new(TestHv::over(FakeArch::two_cells()));
        hv.start_all();
        hv.output_from_cell(0, b"no newline yet");
        assert_eq!(hv.arch.catch(0, || hv.halt(cell(&hv, 0))), None);
        assert_eq!(hv.arch.count(|e| *e == Event::PowerOff), 0);
        // Both remaining halts race; exactly one powers off.
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let hv = Arc::clone(&hv);
                std::thread::spawn(move || hv.arch.catch(1, || hv.halt(cell(&hv, 1))))
            })
            .collect();
        let outcomes: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        assert_eq!(
            outcomes.iter().filter(|o| **o == Some(PoweredOff)).count(),
            1
        );
        assert_eq!(hv.arch.count(|e| *e == Event::PowerOff), 1);
        let text = hv.arch.console_text();
        let flushed = text.find("[alpha] no newline yet").unwrap();
        let counters = text
            .find("bulkhead: counters of cell beta: exits 0")
            .unwrap();
        let off = text
            .find("bulkhead: every cell has stopped; powering off")
            .unwrap();
        assert!(flushed < counters && counters < off, "{text}");
        let drained = hv.arch.position(&Event::Drained).unwrap();
        assert!(drained < hv.arch.position(&Event::PowerOff).unwrap());
    }

    #[test]
    fn halting_a_cell_twice_counts_once() {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.start_all();
        hv.arch.as_cpu(1, || hv.halt(cell(&hv, 1)));
        hv.arch.as_cpu(1, || hv.halt(cell(&hv, 1)));
        // Alpha still runs: no power-off from two halts of beta.
        assert_eq!(hv.arch.count(|e| *e == Event::PowerOff), 0);
        assert!(!hv.is_stopped(cell(&hv, 0)));
    }

    #[test]
    fn restart_waits_for_the_other_vcpus_then_resets_devices_reloads_and_starts_vcpu_0() {
        let hv = Arc::new(TestHv::over(FakeArch::two_cells()));
        hv.start_all();
        let beta = cell(&hv, 1);
        hv.request_start(
            beta,
            1,
            hv.life.epoch(beta.id.index()),
            beta.entry.as_u64(),
            0,
        )
        .unwrap();
        hv.life.take_start(1, 1).unwrap();
        hv.life.take_start(2, 1).unwrap();
        // CPU 2 parks when its kick arrives, after a while.
        let other = hv.arch.spawn_parker(&hv, 2);
        hv.arch.clear_events();
        hv.arch.as_cpu(1, || hv.restart(beta, 1, || {}));
        other.join().unwrap();
        let parked = hv.arch.position(&Event::Parked(2)).unwrap();
        let reset = hv.arch.position(&Event::ResetDevices(1)).unwrap();
        let loaded = hv.arch.position(&Event::PrepareStart(1)).unwrap();
        let rung = hv.arch.position(&Event::Doorbell(1)).unwrap();
        assert!(parked < reset && reset < loaded && loaded < rung);
        assert_eq!(hv.life.power(1), Power::OnPending, "vCPU 0 starts again");
        assert_eq!(hv.life.power(2), Power::Off, "vCPU 1 waits for CPU_ON");
        assert!(!hv.is_stopped(beta), "a restarted cell is not stopped");
    }

    /// F12b: `SYSTEM_RESET` after `SYSTEM_OFF` reached the cell (another
    /// vCPU, the same moment): the cell stays stopped, nothing starts.
    #[test]
    fn f12_a_restart_after_a_halt_starts_nothing() {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.start_all();
        let beta = cell(&hv, 1);
        hv.life.take_start(1, 1).unwrap();
        hv.arch.as_cpu(1, || hv.halt(beta));
        hv.arch.clear_events();
        hv.arch.as_cpu(2, || hv.restart(beta, 2, || {}));
        assert!(hv.is_stopped(beta));
        assert_eq!(hv.life.power(2), Power::Off);
        assert!(
            hv.arch.events().is_empty(),
            "no reload, no start: {:?}",
            hv.arch.events()
        );
    }

    #[test]
    fn restart_resets_the_cells_virtual_uart() {
        // The drift this core removed: AArch64 kept a restarted cell's PL011
        // state (masks, queued input), x86 reset its 16550.
        let hv = TestHv::over(FakeArch::two_cells());
        hv.start_all();
        let beta = cell(&hv, 1);
        hv.type_into_cell(0, b"a");
        hv.type_into_cell(1, b"xy");
        assert_eq!(hv.virtual_uart_state(1).received, b"xy");
        hv.life.take_start(1, 1).unwrap();
        hv.arch.as_cpu(1, || hv.restart(beta, 1, || {}));
        assert_eq!(
            hv.virtual_uart_state(1).received,
            b"",
            "input queued before the restart is gone"
        );
        assert_eq!(
            hv.virtual_uart_state(0).received,
            b"a",
            "other cells keep theirs"
        );
    }

    #[test]
    fn a_stale_vcpu_parks_at_its_next_exit_and_a_fresh_one_resumes() {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.start_all();
        hv.life.take_start(0, 0).unwrap();
        let alpha = cell(&hv, 0);
        assert_eq!(hv.after_exit(0, alpha, 0, Next::Resume), Next::Resume);
        assert_eq!(hv.after_exit(0, alpha, 0, Next::Park), Next::Park);
        hv.arch.as_cpu(1, || hv.halt(alpha));
        assert_eq!(hv.after_exit(0, alpha, 0, Next::Resume), Next::Park);
        assert!(
            hv.arch
                .console_text()
                .contains("bulkhead: cell alpha vcpu 0 (cpu 0) stopped")
        );
    }

    /// F7: the `stopped` line of a vCPU parking after a stop counts against
    /// its cell's report budget, so a cell restarted in a loop (a vCPU
    /// parking each time) cannot flood the console.
    #[test]
    fn f7_stopped_vcpu_lines_count_against_the_report_budget() {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.start_all();
        let alpha = cell(&hv, 0);
        hv.life.take_start(0, 0).unwrap();
        hv.arch.as_cpu(1, || hv.halt(alpha));
        for _ in 0..REPORT_BUDGET + 10 {
            assert_eq!(hv.after_exit(0, alpha, 0, Next::Resume), Next::Park);
        }
        let text = hv.arch.console_text();
        assert_eq!(
            text.matches("bulkhead: cell alpha vcpu 0 (cpu 0) stopped")
                .count(),
            REPORT_BUDGET as usize,
            "{text}"
        );
        assert_eq!(text.matches("cell alpha keeps misbehaving").count(), 1);
    }
}
