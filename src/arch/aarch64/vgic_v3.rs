//! GICv3 virtual CPU interface of this core's vCPU: list registers and the
//! controls in `ICH_*_EL2`.
//!
//! A guest's `ICC_*_EL1` accesses go to the virtual interface (`ICV_*`)
//! because HCR_EL2.IMO/FMO are set. The hypervisor puts interrupts into the
//! list registers; hardware interrupts are injected with the HW bit, so the
//! guest's EOI deactivates the physical interrupt without an exit.

use core::arch::asm;

/// Reads `ICH_LR<n>_EL2`.
pub(crate) fn read_lr(n: usize) -> u64 {
    let value: u64;
    macro_rules! read {
        ($($i:literal),*) => {
            match n {
                $($i => {
                    // SAFETY: reading a list register has no side effects.
                    unsafe { asm!(concat!("mrs {}, ich_lr", $i, "_el2"), out(reg) value, options(nomem, nostack, preserves_flags)) };
                })*
                _ => value = 0,
            }
        };
    }
    read!(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    value
}

/// Writes `ICH_LR<n>_EL2`.
pub(crate) fn write_lr(n: usize, value: u64) {
    macro_rules! write {
        ($($i:literal),*) => {
            match n {
                $($i => {
                    // SAFETY: a list register only affects what the guest
                    // on this core sees through its virtual CPU interface.
                    unsafe { asm!(concat!("msr ich_lr", $i, "_el2, {}"), in(reg) value, options(nomem, nostack, preserves_flags)) };
                })*
                _ => {}
            }
        };
    }
    write!(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

/// Number of list registers this core implements (ICH_VTR_EL2.ListRegs + 1).
pub(crate) fn list_register_count() -> usize {
    let vtr: u64;
    // SAFETY: reading ICH_VTR_EL2 has no side effects.
    unsafe { asm!("mrs {}, ich_vtr_el2", out(reg) vtr, options(nomem, nostack, preserves_flags)) };
    ((vtr & 0x1f) + 1) as usize
}

/// ICH_HCR_EL2 bits used.
const HCR_EN: u64 = 1;
const HCR_UIE: u64 = 1 << 1;

/// Resets the virtual CPU interface for a vCPU that is about to start.
pub(crate) fn reset() {
    for n in 0..list_register_count() {
        write_lr(n, 0);
    }
    // SAFETY: ICH_VMCR_EL2 and ICH_HCR_EL2 configure only this core's
    // virtual CPU interface, which belongs to the vCPU being started.
    unsafe {
        asm!(
            "msr ich_vmcr_el2, xzr",
            "msr ich_hcr_el2, {}",
            "isb",
            in(reg) HCR_EN,
            options(nostack, preserves_flags)
        );
    }
}

/// Enables or disables the underflow maintenance interrupt (raised when at
/// most one list register holds an interrupt, so queued ones can follow).
pub(crate) fn set_underflow_maintenance(on: bool) {
    let value = if on { HCR_EN | HCR_UIE } else { HCR_EN };
    // SAFETY: as in `reset`.
    unsafe { asm!("msr ich_hcr_el2, {}", "isb", in(reg) value, options(nostack, preserves_flags)) };
}
