//! AArch64 data-abort syndrome decoding for trapped guest MMIO accesses.
//!
//! When a guest load or store hits a stage-2 hole that the hypervisor
//! emulates (a virtual device), the CPU traps to EL2 with `ESR_EL2` holding a
//! data-abort syndrome (Arm ARM, register ESR_EL2, EC 0x24 "Data Abort from a
//! lower Exception level"). [`decode_data_abort`] turns that syndrome into
//! an [`MmioAccess`]: size, direction, register and extension rules.
//! [`fault_status`] classifies the data fault status code (DFSC).
//!
//! The syndrome only describes single-register loads and stores without
//! writeback (ISV = 1). Everything else (load/store pair, writeback, SIMD,
//! exclusives, cache maintenance on a device address, ...) is reported as a
//! [`DecodeError`]; the caller logs it and applies the cell's fault policy.
//!
//! Register 31 in a data abort is the zero register (XZR/WZR), never SP:
//! a store from it writes zero and a load into it is discarded.
//! [`store_data`] and [`complete_load`] apply that rule over the guest's
//! saved `x0..x30`; a caller with its own register file uses
//! [`MmioAccess::target_register`], [`value_from_register`] and
//! [`value_for_register`] directly.
//!
//! Everything here is a pure function of guest-controlled values and never
//! panics.

use core::fmt;

pub(crate) use crate::cell::access::AccessSize;

/// Exception class: unknown reason (an undefined instruction, or an
/// AArch32 call).
pub(crate) const EC_UNKNOWN: u8 = 0x00;
/// Exception class: a trapped WFI or WFE.
pub(crate) const EC_WFX: u8 = 0x01;
/// Exception class: HVC from AArch64.
pub(crate) const EC_HVC64: u8 = 0x16;
/// Exception class: SMC from AArch64 (trapped by HCR_EL2.TSC).
pub(crate) const EC_SMC64: u8 = 0x17;
/// Exception class: a trapped MSR, MRS or system instruction.
pub(crate) const EC_SYSREG: u8 = 0x18;
/// Exception class: instruction abort from a lower Exception level.
pub(crate) const EC_INSTRUCTION_ABORT_LOWER_EL: u8 = 0x20;
/// Exception class: instruction abort without a change of Exception level.
pub(crate) const EC_INSTRUCTION_ABORT_SAME_EL: u8 = 0x21;
/// Exception class of a data abort taken from a lower Exception level.
pub(crate) const EC_DATA_ABORT_LOWER_EL: u8 = 0x24;
/// Exception class of a data abort taken without a change of Exception level.
pub(crate) const EC_DATA_ABORT_SAME_EL: u8 = 0x25;
/// Register number that, in a data-abort syndrome, names XZR/WZR.
pub(crate) const ZERO_REGISTER: u8 = 31;

// ESR_ELx fields (bit positions).
const EC_SHIFT: u32 = 26; // EC, bits [31:26]
const EC_MASK: u64 = 0x3f;
const IL_BIT: u32 = 25; // IL, bit [25]
const ISV_BIT: u32 = 24; // ISV, bit [24]
const SAS_SHIFT: u32 = 22; // SAS, bits [23:22]
const SSE_BIT: u32 = 21; // SSE, bit [21]
const SRT_SHIFT: u32 = 16; // SRT, bits [20:16]
const SRT_MASK: u64 = 0x1f;
const SF_BIT: u32 = 15; // SF, bit [15]
const AR_BIT: u32 = 14; // AR, bit [14]
const FNV_BIT: u32 = 10; // FnV, bit [10]
const CM_BIT: u32 = 8; // CM, bit [8]
const S1PTW_BIT: u32 = 7; // S1PTW, bit [7]
const WNR_BIT: u32 = 6; // WnR, bit [6]
const DFSC_MASK: u64 = 0x3f; // DFSC, bits [5:0]

const fn bit(esr: u64, position: u32) -> bool {
    (esr >> position) & 1 == 1
}

/// Decodes the two-bit SAS field (0 = byte ... 3 = doubleword).
const fn size_from_sas(sas: u64) -> AccessSize {
    match sas & 0b11 {
        0 => AccessSize::Byte,
        1 => AccessSize::Half,
        2 => AccessSize::Word,
        _ => AccessSize::Double,
    }
}

