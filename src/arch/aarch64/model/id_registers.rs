//! What a guest reads from the AArch64 ID registers (group 3: `op0 = 3,
//! op1 = 0, CRn = 0, CRm = 1..=7`), which HCR_EL2.TID3 traps to EL2.
//!
//! The guest sees the core's real values except for the features the
//! hypervisor traps without giving them to the guest (finding F10; F9 for
//! SVE and SME): an instruction or register of a hidden feature is answered
//! with an Undefined Instruction (SVE, SME) or reads as zero (the rest),
//! and an operating system that trusted the ID registers would otherwise
//! crash on the first use (Linux probes SVE from `ID_AA64PFR0_EL1`).
//!
//! | register | field | hidden because |
//! | --- | --- | --- |
//! | `ID_AA64PFR0_EL1` | SVE, RAS, AMU, MPAM | CPTR_EL2.TZ; HCR_EL2.TERR; CPTR_EL2.TAM; MPAM is never enabled for EL1 |
//! | `ID_AA64PFR1_EL1` | SME, MPAM_frac, RAS_frac | CPTR_EL2.TSM; as above |
//! | `ID_AA64ZFR0_EL1`, `ID_AA64SMFR0_EL1` | all | SVE and SME are hidden |
//! | `ID_AA64DFR0_EL1` | PMUVer, PMSVer, TraceVer, TraceFilt, TraceBuffer, BRBE | MDCR_EL2.TPM/TPMCR, TPMS; CPTR_EL2.TTA; MDCR_EL2.TTRF |
//! | `ID_DFR0_EL1` (AArch32 view) | PerfMon, MProfDbg, MMapTrc, CopTrc | as above |
//! | `ID_PFR0_EL1` (AArch32 view) | RAS, AMU | as above |
//!
//! Reserved encodings of the group read as zero on the hardware already;
//! their value passes through unchanged.

/// `(CRm, op2)` of an ID register in the trapped group.
pub(crate) type IdRegister = (u8, u8);

/// `ID_PFR0_EL1`.
pub(crate) const ID_PFR0_EL1: IdRegister = (1, 0);
/// `ID_DFR0_EL1`.
pub(crate) const ID_DFR0_EL1: IdRegister = (1, 2);
/// `ID_AA64PFR0_EL1`.
pub(crate) const ID_AA64PFR0_EL1: IdRegister = (4, 0);
/// `ID_AA64PFR1_EL1`.
pub(crate) const ID_AA64PFR1_EL1: IdRegister = (4, 1);
/// `ID_AA64ZFR0_EL1` (SVE features).
pub(crate) const ID_AA64ZFR0_EL1: IdRegister = (4, 4);
/// `ID_AA64SMFR0_EL1` (SME features).
pub(crate) const ID_AA64SMFR0_EL1: IdRegister = (4, 5);
/// `ID_AA64DFR0_EL1`.
pub(crate) const ID_AA64DFR0_EL1: IdRegister = (5, 0);

/// A 4-bit ID field at bit `shift`.
const fn field(shift: u32) -> u64 {
    0xf << shift
}

/// Fields of `ID_AA64PFR0_EL1` the guest does not see: SVE (bits 35:32), RAS
/// (bits 31:28), AMU (bits 47:44), MPAM (bits 43:40).
const AA64PFR0_HIDDEN: u64 = field(32) | field(28) | field(44) | field(40);
/// `ID_AA64PFR1_EL1`: SME (bits 27:24), RAS_frac (bits 15:12), MPAM_frac (bits 19:16).
const AA64PFR1_HIDDEN: u64 = field(24) | field(12) | field(16);
/// `ID_AA64DFR0_EL1`: PMUVer (bits 11:8), TraceVer (bits 7:4), PMSVer (bits 35:32),
/// TraceFilt (bits 43:40), TraceBuffer (bits 47:44), BRBE (bits 55:52).
const AA64DFR0_HIDDEN: u64 = field(8) | field(4) | field(32) | field(40) | field(44) | field(52);
/// `ID_DFR0_EL1`: PerfMon (bits 27:24), MProfDbg (bits 23:20), MMapTrc (bits 19:16),
/// CopTrc (bits 15:12).
const DFR0_HIDDEN: u64 = field(24) | field(20) | field(16) | field(12);
/// `ID_PFR0_EL1`: RAS (bits 31:28), AMU (bits 23:20).
const PFR0_HIDDEN: u64 = field(28) | field(20);

