//! `impl Arch for X86_64`: the contract, on the drivers and helpers of
//! this back end.

use core::sync::atomic::Ordering;

use super::idt::NMI_SEEN;
use super::model::exit_kind::X86Exit;
use super::model::virtual_16550::Virtual16550;
use super::uart16550::Uart16550;
use super::{X86_64, cell_maps, cpu, ioapic, page_tables, secondaries, vcpu_loop, vmx};
use crate::arch::{Arch, Print, Wake};
use crate::cell::lifecycle::Start;
use crate::config::{CPUS, CellDesc, DEVICES, HYPERVISOR, TABLES, Tables};

/// The console UART's interrupt input at the I/O APIC, if the platform
/// names one.
fn console_input_pin() -> Option<u32> {
    DEVICES
        .get(HYPERVISOR.console.device)?
        .irqs
        .first()
        .map(|irq| irq.0)
}

/// Whether an NMI (console input, or a kick) arrived at `cpu` in the
/// hypervisor since the last look.
fn nmi_seen(cpu: usize) -> bool {
    NMI_SEEN
        .get(cpu)
        .is_some_and(|seen| seen.swap(false, Ordering::AcqRel))
}

/// The boot line on what guests get beyond isolation (F11, F5f): the
/// hardening controls this CPU lacks, and the speculation-control MSRs
/// guests reach.
fn print_hardening(lacking: &vmx::Lacking, print: Print<'_>) {
    let spec = cell_maps::speculation_msrs();
    let mut passed: heapless::Vec<&str, 3> = heapless::Vec::new();
    for (has, name) in [
        (spec.spec_ctrl, "IA32_SPEC_CTRL"),
        (spec.pred_cmd, "IA32_PRED_CMD"),
        (spec.flush_cmd, "IA32_FLUSH_CMD"),
    ] {
        if has {
            let _ = passed.push(name);
        }
    }
    let mut missing: heapless::Vec<&str, 3> = heapless::Vec::new();
    for name in lacking.names() {
        let _ = missing.push(name);
    }
    print(format_args!(
        "VMX hardening (WBINVD and RDPMC exiting, debug-control switching) lacking: {}; speculation MSRs passed through to guests: {}",
        List(&missing),
        List(&passed)
    ));
}

