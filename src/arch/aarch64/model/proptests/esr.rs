//! Syndrome decoding for any 64-bit ESR value, and completing the decoded
//! loads and stores, against a reference written here from the Arm ARM
//! field layout (EC 31:26, IL 25, ISV 24, SAS 23:22, SSE 21, SRT 20:16,
//! SF 15, AR 14, FnV 10, CM 8, S1PTW 7, WnR 6, DFSC 5:0).

use proptest::prelude::*;

use super::config;
use crate::arch::aarch64::model::esr::{
    AccessSize, DecodeError, FaultKind, MmioAccess, SysregAccess, complete_load, decode_data_abort,
    exception_class, fault_status, instruction_length, is_abort, is_write, store_data,
    value_for_register,
};

fn field(esr: u64, shift: u32, bits: u32) -> u64 {
    (esr >> shift) & ((1 << bits) - 1)
}

/// ESR values: anything, or a data abort with a valid syndrome and random
/// fields (so that the decoded path is reached often).
fn esr() -> impl Strategy<Value = u64> {
    let data_abort =
        (any::<u64>(), prop::sample::select(vec![0x24u64, 0x25])).prop_map(|(bits, class)| {
            let bits = bits & !(0x3f << 26) & !(1 << 8 | 1 << 7 | 1 << 10);
            bits | class << 26 | 1 << 24
        });
    prop_oneof![1 => any::<u64>(), 2 => data_abort]
}

/// A load's register value, sign extension written with casts.
fn reference_load(size: AccessSize, sign_extend: bool, sixty_four: bool, raw: u64) -> u64 {
    let value = match (size, sign_extend) {
        (AccessSize::Byte, false) => u64::from(raw as u8),
        (AccessSize::Half, false) => u64::from(raw as u16),
        (AccessSize::Word, false) => u64::from(raw as u32),
        (AccessSize::Byte, true) => raw as u8 as i8 as i64 as u64,
        (AccessSize::Half, true) => raw as u16 as i16 as i64 as u64,
        (AccessSize::Word, true) => raw as u32 as i32 as i64 as u64,
        (AccessSize::Double, _) => raw,
    };
    if sixty_four {
        value
    } else {
        u64::from(value as u32)
    }
}

proptest! {
    #![proptest_config(config(20_000))]

    /// Decoding never panics, accepts exactly the emulable syndromes, in
    /// the documented order of checks, and decodes every field.
    #[test]
    fn data_aborts_decode_as_the_reference(esr in esr()) {
        let class = field(esr, 26, 6) as u8;
        prop_assert_eq!(exception_class(esr), class);
        prop_assert_eq!(instruction_length(esr), if field(esr, 25, 1) == 1 { 4 } else { 2 });
        prop_assert_eq!(is_write(esr), field(esr, 6, 1) == 1);
        prop_assert_eq!(is_abort(class), matches!(class, 0x20 | 0x21 | 0x24 | 0x25));
        let expected = if class != 0x24 && class != 0x25 {
            Err(DecodeError::NotADataAbort { exception_class: class })
        } else if field(esr, 8, 1) == 1 {
            Err(DecodeError::CacheMaintenance)
        } else if field(esr, 7, 1) == 1 {
            Err(DecodeError::StageOneTableWalk)
        } else if field(esr, 10, 1) == 1 {
            Err(DecodeError::FaultAddressNotValid)
        } else if field(esr, 24, 1) == 0 {
            Err(DecodeError::NoValidSyndrome)
        } else {
            Ok(MmioAccess {
                size: AccessSize::from_bytes(1 << field(esr, 22, 2)).unwrap_or(AccessSize::Byte),
                write: field(esr, 6, 1) == 1,
                register: field(esr, 16, 5) as u8,
                sign_extend: field(esr, 21, 1) == 1,
                register_is_64bit: field(esr, 15, 1) == 1,
                acquire_release: field(esr, 14, 1) == 1,
            })
        };
        let decoded = decode_data_abort(esr);
        prop_assert_eq!(decoded, expected);
        match decoded {
            Ok(access) => {
                prop_assert!([1, 2, 4, 8].contains(&access.size.bytes()));
                prop_assert!(access.register <= 31);
                prop_assert_eq!(access.target_register().is_none(), access.register == 31);
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
        let status = fault_status(esr);
        prop_assert!(!status.to_string().is_empty());
        let dfsc = field(esr, 0, 6) as u8;
        let level = dfsc & 3;
        let expected_status = match dfsc >> 2 {
            0 => FaultKind::AddressSize { level },
            1 => FaultKind::Translation { level },
            2 => FaultKind::AccessFlag { level },
            3 => FaultKind::Permission { level },
            5 => FaultKind::SynchronousExternalAbortOnWalk { level },
            _ if dfsc == 0x10 => FaultKind::SynchronousExternalAbort,
            _ if dfsc == 0x21 => FaultKind::Alignment,
            _ => FaultKind::Other(dfsc),
        };
        prop_assert_eq!(status, expected_status);
        let sysreg = SysregAccess::decode(esr);
        prop_assert_eq!(
            sysreg.encoding(),
            (
                field(esr, 20, 2) as u8,
                field(esr, 14, 3) as u8,
                field(esr, 10, 4) as u8,
                field(esr, 1, 4) as u8,
                field(esr, 17, 3) as u8,
            )
        );
        prop_assert_eq!((sysreg.rt, sysreg.read), (field(esr, 5, 5) as u8, esr & 1 == 1));
    }

    /// A load writes exactly its transfer register (never one for XZR),
    /// sign-extended as the reference says; a store reads it (zero for XZR)
    /// masked to the access size.
    #[test]
    fn loads_and_stores_complete_as_the_reference(
        esr in esr(),
        registers in prop::array::uniform31(any::<u64>()),
        raw in any::<u64>(),
    ) {
        let Ok(access) = decode_data_abort(esr) else {
            return Ok(());
        };
        let expected = reference_load(
            access.size,
            access.sign_extend,
            access.register_is_64bit,
            raw,
        );
        prop_assert_eq!(value_for_register(&access, raw), expected);
        let mut after = registers;
        complete_load(&access, &mut after, raw);
        for (index, (&old, &new)) in registers.iter().zip(&after).enumerate() {
            if index == usize::from(access.register) {
                prop_assert_eq!(new, expected);
            } else {
                prop_assert_eq!(new, old, "x{} changed by a load into {}", index, access.register);
            }
        }
        let source = registers.get(usize::from(access.register)).copied().unwrap_or(0);
        prop_assert_eq!(store_data(&access, &registers), source & access.size.mask());
    }
}
