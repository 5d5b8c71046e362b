//! `impl Arch for Aarch64`: the contract, on the drivers and helpers of
//! this back end.

use aarch64_cpu::registers::{CNTFRQ_EL0, CNTPCT_EL0, DAIF, Readable, Writeable};

use super::gic::{self, Gic, GicOps};
use super::model::exit_cause::{ExitCause, INTERRUPT_KINDS};
use super::model::virtual_pl011::VirtualPl011;
use super::pl011::{self, Pl011};
use super::{
    Aarch64, cpu, el2_mmu, firmware, guest_memory, secondaries, timer, vcpu, virtual_interrupts,
};
use crate::arch::{Arch, Print, Wake};
use crate::cell::lifecycle::Start;
use crate::config::{CellDesc, HYPERVISOR, TABLES, Tables};

/// Microseconds of the system counter.
fn micros() -> u64 {
    let count = CNTPCT_EL0.get();
    let frequency = CNTFRQ_EL0.get().max(1);
    (count / frequency) * 1_000_000 + (count % frequency) * 1_000_000 / frequency
}

defmt::timestamp!("{=u64:us}", micros());

impl Arch for Aarch64 {
    type ExitKind = ExitCause;
    type VirtualUart = VirtualPl011;
    type ConsoleUart = Pl011;

    const PC_NAME: &'static str = "pc";
    const DELIVERY_KINDS: &'static [&'static str] = &INTERRUPT_KINDS;

    fn tables(&self) -> &'static Tables<'static> {
        &TABLES
    }

    fn current_cpu(&self) -> usize {
        cpu::current_index()
    }

    fn kick(&self, cpu: usize) {
        // Publishes first: a core waiting in WFE (not WFI) wakes on the SEV.
        cpu::publish_and_sev();
        gic::kick(cpu);
    }

    fn ring_doorbell(&self, cpu: usize) {
        // The core waits in WFI (`wait_for_start`): ring it.
        cpu::publish_and_sev();
        gic::kick(cpu);
    }

    fn publish(&self) {
        cpu::publish_and_sev();
    }

    fn relax(&self) {
        aarch64_cpu::asm::wfe();
    }

    /// WFI with IRQs masked at EL2, then whatever is pending is handled: the
    /// doorbell, console input, a vGIC notification. Long waits use WFI,
    /// not WFE: QEMU's TCG treats WFE as a yield, so a core waiting in WFE
    /// keeps a host thread busy and slows the others.
    fn wait_for_start(&self, cpu: usize) -> Wake {
        aarch64_cpu::asm::wfi();
        Wake {
            console_input: virtual_interrupts::take_pending(cpu).console_input,
        }
    }

    fn idle(&self, cpu: usize) -> Wake {
        self.wait_for_start(cpu)
    }

    fn mask_interrupts(&self) {
        cpu::mask_all_exceptions();
    }

    fn halt(&self) -> ! {
        cpu::halt()
    }

    fn power_off(&self) -> ! {
        let error = firmware::system_off();
        panic!("PSCI SYSTEM_OFF returned: {error}");
    }

    fn now_micros(&self) -> Option<u64> {
        Some(micros())
    }

    /// Masks IRQ, FIQ and SError; returns the DAIF bits before.
    fn log_enter(&self) -> usize {
        let saved = DAIF.get();
        DAIF.set(saved | (0b0111 << 6));
        saved as usize
    }

    fn log_exit(&self, saved: usize) {
        DAIF.set(saved as u64);
    }

    fn console_uart(&self) -> Pl011 {
        pl011::console()
    }

    fn locks_usable(&self) -> bool {
        el2_mmu::is_enabled()
    }

    fn route_console_input(&self, cpu: Option<usize>) {
        virtual_interrupts::route_console_input(cpu);
    }

    fn console_input_served(&self) {
        virtual_interrupts::console_input_served(cpu::current_index());
    }

    fn virtual_uart_base(&self) -> u64 {
        HYPERVISOR.console.base.as_u64()
    }

    fn virtual_uart_line(&self, cell: &'static CellDesc, level: bool) {
        virtual_interrupts::virtual_line(cell, level);
    }

    fn load_segment(&self, host: u64, data: &[u8], zeros: u64) {
        guest_memory::load_segment(host, data, zeros);
    }

    fn read_cell_memory(&self, host: u64, buf: &mut [u8]) {
        // SAFETY: the core checked the range is the cell's RAM, mapped RW at
        // EL2.
        unsafe { crate::host_memory::read(host, buf) };
    }

    fn prepare_cell_start(&self, cell: &'static CellDesc) {
        guest_memory::image_loaded();
        timer::cell_starts(cell);
    }

    fn reset_cell_devices(&self, cell: &'static CellDesc) {
        virtual_interrupts::reset_cell(cell);
    }

    fn delivered(&self, cell: usize, kind: usize) -> u64 {
        virtual_interrupts::delivered(cell, kind)
    }

    /// Programs this core's EL2 controls for the vCPU and enters its guest
    /// on a fresh stack; never returns (exits come through the vectors).
    fn run_vcpu(&self, cpu: usize, cell: &'static CellDesc, vcpu: usize, start: Start) {
        let timers = vcpu::TimerControls {
            cntvoff: timer::virtual_offset(cell),
            cnthctl: timer::cnthctl(cell),
        };
        let root = guest_memory::stage2_root(cell.id.index());
        vcpu::configure(root, cell.id.0 + 1, vcpu, timers);
        virtual_interrupts::reset_vcpu(cpu);
        vcpu::enter(start.entry, start.context)
    }

    fn firmware_call(&self, function_id: u32, args: [u64; 3]) -> [u64; 4] {
        firmware::forward(function_id, args)
    }

    fn init_boot_cpu(&self, cpu: usize, print: Print<'_>) {
        print(format_args!(
            "boot cpu {cpu} (MPIDR {:#x}) at EL{}, PSCI {}, EL2 MMU on ({} tables)",
            cpu::mpidr() & cpu::MPIDR_AFFINITY_MASK,
            cpu::current_el(),
            firmware::version(),
            el2_mmu::tables_used()
        ));
    }

    fn start_secondaries(&self, cpu: usize, print: Print<'_>) -> u64 {
        Gic::init_distributor();
        Gic::init_cpu();
        secondaries::mark_online(cpu);
        secondaries::start(cpu, print)
    }

    fn online_cpus(&self) -> u64 {
        secondaries::online_mask()
    }

    fn build_cell_maps(&self) {
        firmware::probe();
        guest_memory::build_stage2();
    }

    fn panic_selftest(&self, _print: Print<'_>) -> ! {
        panic!("panic-selftest: deliberate panic after boot");
    }
}
