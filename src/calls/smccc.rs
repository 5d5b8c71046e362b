//! SMC Calling Convention: function ids, Arm architecture calls, return codes.
//!
//! A guest calls the hypervisor with `HVC #0` or `SMC #0` (both conduits are
//! answered identically): the function id in `w0`, arguments in `x1..x3`,
//! results in `x0..x3` (Arm DEN 0028, "SMC Calling Convention").
//!
//! A function id is 32 bits (the upper half of `x0` is ignored):
//!
//! | bits  | field                                                      |
//! | ----- | ---------------------------------------------------------- |
//! | 31    | 1 = fast call (atomic); 0 = yielding call (never answered) |
//! | 30    | 1 = SMC64/HVC64 convention; 0 = SMC32/HVC32                |
//! | 29:24 | owning service (0: Arm architecture calls, 4: PSCI, ...)  |
//! | 23:16 | reserved, must be zero                                     |
//! | 15:0  | function number within the service                         |
//!
//! SMC32 calls take 32-bit arguments: [`narrow_args`] zeroes the upper half
//! of each argument register before a call is decoded, so a 32-bit caller's
//! stale upper bits can never leak into an address or an index.
//!
//! Bulkhead reports SMCCC **1.1** ([`IMPLEMENTED_VERSION`]): the version that
//! introduced `SMCCC_ARCH_FEATURES` and the firmware workaround calls, and
//! the one whose callee preserves `x4..x17`. Bulkhead writes back at most
//! `x0..x3`, so it honours that. SMCCC 1.2's extra argument and result
//! registers (`x4..x17`) are not used by any call Bulkhead answers, so it
//! does not claim 1.2.
//!
//! Return codes: the SMCCC codes below are those of the Arm architecture
//! service (owner 0). **PSCI's codes differ** from -2 on: SMCCC's -2 is
//! `NOT_REQUIRED` and -3 `INVALID_PARAMETER`, PSCI's -2 is
//! `INVALID_PARAMETERS` and -3 `DENIED` (see
//! [`PsciError`](super::psci::PsciError)). Only -1, "not supported", means
//! the same everywhere. Negative codes are written back sign-extended to 64
//! bits ([`return_code`]), so SMC32 and SMC64 callers both read -1 as -1.

/// Bit 31: fast call (the call completes atomically, as every call here).
pub(crate) const FAST_CALL: u32 = 1 << 31;
/// Bit 30: SMC64/HVC64 calling convention (64-bit arguments and results).
pub(crate) const SMC64: u32 = 1 << 30;
/// Position of the owning-service field (bits 29:24).
pub(crate) const OWNER_SHIFT: u32 = 24;
/// Width mask of the owning-service field, after shifting.
pub(crate) const OWNER_MASK: u32 = 0x3f;
/// Mask of the function-number field (bits 15:0).
#[cfg(test)]
pub(crate) const FUNCTION_NUMBER_MASK: u32 = 0xffff;

/// Owner 0: Arm Architecture Calls (SMCCC version, features, workarounds).
#[cfg(test)]
pub(crate) const OWNER_ARM_ARCH: u8 = 0;
// Owners 1, 2, 3 (CPU, SiP and OEM service calls) and 5 (Standard
// Hypervisor Service Calls) are answered by nobody here: their ids decode
// as unknown calls.
/// Owner 4: Standard Secure Service Calls (PSCI lives here).
#[cfg(any(test, target_arch = "aarch64"))]
pub(crate) const OWNER_STANDARD_SECURE: u8 = 4;
/// Owner 6: Vendor Specific Hypervisor Service Calls (Bulkhead's own ABI).
pub(crate) const OWNER_VENDOR_HYPERVISOR: u8 = 6;

/// General service query: number of functions the service implements.
pub(crate) const QUERY_CALL_COUNT: u16 = 0xff00;
/// General service query: the service's UID, in `w0..w3`.
pub(crate) const QUERY_CALL_UID: u16 = 0xff01;
/// General service query: the service's revision, major in `w0`, minor in
/// `w1`.
pub(crate) const QUERY_REVISION: u16 = 0xff03;

