//! `XSETBV` in a cell: which XCR0 values a guest may set (finding F1).
//!
//! `XSETBV` always exits. XCR0 is not part of the VMCS: the hypervisor
//! writes the guest's value with its own `XSETBV` in VMX root, where the
//! CPU applies the same checks, so a value the CPU would refuse must never
//! get that far (a fault in root mode panics the hypervisor). [`check`]
//! applies every `#GP` rule of the SDM (Vol. 2B "XSETBV", Vol. 1 13.3
//! "Enabling the XSAVE Feature Set and XSAVE-Enabled Features"):
//!
//! - only CPL 0 may execute it (the exit comes before the CPU's own CPL
//!   check on some implementations, Bochs among them);
//! - ECX must be 0: XCR0 is the only writable extended control register;
//! - bit 0 (x87) must be set;
//! - AVX (bit 2) needs SSE (bit 1);
//! - the AVX-512 bits (5 opmask, 6 ZMM_Hi256, 7 Hi16_ZMM) are all set or
//!   all clear, and set only with AVX;
//! - the MPX bits (3 BNDREGS, 4 BNDCSR) are equal;
//! - the AMX bits (17 TILECFG, 18 TILEDATA) are equal;
//! - every bit is one the CPU supports in XCR0 (CPUID leaf 0xD subleaf 0,
//!   EDX:EAX), which also keeps out the supervisor states of IA32_XSS.
//!
//! A refused value gets `#GP(0)` in the guest.

use core::fmt;

/// XCR0 bit 0: x87 state.
pub(crate) const X87: u64 = 1 << 0;
/// XCR0 bit 1: SSE state.
pub(crate) const SSE: u64 = 1 << 1;
/// XCR0 bit 2: AVX state (upper halves of YMM0-15).
pub(crate) const AVX: u64 = 1 << 2;
/// XCR0 bit 3: MPX BNDREGS.
pub(crate) const BNDREGS: u64 = 1 << 3;
/// XCR0 bit 4: MPX BNDCSR.
pub(crate) const BNDCSR: u64 = 1 << 4;
/// XCR0 bits 5, 6, 7: AVX-512 opmask, ZMM_Hi256, Hi16_ZMM.
pub(crate) const AVX512: u64 = 0b111 << 5;
/// XCR0 bit 17: AMX TILECFG.
pub(crate) const TILECFG: u64 = 1 << 17;
/// XCR0 bit 18: AMX TILEDATA.
pub(crate) const TILEDATA: u64 = 1 << 18;

/// XCR0 when a vCPU (re)starts: x87 only, the power-on value.
pub(crate) const RESET: u64 = X87;

/// Why an `XSETBV` is refused (each one is a `#GP(0)` on hardware).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Executed at CPL > 0.
    NotCpl0(u8),
    /// ECX names an XCR other than XCR0.
    NotXcr0(u32),
    /// Bit 0 (x87) clear.
    X87Clear,
    /// AVX without SSE.
    AvxWithoutSse,
    /// Some, not all, of the AVX-512 bits.
    PartialAvx512,
    /// AVX-512 without AVX.
    Avx512WithoutAvx,
    /// BNDREGS and BNDCSR differ.
    PartialMpx,
    /// TILECFG and TILEDATA differ.
    PartialAmx,
    /// Bits the CPU does not support in XCR0.
    Unsupported(u64),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotCpl0(cpl) => write!(f, "from CPL {cpl}"),
            Self::NotXcr0(ecx) => write!(f, "XCR{ecx} is not writable"),
            Self::X87Clear => f.write_str("x87 (bit 0) clear"),
            Self::AvxWithoutSse => f.write_str("AVX without SSE"),
            Self::PartialAvx512 => f.write_str("AVX-512 bits 5-7 not all equal"),
            Self::Avx512WithoutAvx => f.write_str("AVX-512 without AVX"),
            Self::PartialMpx => f.write_str("MPX bits 3 and 4 differ"),
            Self::PartialAmx => f.write_str("AMX bits 17 and 18 differ"),
            Self::Unsupported(bits) => write!(f, "unsupported bits {bits:#x}"),
        }
    }
}

