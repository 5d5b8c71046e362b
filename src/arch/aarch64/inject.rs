//! Exceptions the hypervisor raises in a guest: a synchronous external
//! abort (fault policy `inject`), an Undefined Instruction (an instruction
//! EL2 does not emulate). ESR/FAR/ELR/SPSR_EL1 are set as the hardware
//! would, and the trap frame returns to the guest's vector.

use core::arch::asm;

use super::model::injection;
use super::trap_frame::TrapFrame;
use crate::cell::access::Access;

/// Makes the guest take a synchronous external abort: ESR/FAR/ELR/SPSR_EL1
/// as the hardware would set them, and the frame returns to the guest's
/// synchronous exception vector in EL1h with interrupts masked. With
/// `access` (a stage-2 abort) FAR_EL1 gets the faulting address; without
/// it (an SError, say) FAR_EL2 holds nothing of the guest's, so FnV says
/// FAR is not valid and FAR_EL1 is left alone (finding F16).
pub(super) fn external_abort(frame: &mut TrapFrame, access: Option<Access>) {
    inject(
        frame,
        injection::external_abort_syndrome(frame.spsr, access),
        access.is_some(),
    );
}

/// Takes a synchronous exception with syndrome `esr` to the guest's EL1.
fn inject(frame: &mut TrapFrame, esr: u64, with_far: bool) {
    let vector_offset = injection::vector_offset(frame.spsr);
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

/// Makes the guest take an Undefined Instruction exception for the
/// instruction that trapped with `syndrome` (one the hypervisor does not
/// emulate, e.g. an AArch32 call), its length as the syndrome says.
pub(super) fn undefined(frame: &mut TrapFrame, syndrome: u64) {
    inject(frame, injection::undefined_syndrome(syndrome), false);
}