/// A decoded single-register guest load or store to an emulated address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct MmioAccess {
    /// Access width (SAS).
    pub(crate) size: AccessSize,
    /// `true` for a store, `false` for a load (WnR).
    pub(crate) write: bool,
    /// Transfer register number (SRT); 31 means XZR/WZR, see
    /// [`MmioAccess::target_register`].
    pub(crate) register: u8,
    /// A load sign-extends the value to the register width (SSE).
    pub(crate) sign_extend: bool,
    /// The transfer register is an X register; `false` means a W register,
    /// whose upper 32 bits a load clears (SF).
    pub(crate) register_is_64bit: bool,
    /// The instruction has acquire/release semantics (AR).
    pub(crate) acquire_release: bool,
}

impl MmioAccess {
    /// The general-purpose register index the access transfers, or `None`
    /// for the zero register (register 31): a store from it writes zero and
    /// a load into it must be discarded (never written to SP).
    pub(crate) const fn target_register(&self) -> Option<usize> {
        if self.register < ZERO_REGISTER {
            Some(self.register as usize)
        } else {
            None
        }
    }
}

/// Why a syndrome cannot be emulated as a simple MMIO access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum DecodeError {
    /// The exception class is not a data abort (neither 0x24 nor 0x25).
    NotADataAbort {
        /// The exception class found (ESR bits `[31:26]`).
        exception_class: u8,
    },
    /// ISV = 0: the instruction is not described by the syndrome (load/store
    /// pair, writeback addressing, SIMD/FP register, exclusive, ...).
    NoValidSyndrome,
    /// CM = 1: a cache maintenance or address translation instruction
    /// targeted the address.
    CacheMaintenance,
    /// S1PTW = 1: the stage-2 fault happened on the guest's own stage-1
    /// translation table walk (its page tables point into unbacked space).
    StageOneTableWalk,
    /// FnV = 1: FAR_EL2 does not hold the faulting address, so the access
    /// offset inside the page is unknown.
    FaultAddressNotValid,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotADataAbort { exception_class } => {
                write!(f, "not a data abort (EC {exception_class:#04x})")
            }
            Self::NoValidSyndrome => {
                f.write_str("no instruction syndrome (pair, writeback or vector access)")
            }
            Self::CacheMaintenance => f.write_str("cache maintenance on an emulated address"),
            Self::StageOneTableWalk => f.write_str("stage-1 table walk into an emulated address"),
            Self::FaultAddressNotValid => f.write_str("faulting address not valid (FnV)"),
        }
    }
}

/// The exception class field of an ESR value (bits `[31:26]`).
pub(crate) const fn exception_class(esr: u64) -> u8 {
    ((esr >> EC_SHIFT) & EC_MASK) as u8
}

/// Length in bytes of the trapped instruction (IL: 4, or 2 for a 16-bit
/// T32 instruction): how far the caller advances ELR after emulating it.
pub(crate) const fn instruction_length(esr: u64) -> u64 {
    if bit(esr, IL_BIT) { 4 } else { 2 }
}

/// Decodes a data-abort syndrome into the access to emulate.
///
/// Checks, in order: the exception class, CM, S1PTW, FnV, then ISV; the
/// first that rules out emulation is returned as the error.
pub(crate) const fn decode_data_abort(esr: u64) -> Result<MmioAccess, DecodeError> {
    let exception_class = exception_class(esr);
    if exception_class != EC_DATA_ABORT_LOWER_EL && exception_class != EC_DATA_ABORT_SAME_EL {
        return Err(DecodeError::NotADataAbort { exception_class });
    }
    if bit(esr, CM_BIT) {
        return Err(DecodeError::CacheMaintenance);
    }
    if bit(esr, S1PTW_BIT) {
        return Err(DecodeError::StageOneTableWalk);
    }
    if bit(esr, FNV_BIT) {
        return Err(DecodeError::FaultAddressNotValid);
    }
    if !bit(esr, ISV_BIT) {
        return Err(DecodeError::NoValidSyndrome);
    }
    Ok(MmioAccess {
        size: size_from_sas(esr >> SAS_SHIFT),
        write: bit(esr, WNR_BIT),
        register: ((esr >> SRT_SHIFT) & SRT_MASK) as u8,
        sign_extend: bit(esr, SSE_BIT),
        register_is_64bit: bit(esr, SF_BIT),
        acquire_release: bit(esr, AR_BIT),
    })
}