/// Whether `XSETBV` with `ECX` = `ecx` and `EDX:EAX` = `value`, executed
/// at `cpl`, may be carried out on a CPU whose XCR0 supports `supported`
/// (CPUID.(EAX=0xD,ECX=0):EDX:EAX). `Ok` is the value to load.
pub(crate) fn check(cpl: u8, ecx: u32, value: u64, supported: u64) -> Result<u64, Refusal> {
    if cpl != 0 {
        return Err(Refusal::NotCpl0(cpl));
    }
    if ecx != 0 {
        return Err(Refusal::NotXcr0(ecx));
    }
    if value & X87 == 0 {
        return Err(Refusal::X87Clear);
    }
    if value & AVX != 0 && value & SSE == 0 {
        return Err(Refusal::AvxWithoutSse);
    }
    let avx512 = value & AVX512;
    if avx512 != 0 && avx512 != AVX512 {
        return Err(Refusal::PartialAvx512);
    }
    if avx512 != 0 && value & AVX == 0 {
        return Err(Refusal::Avx512WithoutAvx);
    }
    if (value & BNDREGS == 0) != (value & BNDCSR == 0) {
        return Err(Refusal::PartialMpx);
    }
    if (value & TILECFG == 0) != (value & TILEDATA == 0) {
        return Err(Refusal::PartialAmx);
    }
    let unsupported = value & !supported;
    if unsupported != 0 {
        return Err(Refusal::Unsupported(unsupported));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Skylake-X: x87, SSE, AVX, MPX, AVX-512, PKRU.
    const SKYLAKE_X: u64 = 0x2ff;
    /// A Sapphire Rapids: also AMX.
    const SAPPHIRE_RAPIDS: u64 = 0x602e7;

    #[test]
    fn f1_valid_values_are_accepted() {
        for value in [X87, X87 | SSE, X87 | SSE | AVX, 0x7 | AVX512, 0x1f, 0x2ff] {
            assert_eq!(check(0, 0, value, SKYLAKE_X), Ok(value), "{value:#x}");
        }
        assert_eq!(check(0, 0, 0x602e7, SAPPHIRE_RAPIDS), Ok(0x602e7));
    }

    #[test]
    fn f1_the_values_the_review_names_are_refused() {
        // 0x5: AVX without SSE; 0xe5 the same with AVX-512; ECX = 1.
        assert_eq!(check(0, 0, 0x5, SKYLAKE_X), Err(Refusal::AvxWithoutSse));
        assert_eq!(check(0, 0, 0xe5, SKYLAKE_X), Err(Refusal::AvxWithoutSse));
        assert_eq!(check(0, 1, 0x3, SKYLAKE_X), Err(Refusal::NotXcr0(1)));
        // 0x21 / 0x61: partial AVX-512.
        assert_eq!(check(0, 0, 0x27, SKYLAKE_X), Err(Refusal::PartialAvx512));
        assert_eq!(check(0, 0, 0x67, SKYLAKE_X), Err(Refusal::PartialAvx512));
        assert_eq!(check(0, 0, 0xa7, SKYLAKE_X), Err(Refusal::PartialAvx512));
    }

    #[test]
    fn f1_every_sdm_rule_refuses() {
        assert_eq!(check(3, 0, 0x3, SKYLAKE_X), Err(Refusal::NotCpl0(3)));
        assert_eq!(check(1, 0, 0x1, SKYLAKE_X), Err(Refusal::NotCpl0(1)));
        assert_eq!(
            check(0, 0xffff_ffff, 0x3, SKYLAKE_X),
            Err(Refusal::NotXcr0(0xffff_ffff))
        );
        assert_eq!(check(0, 0, 0, SKYLAKE_X), Err(Refusal::X87Clear));
        assert_eq!(check(0, 0, SSE, SKYLAKE_X), Err(Refusal::X87Clear));
        assert_eq!(check(0, 0, 0xe3, SKYLAKE_X), Err(Refusal::Avx512WithoutAvx));
        assert_eq!(check(0, 0, 0x0b, SKYLAKE_X), Err(Refusal::PartialMpx));
        assert_eq!(check(0, 0, 0x13, SKYLAKE_X), Err(Refusal::PartialMpx));
        assert_eq!(
            check(0, 0, 0x200e7, SAPPHIRE_RAPIDS),
            Err(Refusal::PartialAmx)
        );
        assert_eq!(
            check(0, 0, 0x400e7, SAPPHIRE_RAPIDS),
            Err(Refusal::PartialAmx)
        );
    }

    #[test]
    fn f1_only_supported_bits_are_accepted() {
        // AVX on a CPU with x87 and SSE only.
        assert_eq!(check(0, 0, 0x7, 0x3), Err(Refusal::Unsupported(AVX)));
        // AMX on a Skylake-X; bit 63 and the IA32_XSS-only PT state (8).
        assert_eq!(
            check(0, 0, 0x602e7, SKYLAKE_X),
            Err(Refusal::Unsupported(0x60000))
        );
        assert_eq!(
            check(0, 0, 1 << 63 | 0x3, SKYLAKE_X),
            Err(Refusal::Unsupported(1 << 63))
        );
        assert_eq!(
            check(0, 0, 0x103, SKYLAKE_X),
            Err(Refusal::Unsupported(0x100))
        );
    }

    #[test]
    fn f1_no_refused_value_passes_whatever_the_bits() {
        // Every combination of the low 8 bits plus AMX: accepted values
        // satisfy every rule (what the CPU checks in VMX root).
        for value in (0..256u64).chain((0..256).map(|v| v | TILECFG | TILEDATA)) {
            if let Ok(v) = check(0, 0, value, SAPPHIRE_RAPIDS) {
                assert!(v & X87 != 0);
                assert!(v & AVX == 0 || v & SSE != 0);
                assert!(v & AVX512 == 0 || (v & AVX512 == AVX512 && v & AVX != 0));
                assert_eq!(v & BNDREGS == 0, v & BNDCSR == 0);
                assert_eq!(v & !SAPPHIRE_RAPIDS, 0);
            }
        }
        assert_eq!(RESET, 1);
        assert_eq!(check(0, 0, RESET, 0x1), Ok(1));
    }

    #[test]
    fn refusals_name_themselves() {
        assert_eq!(Refusal::NotCpl0(3).to_string(), "from CPL 3");
        assert_eq!(
            Refusal::Unsupported(0x60000).to_string(),
            "unsupported bits 0x60000"
        );
        assert_eq!(Refusal::AvxWithoutSse.to_string(), "AVX without SSE");
    }
}