/// The value the guest reads from ID register `register`, given the core's
/// real value `real`.
pub(crate) fn guest_view(register: IdRegister, real: u64) -> u64 {
    match register {
        ID_AA64PFR0_EL1 => real & !AA64PFR0_HIDDEN,
        ID_AA64PFR1_EL1 => real & !AA64PFR1_HIDDEN,
        ID_AA64ZFR0_EL1 | ID_AA64SMFR0_EL1 => 0,
        ID_AA64DFR0_EL1 => real & !AA64DFR0_HIDDEN,
        ID_DFR0_EL1 => real & !DFR0_HIDDEN,
        ID_PFR0_EL1 => real & !PFR0_HIDDEN,
        _ => real,
    }
}

/// Whether `(op0, op1, CRn, CRm)` is in the trapped ID register group.
pub(crate) fn is_id_register(op0: u8, op1: u8, crn: u8, crm: u8) -> bool {
    op0 == 3 && op1 == 0 && crn == 0 && (1..=7).contains(&crm)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Neoverse-like ID_AA64PFR0_EL1: EL0..EL3 AArch64, FP, AdvSIMD,
    /// GIC 1, RAS 1, SVE 1, AMU 1, CSV2 1, CSV3 1.
    const PFR0: u64 = 0x1101_0011_1111_2222;

    #[test]
    fn f9_sve_sme_and_their_feature_registers_are_hidden() {
        let seen = guest_view(ID_AA64PFR0_EL1, PFR0);
        assert_eq!((seen >> 32) & 0xf, 0, "SVE");
        assert_eq!(
            guest_view(ID_AA64PFR1_EL1, 0x0100_0000) >> 24 & 0xf,
            0,
            "SME"
        );
        assert_eq!(guest_view(ID_AA64ZFR0_EL1, u64::MAX), 0);
        assert_eq!(guest_view(ID_AA64SMFR0_EL1, u64::MAX), 0);
    }

    #[test]
    fn f10_ras_amu_trace_spe_and_pmu_are_hidden_and_the_rest_is_real() {
        let seen = guest_view(ID_AA64PFR0_EL1, PFR0);
        assert_eq!((seen >> 28) & 0xf, 0, "RAS");
        assert_eq!((seen >> 44) & 0xf, 0, "AMU");
        assert_eq!(
            seen & 0xffff_ffff & !field(28),
            PFR0 & 0xffff_ffff & !field(28)
        );
        assert_eq!(seen >> 56, PFR0 >> 56, "CSV2/CSV3 stay");
        // DebugVer 8 (v8.2), TraceVer 1, PMUVer 4, PMSVer 1, BRPs 5.
        let dfr0 = 0x0000_0001_0000_5418u64;
        let seen = guest_view(ID_AA64DFR0_EL1, dfr0);
        assert_eq!(seen, 0x0000_0000_0000_5008, "only DebugVer and BRPs stay");
        assert_eq!(guest_view(ID_DFR0_EL1, 0x0311_1003) & !0xfff, 0);
    }

    #[test]
    fn other_id_registers_and_reserved_encodings_pass_through() {
        // ID_AA64ISAR0_EL1 and ID_AA64MMFR0_EL1.
        assert_eq!(guest_view((6, 0), 0x1234), 0x1234);
        assert_eq!(guest_view((7, 0), 0x5678), 0x5678);
        assert_eq!(guest_view((7, 7), 0), 0);
    }

    #[test]
    fn the_trapped_group_is_crm_1_to_7() {
        assert!(is_id_register(3, 0, 0, 4));
        assert!(!is_id_register(3, 0, 0, 0), "MIDR/MPIDR are not TID3");
        assert!(!is_id_register(3, 1, 0, 4));
        assert!(!is_id_register(3, 0, 1, 4));
    }
}
