//! What reaches the hypervisor itself in VMX root mode: NMIs (another CPU
//! kicking this one out of its wait, or asking every CPU to stop), faults
//! (hypervisor bugs, which panic into the core's panic handler).

use core::sync::atomic::Ordering;

use super::idt::{ExceptionFrame, NMI_SEEN};
use super::{HV, cell_maps, cpu};
use crate::hv_emergency_println;

/// Rust entry of every IDT stub (`idt`), by symbol name.
#[unsafe(no_mangle)]
extern "C" fn bulkhead_host_exception(frame: &ExceptionFrame) {
    let me = cpu::current_index();
    if frame.vector == 2 {
        if let Some(flag) = NMI_SEEN.get(me) {
            flag.store(true, Ordering::Release);
        }
        // A panic elsewhere asked every CPU to stop.
        HV.stop_if_requested();
        // A kick that arrived between the vCPU loop's last look at its
        // cell and VM entry must not be lost: make the entry exit at once.
        cell_maps::kick_in_root(me);
        return;
    }
    let cr2: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe { core::arch::asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack)) };
    hv_emergency_println!(
        HV,
        "hypervisor exception {} on cpu {me}: rip {:#x} error {:#x} cr2 {cr2:#x} rsp {:#x}",
        frame.vector,
        frame.rip,
        frame.error,
        frame.rsp
    );
    panic!("unexpected exception {} in the hypervisor", frame.vector);
}