/// `SMCCC_VERSION` (SMC32): which version of the convention is implemented.
pub(crate) const SMCCC_VERSION: u32 = 0x8000_0000;
/// `SMCCC_ARCH_FEATURES(w1 = arch function id)` (SMC32): is that Arm
/// architecture call implemented, and with which flags.
pub(crate) const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;
/// `SMCCC_ARCH_SOC_ID(w1 = type)` (SMC32): SoC identification. Not offered
/// to guests.
pub(crate) const SMCCC_ARCH_SOC_ID: u32 = 0x8000_0002;
/// `TRNG_VERSION` (SMC32, Arm True Random Number Generator firmware
/// interface, DEN0098): guests probe it; Bulkhead offers no TRNG and answers
/// NOT_SUPPORTED, the interface's own "absent" answer.
pub(crate) const TRNG_VERSION: u32 = 0x8400_0050;
/// `TRNG_FEATURES` (SMC32): see [`TRNG_VERSION`].
pub(crate) const TRNG_FEATURES: u32 = 0x8400_0051;

/// `SMCCC_ARCH_WORKAROUND_1` (SMC32): branch-predictor invalidation,
/// CVE-2017-5715 (Spectre v2).
pub(crate) const ARCH_WORKAROUND_1: u32 = 0x8000_8000;
/// `SMCCC_ARCH_WORKAROUND_2(w1 = enable)` (SMC32): toggle the dynamic
/// CVE-2018-3639 (speculative store bypass) mitigation on the calling PE.
pub(crate) const ARCH_WORKAROUND_2: u32 = 0x8000_7fff;
/// `SMCCC_ARCH_WORKAROUND_3` (SMC32): branch-history mitigation,
/// CVE-2022-23960 (Spectre-BHB), also covering what workaround 1 does.
pub(crate) const ARCH_WORKAROUND_3: u32 = 0x8000_3fff;

/// The SMCCC version Bulkhead implements, as `SMCCC_VERSION` returns it:
/// bits 30:16 major, bits 15:0 minor, so 1.1 (see the module docs for why
/// not 1.2).
pub(crate) const IMPLEMENTED_VERSION: u32 = version(1, 1);

/// SMCCC return code: success.
pub(crate) const SUCCESS: i32 = 0;
/// SMCCC return code: unknown function id or function not implemented.
pub(crate) const NOT_SUPPORTED: i32 = -1;
/// SMCCC return code: the call is implemented but not needed on this PE.
#[cfg(test)]
pub(crate) const NOT_REQUIRED: i32 = -2;
/// SMCCC return code: a parameter is invalid (SMCCC's -3; PSCI's differs).
#[cfg(test)]
pub(crate) const INVALID_PARAMETER: i32 = -3;

/// The calling convention a function id selects (bit 30).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Convention {
    /// SMC32/HVC32: 32-bit arguments and results (`w` registers).
    Smc32,
    /// SMC64/HVC64: 64-bit arguments and results (`x` registers).
    Smc64,
}

impl Convention {
    /// The convention `function_id` uses.
    pub(crate) const fn of(function_id: u32) -> Self {
        if is_smc64(function_id) {
            Self::Smc64
        } else {
            Self::Smc32
        }
    }
}

/// The function id a guest passed in `x0`: SMCCC only defines `w0`, so the
/// upper half of the register is ignored.
pub(crate) const fn function_id(x0: u64) -> u32 {
    x0 as u32
}

/// Whether `function_id` is a fast call (bit 31).
#[cfg(test)]
pub(crate) const fn is_fast_call(function_id: u32) -> bool {
    function_id & FAST_CALL != 0
}

/// Whether `function_id` uses the SMC64/HVC64 convention (bit 30).
pub(crate) const fn is_smc64(function_id: u32) -> bool {
    function_id & SMC64 != 0
}

/// The owning service of `function_id` (bits 29:24).
#[cfg(any(test, target_arch = "aarch64"))]
pub(crate) const fn owner(function_id: u32) -> u8 {
    ((function_id >> OWNER_SHIFT) & OWNER_MASK) as u8
}

/// The function number of `function_id` within its service (bits 15:0).
#[cfg(test)]
pub(crate) const fn function_number(function_id: u32) -> u16 {
    (function_id & FUNCTION_NUMBER_MASK) as u16
}

/// Builds a fast-call function id. `owner` is truncated to its 6 bits.
pub(crate) const fn fast_call(convention: Convention, owner: u8, number: u16) -> u32 {
    let smc64 = match convention {
        Convention::Smc32 => 0,
        Convention::Smc64 => SMC64,
    };
    FAST_CALL | smc64 | ((owner as u32 & OWNER_MASK) << OWNER_SHIFT) | number as u32
}

/// An SMCCC version number as `SMCCC_VERSION` returns it (bit 31 clear).
pub(crate) const fn version(major: u16, minor: u16) -> u32 {
    ((major as u32 & 0x7fff) << 16) | minor as u32
}

