//! Running a started vCPU: its VMCS set up, then guest entries and exit
//! handling until it parks.
//!
//! Each exit is handled by `exit_handlers`, which decides [`Next`]; the
//! core's `Hypervisor::after_exit` adds the check every exit needs (was the
//! cell stopped or restarted meanwhile?). A stop kicks a CPU running guest
//! code with an NMI, which exits the guest (NMI exiting); an NMI that lands
//! while the CPU is in the hypervisor makes the next entry exit at once
//! (NMI-window exiting, `host_exceptions`), so no kick is lost.

use core::sync::atomic::Ordering;

use super::vcpu::{self, GuestRegs, Wiring};
use super::{HV, cell_maps, exit_handlers, idt, vmx};
use crate::arch::Next;
use crate::cell::lifecycle::Start;
use crate::config::CellDesc;

/// Sets up this CPU's VMCS for vCPU `vcpu` of `cell` and runs it from
/// `start` until it parks. Its first registers: RIP = entry, RDI = the
/// start's context, RSI = the vCPU index, RSP at the boot area.
pub(super) fn run(cpu: usize, cell: &'static CellDesc, vcpu: usize, start: Start) {
    let index = cell.id.index();
    cell_maps::VMCS_READY[cpu].store(0, Ordering::Release);
    let Some(region) = cell_maps::vmcs_region(cpu) else {
        return;
    };
    // SAFETY: this CPU's own region, not current on any other CPU.
    if let Err(e) = unsafe { vmx::load_vmcs(cell_maps::controls(), region) } {
        panic!("cpu {cpu}: {}", e.0);
    }
    let eptp = cell_maps::eptp(index);
    vcpu::setup_controls(
        cell_maps::controls(),
        &Wiring {
            vpid: cell.id.0 + 1,
            eptp,
            io_bitmaps: cell_maps::io_bitmaps(index),
            msr_bitmap: cell_maps::msr_bitmap(),
            gdt: (&raw const super::entry_asm::gdt64) as u64,
            idt: idt::base(),
            cpu: cpu as u64,
        },
    );
    vmx::invept(eptp);
    cell_maps::reset_guest_cpu_state();
    vcpu::setup_guest(
        cell_maps::controls(),
        cell_maps::boot_area_gpa(cell),
        start.entry,
    );
    cell_maps::VMCS_READY[cpu].store(1, Ordering::Release);
    let mut regs = GuestRegs {
        rdi: start.context,
        rsi: vcpu as u64,
        ..GuestRegs::default()
    };
    let mut launched = false;
    // A stop may have come between taking the start and here.
    let mut next = HV.after_exit(cpu, cell, vcpu, Next::Resume);
    while next == Next::Resume {
        HV.stop_if_requested();
        next = match vcpu::enter(&mut regs, launched) {
            vcpu::Entry::Exited => {
                launched = true;
                exit_handlers::handle(cell, vcpu, cpu, &mut regs)
            }
            vcpu::Entry::Failed(error) => exit_handlers::entry_failed(cell, vcpu, cpu, error),
        };
        next = HV.after_exit(cpu, cell, vcpu, next);
    }
}
