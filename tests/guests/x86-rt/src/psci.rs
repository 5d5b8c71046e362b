//! PSCI function ids and return codes (Arm DEN 0022), which Bulkhead's
//! x86 back end answers through `VMCALL` as its AArch64 back end does
//! through `HVC` (targets are vCPU indices).

/// `PSCI_VERSION`: `RAX` = major << 16 | minor.
pub const VERSION: u32 = 0x8400_0000;
/// `CPU_OFF`: returns only on failure.
pub const CPU_OFF: u32 = 0x8400_0002;
/// `CPU_ON` (SMC64): `RDI` = target vCPU index, `RSI` = entry, `RDX` = context.
pub const CPU_ON: u32 = 0xC400_0003;
/// `AFFINITY_INFO` (SMC64): `RDI` = target vCPU index, `RSI` = lowest affinity level.
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

#[cfg(test)]
mod tests {
    #[test]
    fn names_status_codes() {
        assert_eq!(super::status_name(-2), "INVALID_PARAMETERS");
        assert_eq!(super::status_name(0), "SUCCESS");
        assert_eq!(super::status_name(7), "unknown");
    }
}
