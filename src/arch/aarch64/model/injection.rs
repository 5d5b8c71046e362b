//! The syndrome and vector of an exception the hypervisor makes a guest
//! take (`inject`): a synchronous external abort (fault policy `inject`)
//! or an Undefined Instruction (an instruction EL2 traps and does not
//! emulate).

use crate::cell::access::Access;

/// SPSR.M bit 4: the interrupted code ran in AArch32 (only EL0 can, as
/// HCR_EL2.RW makes EL1 AArch64).
const SPSR_AARCH32: u64 = 1 << 4;
/// ESR.IL: the trapped instruction was 32 bits long.
const ESR_IL: u64 = 1 << 25;
/// ESR ISS bit 10 of an abort: FnV, FAR is not valid.
pub(crate) const ESR_FNV: u64 = 1 << 10;

/// The offset of the vector a synchronous exception from PSTATE `spsr`
/// takes in the guest's EL1 vector table (Arm ARM D1.10.2).
pub(crate) fn vector_offset(spsr: u64) -> u64 {
    if spsr & SPSR_AARCH32 != 0 {
        return 0x600; // lower EL, AArch32
    }
    match spsr & 0b1111 {
        0b0100 => 0x000, // EL1t
        0b0101 => 0x200, // EL1h
        _ => 0x400,      // lower EL, AArch64
    }
}

/// ESR_EL1 of a synchronous external abort taken from PSTATE `spsr`: an
/// instruction abort for `Execute`, else a data abort (a write with WnR).
/// Without `access` (an SError, say) the hypervisor knows no faulting
/// address: FnV says FAR is not valid (finding F16).
pub(crate) fn external_abort_syndrome(spsr: u64, access: Option<Access>) -> u64 {
    let from_lower = spsr & SPSR_AARCH32 != 0 || spsr & 0b1100 == 0;
    let (ec, write) = match access {
        Some(Access::Execute) => (if from_lower { 0x20 } else { 0x21 }, false),
        Some(Access::Read) | None => (if from_lower { 0x24 } else { 0x25 }, false),
        Some(Access::Write) => (if from_lower { 0x24 } else { 0x25 }, true),
    };
    let fnv = if access.is_some() { 0 } else { ESR_FNV };
    // ISS: DFSC/IFSC 0b010000 = synchronous external abort; WnR (bit 6).
    (ec << 26) | ESR_IL | (u64::from(write) << 6) | fnv | 0x10
}

/// ESR_EL1 of an Undefined Instruction for the instruction that trapped
/// with `syndrome` (EC 0, its length kept: a 16-bit T32 instruction has
/// IL = 0).
pub(crate) fn undefined_syndrome(syndrome: u64) -> u64 {
    syndrome & ESR_IL
}

#[cfg(test)]
mod tests {
    use super::*;

    const EL0T_AARCH64: u64 = 0b0000;
    const EL1H: u64 = 0b0101;
    const USER_AARCH32: u64 = 0b1_0000;

    #[test]
    fn f9_an_aarch32_el0_task_gets_its_exception_at_the_aarch32_vector() {
        assert_eq!(vector_offset(USER_AARCH32), 0x600);
        assert_eq!(vector_offset(USER_AARCH32 | 0x20), 0x600, "T32 too");
        assert_eq!(vector_offset(EL0T_AARCH64), 0x400);
        assert_eq!(vector_offset(EL1H), 0x200);
        assert_eq!(vector_offset(0b0100), 0x000);
    }

    #[test]
    fn f9_an_undefined_16_bit_instruction_keeps_il_clear() {
        assert_eq!(undefined_syndrome(0x0c00_0000), 0, "EC 3, IL 0");
        assert_eq!(undefined_syndrome(0x0c00_0000 | ESR_IL), ESR_IL);
    }

    #[test]
    fn f16_an_abort_without_an_address_says_far_is_not_valid() {
        let serror = external_abort_syndrome(EL1H, None);
        assert_eq!(serror >> 26, 0x25);
        assert_ne!(serror & ESR_FNV, 0);
        let read = external_abort_syndrome(EL1H, Some(Access::Read));
        assert_eq!(read & ESR_FNV, 0);
        assert_eq!(read, 0x9600_0010);
        let write = external_abort_syndrome(EL0T_AARCH64, Some(Access::Write));
        assert_eq!(write, 0x9200_0050);
        let fetch = external_abort_syndrome(USER_AARCH32, Some(Access::Execute));
        assert_eq!(fetch >> 26, 0x20, "lower EL instruction abort");
    }
}
