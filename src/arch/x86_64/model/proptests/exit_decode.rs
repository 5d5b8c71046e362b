//! VM-exit decoding for any raw value, against the SDM's field layout
//! written out here: exit reason (basic reason 15:0, entry failure 31),
//! I/O qualification (size 2:0, direction 3, string 4, REP 5, port 31:16),
//! EPT-violation qualification, interruption information (vector 7:0, type
//! 10:8, error code 11, valid 31), and the register effects of `IN`/`OUT`.

use proptest::prelude::*;

use super::config;
use crate::arch::x86_64::model::exit_decode::{
    EptViolation, ExitInfo, ExitReason, Interruption, InterruptionType, IoAccess, io_read_result,
    io_write_value,
};
use crate::cell::access::Access;

proptest! {
    #![proptest_config(config(20_000))]

    #[test]
    fn exit_reasons_decode(raw in any::<u32>()) {
        let info = ExitInfo::decode(raw);
        prop_assert_eq!(info.entry_failure, raw >> 31 == 1);
        prop_assert_eq!(info.reason, ExitReason::from_basic(raw as u16));
        prop_assert!(!info.reason.name().is_empty());
        if let ExitReason::Other(basic) = info.reason {
            prop_assert_eq!(basic, raw as u16);
            prop_assert!(matches!(basic, 5 | 6 | 35 | 38 | 42 | 56..));
        }
    }

    #[test]
    fn io_qualifications_decode(
        qualification in any::<u64>(),
        rax in any::<u64>(),
        value in any::<u32>(),
    ) {
        let io = IoAccess::decode(qualification);
        prop_assert_eq!(u64::from(io.port), (qualification >> 16) & 0xffff);
        let expected_size = match qualification & 7 {
            0 => 1,
            1 => 2,
            _ => 4,
        };
        prop_assert_eq!(io.size, expected_size);
        prop_assert_eq!(io.input, qualification & 1 << 3 != 0);
        prop_assert_eq!(io.string, qualification & 1 << 4 != 0);
        prop_assert_eq!(io.rep, qualification & 1 << 5 != 0);
        // IN: AL/AX merge into RAX, EAX zero-extends.
        let read = io_read_result(rax, io.size, value);
        let expected = match io.size {
            1 => rax & !0xff | u64::from(value as u8),
            2 => rax & !0xffff | u64::from(value as u16),
            _ => u64::from(value),
        };
        prop_assert_eq!(read, expected);
        // OUT: AL, AX or EAX.
        let written = io_write_value(rax, io.size);
        prop_assert_eq!(u64::from(written), rax & ((1u64 << (8 * u32::from(io.size))) - 1));
    }

    /// Sizes the CPU never reports still have a defined answer.
    #[test]
    fn io_helpers_take_any_size(rax in any::<u64>(), size in any::<u8>(), value in any::<u32>()) {
        let read = io_read_result(rax, size, value);
        let written = io_write_value(rax, size);
        match size {
            1 | 2 => prop_assert_eq!(read >> (8 * size), rax >> (8 * size)),
            _ => {
                prop_assert_eq!(read, u64::from(value));
                prop_assert_eq!(written, rax as u32);
            }
        }
    }

    #[test]
    fn ept_violations_decode(q in any::<u64>()) {
        let violation = EptViolation::decode(q);
        let bit = |n: u32| q >> n & 1 == 1;
        prop_assert_eq!(
            [violation.read, violation.write, violation.fetch],
            [bit(0), bit(1), bit(2)]
        );
        prop_assert_eq!(
            [violation.readable, violation.writable, violation.executable, violation.linear_valid],
            [bit(3), bit(4), bit(5), bit(7)]
        );
        let expected = if bit(2) {
            Access::Execute
        } else if bit(1) {
            Access::Write
        } else {
            Access::Read
        };
        prop_assert_eq!(violation.access(), expected);
    }

    #[test]
    fn interruptions_decode(raw in any::<u32>()) {
        let event = Interruption::decode(raw);
        prop_assert_eq!(event.vector, raw as u8);
        prop_assert_eq!(event.kind.bits(), (raw >> 8 & 7) as u8);
        prop_assert_eq!(InterruptionType::from_bits(event.kind.bits()), event.kind);
        prop_assert_eq!(event.error_code, raw & 1 << 11 != 0);
        prop_assert_eq!(event.valid, raw >> 31 == 1);
        // The defined bits round-trip; bit 12 and the reserved bits go.
        prop_assert_eq!(event.encode(), raw & (0xfff | 1 << 31));
    }
}

#[test]
fn gp_fault_is_a_valid_hardware_exception_with_an_error_code() {
    // In protected mode (CR0.PE).
    let injected = crate::arch::x86_64::model::injection::Exception::GeneralProtection.event(1);
    let event = Interruption::decode(injected.info);
    assert_eq!(event.vector, 13);
    assert_eq!(event.kind, InterruptionType::HardwareException);
    assert!(event.error_code && event.valid);
}
