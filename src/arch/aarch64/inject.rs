//! Exceptions the hypervisor raises in a guest: a synchronous external
//! abort (fault policy `inject`), an Undefined Instruction (an instruction
//! EL2 does not emulate). ESR/FAR/ELR/SPSR_EL1 are set as the hardware
//! would, and the trap frame returns to the guest's vector.

use core::arch::asm;

use super::trap_frame::TrapFrame;
use crate::cell::access::Access;

/// Makes the guest take a synchronous external abort: ESR/FAR/ELR/SPSR_EL1
/// as the hardware would set them, and the frame returns to the guest's
/// synchronous exception vector in EL1h with interrupts masked.
pub(super) fn external_abort(frame: &mut TrapFrame, access: Access) {
    let from_el0 = frame.spsr & 0b1100 == 0;
    let (ec, write) = match access {
        Access::Execute => (if from_el0 { 0x20 } else { 0x21 }, false),
        Access::Read => (if from_el0 { 0x24 } else { 0x25 }, false),
        Access::Write => (if from_el0 { 0x24 } else { 0x25 }, true),
    };
    // ISS: DFSC/IFSC 0b010000 = synchronous external abort; WnR (bit 6).
    let esr: u64 = (ec << 26) | (1 << 25) | (u64::from(write) << 6) | 0x10;
    inject(frame, esr, true);
}

/// Takes a synchronous exception with syndrome `esr` to the guest's EL1.
fn inject(frame: &mut TrapFrame, esr: u64, with_far: bool) {
    let vector_offset: u64 = match frame.spsr & 0b1111 {
        0b0100 => 0x000, // EL1t
        0b0101 => 0x200, // EL1h
        _ => 0x400,      // from EL0 (AArch64)
    };
    let vbar: u64;
    // SAFETY: reads/writes EL1 exception registers of the guest that trapped
    // on this core; the hypervisor does not use them. FAR_EL2 holds the
    // faulting VA for aborts.
    unsafe {
        if with_far {
            asm!("mrs {far}, far_el2", "msr far_el1, {far}", far = out(reg) _, options(nostack, preserves_flags));
        }
        asm!(
            "mrs {vbar}, vbar_el1",
            "msr esr_el1, {esr}",
            "msr elr_el1, {elr}",
            "msr spsr_el1, {spsr}",
            vbar = out(reg) vbar,
            esr = in(reg) esr,
            elr = in(reg) frame.elr,
            spsr = in(reg) frame.spsr,
            options(nostack, preserves_flags)
        );
    }
    frame.elr = vbar + vector_offset;
    frame.spsr = super::vcpu::SPSR_EL1H_MASKED;
}

/// Makes the guest take an Undefined Instruction exception (an instruction
/// the hypervisor does not emulate, e.g. an AArch32 call).
pub(super) fn undefined(frame: &mut TrapFrame) {
    inject(frame, 1 << 25, false);
}