/// Classification of a data fault status code (DFSC, ESR bits `[5:0]`).
///
/// Levels are the translation table level (0 to 3) the fault was found at;
/// codes for levels -1 and -2 (FEAT_LPA2) and all other codes are
/// [`FaultKind::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum FaultKind {
    /// Address size fault (DFSC 0x00..=0x03).
    AddressSize {
        /// Table level 0..=3.
        level: u8,
    },
    /// Translation fault (DFSC 0x04..=0x07): the usual trap for an emulated
    /// device, which has no stage-2 mapping.
    Translation {
        /// Table level 0..=3.
        level: u8,
    },
    /// Access flag fault (DFSC 0x08..=0x0b).
    AccessFlag {
        /// Table level 0..=3.
        level: u8,
    },
    /// Permission fault (DFSC 0x0c..=0x0f), e.g. a write to a read-only
    /// region.
    Permission {
        /// Table level 0..=3.
        level: u8,
    },
    /// Synchronous external abort, not on a table walk (DFSC 0x10).
    SynchronousExternalAbort,
    /// Synchronous external abort on a table walk (DFSC 0x14..=0x17).
    SynchronousExternalAbortOnWalk {
        /// Table level 0..=3.
        level: u8,
    },
    /// Alignment fault (DFSC 0x21).
    Alignment,
    /// Any other status code, raw.
    Other(u8),
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::AddressSize { level } => write!(f, "address size fault, level {level}"),
            Self::Translation { level } => write!(f, "translation fault, level {level}"),
            Self::AccessFlag { level } => write!(f, "access flag fault, level {level}"),
            Self::Permission { level } => write!(f, "permission fault, level {level}"),
            Self::SynchronousExternalAbort => f.write_str("synchronous external abort"),
            Self::SynchronousExternalAbortOnWalk { level } => {
                write!(
                    f,
                    "synchronous external abort on a table walk, level {level}"
                )
            }
            Self::Alignment => f.write_str("alignment fault"),
            Self::Other(code) => write!(f, "fault status {code:#04x}"),
        }
    }
}

/// Whether an exception class is an instruction or data abort.
pub(crate) const fn is_abort(exception_class: u8) -> bool {
    matches!(
        exception_class,
        EC_INSTRUCTION_ABORT_LOWER_EL
            | EC_INSTRUCTION_ABORT_SAME_EL
            | EC_DATA_ABORT_LOWER_EL
            | EC_DATA_ABORT_SAME_EL
    )
}

/// Whether a data abort was a write (WnR).
pub(crate) const fn is_write(esr: u64) -> bool {
    bit(esr, WNR_BIT)
}

/// A trapped system-register access (EC 0x18): ISS = Op0 `[21:20]`, Op2
/// `[19:17]`, Op1 `[16:14]`, CRn `[13:10]`, Rt `[9:5]`, CRm `[4:1]`,
/// Direction `[0]` (1 = read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SysregAccess {
    /// Op0.
    pub(crate) op0: u8,
    /// Op1.
    pub(crate) op1: u8,
    /// CRn.
    pub(crate) crn: u8,
    /// CRm.
    pub(crate) crm: u8,
    /// Op2.
    pub(crate) op2: u8,
    /// The transfer register; 31 is XZR.
    pub(crate) rt: u8,
    /// MRS (a read) rather than MSR or SYS.
    pub(crate) read: bool,
}

impl SysregAccess {
    /// Decodes the ISS of a trapped system-register access.
    pub(crate) const fn decode(esr: u64) -> Self {
        Self {
            op0: ((esr >> 20) & 0b11) as u8,
            op2: ((esr >> 17) & 0b111) as u8,
            op1: ((esr >> 14) & 0b111) as u8,
            crn: ((esr >> 10) & 0b1111) as u8,
            rt: ((esr >> 5) & 0b11111) as u8,
            crm: ((esr >> 1) & 0b1111) as u8,
            read: esr & 1 == 1,
        }
    }

