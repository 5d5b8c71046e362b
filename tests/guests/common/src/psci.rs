//! PSCI function ids and return codes (Arm DEN 0022). Bulkhead answers
//! them through `HVC`/`SMC` on AArch64 (arguments `x1..x3`, targets are
//! virtual MPIDRs) and through `VMCALL` on x86_64 (arguments `RDI`, `RSI`,
//! `RDX`, targets are vCPU indices).

/// `PSCI_VERSION`: result = major << 16 | minor.
pub const VERSION: u32 = 0x8400_0000;
/// `CPU_OFF`: returns only on failure.
pub const CPU_OFF: u32 = 0x8400_0002;
/// `CPU_ON` (SMC64): target, entry, context.
pub const CPU_ON: u32 = 0xC400_0003;
/// `AFFINITY_INFO` (SMC64): target, lowest affinity level.
pub const AFFINITY_INFO: u32 = 0xC400_0004;
/// `SYSTEM_OFF`: does not return on success.
pub const SYSTEM_OFF: u32 = 0x8400_0008;
/// `SYSTEM_RESET`: does not return on success.
pub const SYSTEM_RESET: u32 = 0x8400_0009;

/// Success.
pub const SUCCESS: i64 = 0;
/// The function is not implemented (also SMCCC's "unknown function").
pub const NOT_SUPPORTED: i64 = -1;
/// A parameter is invalid (e.g. `CPU_ON` of a vCPU that does not exist).
pub const INVALID_PARAMETERS: i64 = -2;
/// The caller may not do this.
pub const DENIED: i64 = -3;
/// `CPU_ON`: the target is already on.
pub const ALREADY_ON: i64 = -4;
/// `CPU_ON`: the target is being turned on.
pub const ON_PENDING: i64 = -5;
/// The implementation failed.
pub const INTERNAL_FAILURE: i64 = -6;
/// The target is not present.
pub const NOT_PRESENT: i64 = -7;
/// The target is disabled.
pub const DISABLED: i64 = -8;
/// `CPU_ON`: the entry address is invalid.
pub const INVALID_ADDRESS: i64 = -9;

/// `AFFINITY_INFO`: the target is on.
pub const AFFINITY_ON: i64 = 0;
/// `AFFINITY_INFO`: the target is off.
pub const AFFINITY_OFF: i64 = 1;
/// `AFFINITY_INFO`: the target is being turned on.
pub const AFFINITY_ON_PENDING: i64 = 2;

/// The name of a PSCI return code (`"SUCCESS"`, `"INVALID_PARAMETERS"`, ...).
pub const fn status_name(code: i64) -> &'static str {
    match code {
        SUCCESS => "SUCCESS",
        NOT_SUPPORTED => "NOT_SUPPORTED",
        INVALID_PARAMETERS => "INVALID_PARAMETERS",
        DENIED => "DENIED",
        ALREADY_ON => "ALREADY_ON",
        ON_PENDING => "ON_PENDING",
        INTERNAL_FAILURE => "INTERNAL_FAILURE",
        NOT_PRESENT => "NOT_PRESENT",
        DISABLED => "DISABLED",
        INVALID_ADDRESS => "INVALID_ADDRESS",
        _ => "unknown",
    }
}

/// Whether `function_id` is a PSCI call (SMC32/SMC64 standard secure
/// service, functions 0x00..=0x1f).
pub const fn is_psci(function_id: u32) -> bool {
    function_id & 0xBFFF_FFE0 == 0x8400_0000
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_and_classifies() {
        assert_eq!(super::status_name(-2), "INVALID_PARAMETERS");
        assert_eq!(super::status_name(0), "SUCCESS");
        assert_eq!(super::status_name(7), "unknown");
        assert!(super::is_psci(super::CPU_ON) && super::is_psci(super::SYSTEM_OFF));
        // Bulkhead's CELL_INFO and a function past PSCI's range are not.
        assert!(!super::is_psci(0xC600_0001) && !super::is_psci(0x8400_0020));
    }
}