/// The argument registers as the call sees them: for an SMC32 function id
/// only the lower 32 bits of each register are defined, so the upper halves
/// are zeroed; SMC64 arguments pass unchanged.
pub(crate) const fn narrow_args(function_id: u32, args: [u64; 3]) -> [u64; 3] {
    if is_smc64(function_id) {
        args
    } else {
        [
            args[0] & 0xffff_ffff,
            args[1] & 0xffff_ffff,
            args[2] & 0xffff_ffff,
        ]
    }
}

/// A (possibly negative) 32-bit return code as the 64-bit register value
/// written back: sign-extended, so `w0` and `x0` both read as the code.
pub(crate) const fn return_code(code: i32) -> u64 {
    code as i64 as u64
}

/// A 32-bit result that arrived in a 64-bit register (for instance from
/// firmware, which may leave the upper half zero or undefined), normalised
/// the way [`return_code`] writes codes: the low 32 bits, sign-extended.
pub(crate) const fn normalize_smc32_result(x0: u64) -> u64 {
    return_code(x0 as u32 as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_of_known_ids() {
        for id in [
            SMCCC_VERSION,
            SMCCC_ARCH_FEATURES,
            SMCCC_ARCH_SOC_ID,
            ARCH_WORKAROUND_1,
            ARCH_WORKAROUND_2,
            ARCH_WORKAROUND_3,
        ] {
            assert!(is_fast_call(id), "{id:#x}");
            assert!(!is_smc64(id), "{id:#x}");
            assert_eq!(owner(id), OWNER_ARM_ARCH, "{id:#x}");
            assert_eq!(Convention::of(id), Convention::Smc32);
        }
        assert_eq!(function_number(ARCH_WORKAROUND_1), 0x8000);
        assert_eq!(function_number(ARCH_WORKAROUND_2), 0x7fff);
        assert_eq!(function_number(ARCH_WORKAROUND_3), 0x3fff);

        // PSCI CPU_ON64 and Bulkhead's CELL_INFO.
        assert_eq!(owner(0xc400_0003), OWNER_STANDARD_SECURE);
        assert_eq!(Convention::of(0xc400_0003), Convention::Smc64);
        assert_eq!(owner(0xc600_0001), OWNER_VENDOR_HYPERVISOR);
        assert_eq!(function_number(0xc600_ff01), QUERY_CALL_UID);
        assert!(!is_fast_call(0x0400_0003));
    }

    #[test]
    fn building_ids() {
        assert_eq!(
            fast_call(Convention::Smc32, OWNER_ARM_ARCH, 0x8000),
            ARCH_WORKAROUND_1
        );
        assert_eq!(
            fast_call(Convention::Smc64, OWNER_STANDARD_SECURE, 3),
            0xc400_0003
        );
        assert_eq!(
            fast_call(Convention::Smc32, OWNER_VENDOR_HYPERVISOR, QUERY_CALL_UID),
            0x8600_ff01
        );
        // The owner is truncated to its field, never spills into bit 30.
        assert_eq!(fast_call(Convention::Smc32, 0xff, 0), 0xbf00_0000);
        assert_eq!(OWNER_STANDARD_SECURE, 4);
    }

    #[test]
    fn version_and_codes() {
        assert_eq!(IMPLEMENTED_VERSION, 0x1_0001);
        assert_eq!(version(1, 2), 0x1_0002);
        assert_eq!(return_code(SUCCESS), 0);
        assert_eq!(return_code(NOT_SUPPORTED), u64::MAX);
        assert_eq!(return_code(NOT_REQUIRED), (-2i64) as u64);
        assert_eq!(return_code(INVALID_PARAMETER), (-3i64) as u64);
        assert_eq!(normalize_smc32_result(0xffff_ffff), u64::MAX);
        assert_eq!(normalize_smc32_result(0xdead_beef_0000_0001), 1);
    }

    #[test]
    fn function_id_ignores_upper_half_of_x0() {
        assert_eq!(function_id(0xffff_ffff_8400_0000), 0x8400_0000);
    }

    #[test]
    fn smc32_arguments_are_narrowed() {
        let args = [0x1_2345_6789, u64::MAX, 7];
        assert_eq!(
            narrow_args(SMCCC_ARCH_FEATURES, args),
            [0x2345_6789, 0xffff_ffff, 7]
        );
        assert_eq!(narrow_args(0xc400_0003, args), args);
    }
}