    /// The register as `(op0, op1, CRn, CRm, op2)`.
    pub(crate) const fn encoding(&self) -> (u8, u8, u8, u8, u8) {
        (self.op0, self.op1, self.crn, self.crm, self.op2)
    }
}

/// Classifies the DFSC field of a data-abort syndrome.
pub(crate) const fn fault_status(esr: u64) -> FaultKind {
    let dfsc = (esr & DFSC_MASK) as u8;
    let level = dfsc & 0b11;
    match dfsc {
        0x00..=0x03 => FaultKind::AddressSize { level },
        0x04..=0x07 => FaultKind::Translation { level },
        0x08..=0x0b => FaultKind::AccessFlag { level },
        0x0c..=0x0f => FaultKind::Permission { level },
        0x10 => FaultKind::SynchronousExternalAbort,
        0x14..=0x17 => FaultKind::SynchronousExternalAbortOnWalk { level },
        0x21 => FaultKind::Alignment,
        other => FaultKind::Other(other),
    }
}

/// The value a load writes to its transfer register, given the `raw` value
/// the device returned: masked to the access size, sign-extended if SSE is
/// set, then truncated to 32 bits (upper half zero) for a W register.
pub(crate) const fn value_for_register(access: &MmioAccess, raw: u64) -> u64 {
    let mask = access.size.mask();
    let mut value = raw & mask;
    if access.sign_extend && access.size.bytes() < 8 {
        let sign_bit = (mask >> 1) + 1;
        if value & sign_bit != 0 {
            value |= !mask;
        }
    }
    if !access.register_is_64bit {
        value &= 0xffff_ffff;
    }
    value
}

/// The value a store writes to the device, given the transfer register's
/// content: masked to the access size. Pass 0 for the zero register.
pub(crate) const fn value_from_register(access: &MmioAccess, reg_value: u64) -> u64 {
    reg_value & access.size.mask()
}

/// The value a store writes to the device, read from the guest's saved
/// `x0..x30` (register 31 stores zero), masked to the access size.
pub(crate) fn store_data(access: &MmioAccess, registers: &[u64; 31]) -> u64 {
    let reg_value = match access.target_register() {
        Some(index) => registers.get(index).copied().unwrap_or(0),
        None => 0,
    };
    value_from_register(access, reg_value)
}