/// Names separated by commas, or `none`.
struct List<'a>(&'a [&'a str]);

impl core::fmt::Display for List<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

defmt::timestamp!("{=u64}", {
    // SAFETY: RDTSC has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
});

impl Arch for X86_64 {
    type ExitKind = X86Exit;
    type VirtualUart = Virtual16550;
    type ConsoleUart = Uart16550;

    const PC_NAME: &'static str = "rip";
    /// Guests take their interrupts without the hypervisor.
    const DELIVERY_KINDS: &'static [&'static str] = &[];

    fn tables(&self) -> &'static Tables<'static> {
        &TABLES
    }

    fn current_cpu(&self) -> usize {
        cpu::current_index()
    }

    /// An NMI: it exits a running guest (NMI exiting) and wakes a CPU
    /// sleeping in HLT.
    fn kick(&self, cpu: usize) {
        if let Some(desc) = CPUS.get(cpu) {
            cpu::send_nmi(desc.hw_id as u32);
        }
    }

    /// Nothing: a CPU waiting for a start spins on its slot (MONITOR/MWAIT
    /// on the slot did not wake on Bochs when another CPU wrote it, and HLT
    /// plus an NMI doorbell can lose a wake-up between the check and the
    /// HLT).
    fn ring_doorbell(&self, _cpu: usize) {}

    /// Nothing: x86 stores are seen in order, and waiters spin.
    fn publish(&self) {}

    fn relax(&self) {
        core::hint::spin_loop();
    }

    fn wait_for_start(&self, cpu: usize) -> Wake {
        core::hint::spin_loop();
        // Console input comes as an NMI to a waiting CPU too.
        Wake {
            console_input: nmi_seen(cpu),
        }
    }

    /// HLT: only an NMI (a panic elsewhere) wakes a CPU no cell owns.
    fn idle(&self, cpu: usize) -> Wake {
        cpu::sleep();
        Wake {
            console_input: nmi_seen(cpu),
        }
    }

    /// Nothing: the hypervisor always runs with interrupts masked.
    fn mask_interrupts(&self) {}

    fn halt(&self) -> ! {
        cpu::halt_forever()
    }

    /// Bochs' shutdown port (the only x86 platform so far).
    fn power_off(&self) -> ! {
        for &byte in b"Shutdown" {
            cpu::outb(0x8900, byte);
        }
        cpu::halt_forever()
    }

    /// The TSC's rate is not known.
    fn now_micros(&self) -> Option<u64> {
        None
    }

    /// Nothing to mask: the hypervisor always runs with interrupts masked.
    fn log_enter(&self) -> usize {
        0
    }

    fn log_exit(&self, _saved: usize) {}

    fn console_uart(&self) -> Uart16550 {
        Uart16550
    }

    fn locks_usable(&self) -> bool {
        true
    }

    /// As an NMI through the I/O APIC (the hypervisor takes no
    /// interrupts): it exits the chosen cell's guest (NMI exiting) without
    /// being an interrupt the guest sees.
    /// Nothing held: console input comes as an NMI.
    fn console_input_served(&self) {}

    fn route_console_input(&self, cpu: Option<usize>) {
        if let Some(pin) = console_input_pin() {
            let apic = cpu.and_then(|c| CPUS.get(c)).map(|d| d.hw_id as u32);
            ioapic::route_nmi(pin, apic);
        }
    }

    fn virtual_uart_base(&self) -> u64 {
        u64::from(HYPERVISOR.console.port)
    }

    /// Guests poll their virtual 16550.
    fn virtual_uart_line(&self, _cell: &'static CellDesc, _level: bool) {}

    fn load_segment(&self, host: u64, data: &[u8], zeros: u64) {
        // SAFETY: the core checked `host..host + len + zeros` is the cell's
        // RAM (identity-mapped RW) and stopped the cell's vCPUs.
        unsafe { crate::host_memory::load(host, data, zeros) };
    }

    fn read_cell_memory(&self, host: u64, buf: &mut [u8]) {
        // SAFETY: the core checked the range is the cell's RAM.
        unsafe { crate::host_memory::read(host, buf) };
    }

    fn prepare_cell_start(&self, cell: &'static CellDesc) {
        cell_maps::write_boot_area(cell);
    }

    /// Nothing: the virtual 16550 (reset by the core) is the only virtual
    /// device.
    fn reset_cell_devices(&self, _cell: &'static CellDesc) {}

    fn delivered(&self, _cell: usize, _kind: usize) -> u64 {
        0
    }

    fn run_vcpu(&self, cpu: usize, cell: &'static CellDesc, vcpu: usize, start: Start) {
        vcpu_loop::run(cpu, cell, vcpu, start);
    }

    /// No SMCCC firmware on x86.
    fn firmware_call(&self, _function_id: u32, _args: [u64; 3]) -> [u64; 4] {
        [u64::MAX, 0, 0, 0]
    }

    fn init_boot_cpu(&self, me: usize, print: Print<'_>) {
        let controls = match vmx::check() {
            Ok(controls) => controls,
            Err(missing) => {
                print(format_args!(
                    "bulkhead: this CPU cannot run cells: it lacks {}",
                    missing.0
                ));
                self.power_off()
            }
        };
        if !cpu::enable_x2apic() {
            print(format_args!(
                "bulkhead: this CPU cannot run cells: it lacks x2APIC"
            ));
            self.power_off()
        }
        print(format_args!(
            "boot cpu {me} (APIC id {}) in long mode; VMX: VMCS revision {:#x}, EPT, VPID, unrestricted guest{}",
            cpu::initial_apic_id(),
            controls.revision,
            if controls.hlt_activity {
                ", HLT activity state"
            } else {
                ""
            }
        ));
        print_hardening(&controls.lacking, print);
        let map = match page_tables::build() {
            Ok(map) => map,
            Err(error) => panic!("cannot build the hypervisor's page tables: {error:?}"),
        };
        secondaries::copy_trampoline();
        page_tables::switch();
        print(format_args!(
            "boot cpu {me}: own page tables ({} tables, {} 2 MiB pages, {} 4 KiB pages; code RX, data NX)",
            map.tables, map.blocks_2m, map.pages
        ));
        cell_maps::set_controls(controls);
        if let Err(e) = cell_maps::vmx_on(me) {
            panic!("cpu {me}: {}", e.0);
        }
        secondaries::mark_online(me);
    }

    fn start_secondaries(&self, me: usize, print: Print<'_>) -> u64 {
        secondaries::start(me, print)
    }

    fn online_cpus(&self) -> u64 {
        secondaries::online_mask()
    }

    fn build_cell_maps(&self) {
        cell_maps::build();
        ioapic::mask_all();
    }

    /// The hypervisor's code is read-only on its own page tables, so a
    /// write to it faults (#PF) and the fault panics, which stops every
    /// other CPU.
    fn panic_selftest(&self, print: Print<'_>) -> ! {
        let code = nmi_seen as *const () as u64;
        print(format_args!(
            "panic-selftest: writing to the hypervisor's code at {code:#x}"
        ));
        // SAFETY: a deliberate fault: the page is mapped read-execute, so
        // the write never happens.
        unsafe { core::ptr::write_volatile(code as *mut u8, 0xcc) };
        panic!("panic-selftest: the write to code at {code:#x} did not fault");
    }
}