/// Completes a load into the guest's saved `x0..x30`: writes
/// [`value_for_register`]`(access, raw)` to the transfer register, or
/// discards it for register 31.
pub(crate) fn complete_load(access: &MmioAccess, registers: &mut [u64; 31], raw: u64) {
    if let Some(slot) = access
        .target_register()
        .and_then(|index| registers.get_mut(index))
    {
        *slot = value_for_register(access, raw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_register_accesses_decode_every_field() {
        // MRS x3, CNTP_CTL_EL0: op0 3, op1 3, CRn 14, CRm 2, op2 1, read.
        let esr = (0x18u64 << 26)
            | (1 << 25)
            | (3 << 20)
            | (1 << 17)
            | (3 << 14)
            | (14 << 10)
            | (3 << 5)
            | (2 << 1)
            | 1;
        let access = SysregAccess::decode(esr);
        assert_eq!(access.encoding(), (3, 3, 14, 2, 1));
        assert_eq!((access.rt, access.read), (3, true));
        assert_eq!(exception_class(esr), EC_SYSREG);
        // MSR ICC_SGI1R_EL1, xzr: a write from the zero register.
        let esr = (0x18u64 << 26) | (3 << 20) | (5 << 17) | (12 << 10) | (31 << 5) | (11 << 1);
        let access = SysregAccess::decode(esr);
        assert_eq!(access.encoding(), (3, 0, 12, 11, 5));
        assert_eq!((access.rt, access.read), (31, false));
    }

    #[test]
    fn abort_classes_and_fault_names() {
        for ec in [0x20, 0x21, 0x24, 0x25] {
            assert!(is_abort(ec));
        }
        assert!(!is_abort(EC_HVC64) && !is_abort(EC_SYSREG));
        assert_eq!(fault_status(0x06).to_string(), "translation fault, level 2");
        assert_eq!(fault_status(0x21).to_string(), "alignment fault");
        assert_eq!(fault_status(0x3f).to_string(), "fault status 0x3f");
        assert!(is_write(1 << 6) && !is_write(0));
    }

    // ESR_EL2 field encoders, one per architectural field.
    /// EC, bits `[31:26]`.
    const fn ec(class: u64) -> u64 {
        class << 26
    }
    /// IL, bit [25]: 1 = 32-bit instruction.
    const IL: u64 = 1 << 25;
    /// ISV, bit [24]: instruction syndrome (bits `[23:14]`) valid.
    const ISV: u64 = 1 << 24;
    /// SAS, bits `[23:22]`: 0 byte, 1 halfword, 2 word, 3 doubleword.
    const fn sas(size: u64) -> u64 {
        size << 22
    }
    /// SSE, bit [21]: sign-extend the loaded value.
    const SSE: u64 = 1 << 21;
    /// SRT, bits `[20:16]`: transfer register number.
    const fn srt(register: u64) -> u64 {
        register << 16
    }
    /// SF, bit [15]: 64-bit (X) transfer register.
    const SF: u64 = 1 << 15;
    /// AR, bit [14]: acquire/release.
    const AR: u64 = 1 << 14;
    /// FnV, bit [10]: FAR not valid.
    const FNV: u64 = 1 << 10;
    /// CM, bit [8]: cache maintenance / address translation instruction.
    const CM: u64 = 1 << 8;
    /// S1PTW, bit [7]: fault on a stage-1 table walk.
    const S1PTW: u64 = 1 << 7;
    /// WnR, bit [6]: 1 = write (store).
    const WNR: u64 = 1 << 6;
    /// DFSC, bits `[5:0]`: translation fault, level 3.
    const DFSC_TRANSLATION_L3: u64 = 0x07;

    /// A lower-EL data abort with a valid syndrome and a level-3 translation
    /// fault, the usual shape of an emulated-MMIO trap.
    const BASE: u64 = ec(0x24) | IL | ISV | DFSC_TRANSLATION_L3;

    #[test]
    fn ldrb_w_zero_extends_into_w_register() {
        // LDRB w3, [x0]
        let esr = BASE | sas(0) | srt(3);
        let access = decode_data_abort(esr).unwrap();
        assert_eq!(
            access,
            MmioAccess {
                size: AccessSize::Byte,
                write: false,
                register: 3,
                sign_extend: false,
                register_is_64bit: false,
                acquire_release: false,
            }
        );
        assert_eq!(access.size.bytes(), 1);
        assert_eq!(value_for_register(&access, 0xdead_beef_cafe_f0f1), 0xf1);
        assert_eq!(instruction_length(esr), 4);
        assert_eq!(fault_status(esr), FaultKind::Translation { level: 3 });
    }

    #[test]
    fn ldrsh_into_w_register_sign_extends_to_32_bits() {
        // LDRSH w5, [x1]: SSE = 1, SF = 0.
        let esr = BASE | sas(1) | SSE | srt(5);
        let access = decode_data_abort(esr).unwrap();
        assert_eq!(access.size, AccessSize::Half);
        assert!(!access.write);
        assert_eq!(access.register, 5);
        assert!(access.sign_extend);
        assert!(!access.register_is_64bit);
        assert!(!access.acquire_release);
        assert_eq!(value_for_register(&access, 0x1234_8001), 0xffff_8001);
        assert_eq!(value_for_register(&access, 0x1234_7001), 0x7001);
    }

    #[test]
    fn ldrsh_into_x_register_sign_extends_to_64_bits() {
        // LDRSH x5, [x1]: SSE = 1, SF = 1.
        let esr = BASE | sas(1) | SSE | srt(5) | SF;
        let access = decode_data_abort(esr).unwrap();
        assert_eq!(access.size, AccessSize::Half);
        assert!(access.sign_extend);
        assert!(access.register_is_64bit);
        assert_eq!(value_for_register(&access, 0x8001), 0xffff_ffff_ffff_8001);
        assert_eq!(value_for_register(&access, 0x7001), 0x7001);
    }

    #[test]
    fn ldrsb_and_ldrsw_sign_extend() {
        // LDRSB x2, [x0]
        let byte = decode_data_abort(BASE | sas(0) | SSE | srt(2) | SF).unwrap();
        assert_eq!(value_for_register(&byte, 0x80), 0xffff_ffff_ffff_ff80);
        // LDRSW x2, [x0]
        let word = decode_data_abort(BASE | sas(2) | SSE | srt(2) | SF).unwrap();
        assert_eq!(
            value_for_register(&word, 0x8000_0000),
            0xffff_ffff_8000_0000
        );
    }

    #[test]
    fn str_w_register() {
        // STR w7, [x2]
        let esr = BASE | sas(2) | srt(7) | WNR;
        let access = decode_data_abort(esr).unwrap();
        assert_eq!(
            access,
            MmioAccess {
                size: AccessSize::Word,
                write: true,
                register: 7,
                sign_extend: false,
                register_is_64bit: false,
                acquire_release: false,
            }
        );
        assert_eq!(access.size.bytes(), 4);
        assert_eq!(
            value_from_register(&access, 0xffff_ffff_1234_5678),
            0x1234_5678
        );
        let mut registers = [0u64; 31];
        registers[7] = 0xaaaa_bbbb_cccc_dddd;
        assert_eq!(store_data(&access, &registers), 0xcccc_dddd);
    }

    #[test]
    fn str_x_register_with_release() {
        // STLR x30, [x2]: SF = 1, AR = 1.
        let esr = BASE | sas(3) | srt(30) | SF | AR | WNR;
        let access = decode_data_abort(esr).unwrap();
        assert_eq!(
            access,
            MmioAccess {
                size: AccessSize::Double,
                write: true,
                register: 30,
                sign_extend: false,
                register_is_64bit: true,
                acquire_release: true,
            }
        );
        assert_eq!(access.size.bytes(), 8);
        assert_eq!(value_from_register(&access, u64::MAX), u64::MAX);
        let mut registers = [0u64; 31];
        registers[30] = 0x0123_4567_89ab_cdef;
        assert_eq!(store_data(&access, &registers), 0x0123_4567_89ab_cdef);
    }

    #[test]
    fn ldr_x_register() {
        // LDR x0, [x1]
        let esr = BASE | sas(3) | srt(0) | SF;
        let access = decode_data_abort(esr).unwrap();
        assert_eq!(
            access,
            MmioAccess {
                size: AccessSize::Double,
                write: false,
                register: 0,
                sign_extend: false,
                register_is_64bit: true,
                acquire_release: false,
            }
        );
        let mut registers = [7u64; 31];
        complete_load(&access, &mut registers, 0xfedc_ba98_7654_3210);
        assert_eq!(registers[0], 0xfedc_ba98_7654_3210);
        assert!(registers[1..].iter().all(|&r| r == 7));
    }

    #[test]
    fn ldr_w_clears_upper_half() {
        // LDR w4, [x1]: SF = 0.
        let access = decode_data_abort(BASE | sas(2) | srt(4)).unwrap();
        let mut registers = [u64::MAX; 31];
        complete_load(&access, &mut registers, 0xffff_ffff_0000_0042);
        assert_eq!(registers[4], 0x42);
    }

    #[test]
    fn zero_register_reads_zero_and_discards_loads() {
        // STR wzr, [x0]
        let store = decode_data_abort(BASE | sas(2) | srt(31) | WNR).unwrap();
        assert_eq!(store.register, 31);
        assert_eq!(store.target_register(), None);
        assert_eq!(store_data(&store, &[u64::MAX; 31]), 0);
        // LDR xzr, [x0]
        let load = decode_data_abort(BASE | sas(3) | srt(31) | SF).unwrap();
        let mut registers = [5u64; 31];
        complete_load(&load, &mut registers, 0x99);
        assert_eq!(registers, [5u64; 31]);
        // A hand-built access with an out-of-range register is also inert.
        let bogus = MmioAccess {
            register: 200,
            ..load
        };
        complete_load(&bogus, &mut registers, 0x99);
        assert_eq!(registers, [5u64; 31]);
        assert_eq!(store_data(&bogus, &registers), 0);
    }

    #[test]
    fn no_valid_syndrome() {
        // STP x0, x1, [x2]: ISV = 0, the rest of bits [23:14] is RES0.
        let esr = (BASE & !ISV) | WNR;
        assert_eq!(decode_data_abort(esr), Err(DecodeError::NoValidSyndrome));
        // The fault status is still available for the log line.
        assert_eq!(fault_status(esr), FaultKind::Translation { level: 3 });
    }

    #[test]
    fn exception_class_mismatch() {
        // EC 0x16: HVC from AArch64.
        let esr = ec(0x16) | IL;
        assert_eq!(
            decode_data_abort(esr),
            Err(DecodeError::NotADataAbort {
                exception_class: 0x16
            })
        );
        // EC 0x20: instruction abort from a lower EL, syndrome bits ignored.
        let esr = ec(0x20) | IL | ISV | sas(2);
        assert_eq!(
            decode_data_abort(esr),
            Err(DecodeError::NotADataAbort {
                exception_class: 0x20
            })
        );
        // EC 0x25: data abort at the same EL is accepted.
        assert!(decode_data_abort((BASE & !ec(0x3f)) | ec(0x25)).is_ok());
    }

    #[test]
    fn cache_maintenance() {
        // DC CIVAC on a device address: CM = 1, WnR = 1, ISV = 0.
        let esr = (BASE & !ISV) | CM | WNR;
        assert_eq!(decode_data_abort(esr), Err(DecodeError::CacheMaintenance));
        // CM wins even if ISV were set.
        assert_eq!(
            decode_data_abort(BASE | CM),
            Err(DecodeError::CacheMaintenance)
        );
    }

    #[test]
    fn table_walk_and_invalid_far() {
        assert_eq!(
            decode_data_abort(BASE | S1PTW),
            Err(DecodeError::StageOneTableWalk)
        );
        assert_eq!(
            decode_data_abort(BASE | FNV),
            Err(DecodeError::FaultAddressNotValid)
        );
    }

    #[test]
    fn instruction_length_bit() {
        assert_eq!(instruction_length(BASE), 4);
        assert_eq!(instruction_length(BASE & !IL), 2);
    }

    #[test]
    fn fault_status_codes() {
        let with_dfsc = |dfsc: u64| fault_status((BASE & !0x3f) | dfsc);
        assert_eq!(with_dfsc(0x02), FaultKind::AddressSize { level: 2 });
        assert_eq!(with_dfsc(0x04), FaultKind::Translation { level: 0 });
        assert_eq!(with_dfsc(0x06), FaultKind::Translation { level: 2 });
        assert_eq!(with_dfsc(0x09), FaultKind::AccessFlag { level: 1 });
        assert_eq!(with_dfsc(0x0f), FaultKind::Permission { level: 3 });
        assert_eq!(with_dfsc(0x10), FaultKind::SynchronousExternalAbort);
        assert_eq!(
            with_dfsc(0x15),
            FaultKind::SynchronousExternalAbortOnWalk { level: 1 }
        );
        assert_eq!(with_dfsc(0x21), FaultKind::Alignment);
        assert_eq!(with_dfsc(0x2b), FaultKind::Other(0x2b));
        assert_eq!(with_dfsc(0x30), FaultKind::Other(0x30));
    }

    #[test]
    fn access_size_helpers() {
        for size in [
            AccessSize::Byte,
            AccessSize::Half,
            AccessSize::Word,
            AccessSize::Double,
        ] {
            assert_eq!(AccessSize::from_bytes(size.bytes()), Some(size));
            assert_eq!(size.mask().count_ones() as u64, size.bytes() * 8);
        }
        assert_eq!(AccessSize::from_bytes(3), None);
        assert_eq!(AccessSize::from_bytes(0), None);
    }

    #[test]
    fn every_syndrome_decodes_without_panicking() {
        // Sweep all of ISS bits [24:6] under both data-abort classes.
        for class in [0x24u64, 0x25] {
            for iss in 0..(1u64 << 19) {
                let esr = ec(class) | IL | (iss << 6) | 0x07;
                if let Ok(access) = decode_data_abort(esr) {
                    assert!(access.register <= 31);
                    let value = value_for_register(&access, u64::MAX);
                    if !access.register_is_64bit {
                        assert_eq!(value >> 32, 0);
                    }
                }
            }
        }
    }

    #[test]
    fn decode_error_display() {
        let text = format!(
            "{}",
            DecodeError::NotADataAbort {
                exception_class: 0x16
            }
        );
        assert_eq!(text, "not a data abort (EC 0x16)");
    }
}
