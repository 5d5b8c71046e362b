//! VMX MSR bitmap: which `RDMSR`/`WRMSR`s a cell executes without a VM exit.
//!
//! One 4 KiB page (SDM 24.6.9 "MSR-Bitmap Address"), one bit an MSR, LSB
//! first; a set bit makes the access exit:
//!
//! | bytes        | bitmap                                        |
//! |--------------|-----------------------------------------------|
//! | `0..1024`    | reads of MSRs `0x0000_0000..=0x0000_1fff`     |
//! | `1024..2048` | reads of MSRs `0xc000_0000..=0xc000_1fff`     |
//! | `2048..3072` | writes of MSRs `0x0000_0000..=0x0000_1fff`    |
//! | `3072..4096` | writes of MSRs `0xc000_0000..=0xc000_1fff`    |
//!
//! An MSR outside both ranges always exits.
//!
//! The cell policy ([`MsrBitmap::cell_policy`], docs/x86.md) passes
//! [`PASS_THROUGH`] through for reads and writes and [`READ_ONLY`] for
//! reads only; every other access exits (and the hypervisor injects
//! `#GP(0)`, or for `IA32_APIC_BASE` writes and ICR writes handles it).
//!
//! The speculation-control MSRs pass through where the CPU has them
//! ([`SpeculationMsrs`], findings F5f and F11): `IA32_SPEC_CTRL` read and
//! written (IBRS, STIBP, SSBD), `IA32_PRED_CMD` (IBPB) and
//! `IA32_FLUSH_CMD` (L1D flush) written, so a guest can mitigate for
//! itself. Sharing them is sound because a core belongs to one cell: it
//! runs that cell's guest and the hypervisor's handling of that cell's
//! exits, nothing else, so a guest's `SPEC_CTRL` setting (kept in VMX root
//! until its next entry) and its barriers only ever affect its own cell.

/// `IA32_TIME_STAMP_COUNTER`.
pub(crate) const IA32_TSC: u32 = 0x10;
/// `IA32_APIC_BASE`.
pub(crate) const IA32_APIC_BASE: u32 = 0x1b;
/// `IA32_SPEC_CTRL`: IBRS, STIBP, SSBD.
pub(crate) const IA32_SPEC_CTRL: u32 = 0x48;
/// `IA32_PRED_CMD`: write 1 for an IBPB.
pub(crate) const IA32_PRED_CMD: u32 = 0x49;
/// `IA32_FLUSH_CMD`: write 1 to flush the L1 data cache.
pub(crate) const IA32_FLUSH_CMD: u32 = 0x10b;
/// `IA32_SYSENTER_CS`.
pub(crate) const IA32_SYSENTER_CS: u32 = 0x174;
/// `IA32_SYSENTER_ESP`.
pub(crate) const IA32_SYSENTER_ESP: u32 = 0x175;
/// `IA32_SYSENTER_EIP`.
pub(crate) const IA32_SYSENTER_EIP: u32 = 0x176;
/// `IA32_PAT`.
pub(crate) const IA32_PAT: u32 = 0x277;
/// `IA32_TSC_DEADLINE`.
pub(crate) const IA32_TSC_DEADLINE: u32 = 0x6e0;
/// First x2APIC register MSR.
pub(crate) const X2APIC_FIRST: u32 = 0x800;
/// x2APIC task priority register.
pub(crate) const X2APIC_TPR: u32 = 0x808;
/// x2APIC end of interrupt.
pub(crate) const X2APIC_EOI: u32 = 0x80b;
/// x2APIC spurious interrupt vector register.
pub(crate) const X2APIC_SVR: u32 = 0x80f;
/// x2APIC interrupt command register (64-bit).
pub(crate) const X2APIC_ICR: u32 = 0x830;
/// x2APIC LVT timer.
pub(crate) const X2APIC_LVT_TIMER: u32 = 0x832;
/// x2APIC LVT error.
pub(crate) const X2APIC_LVT_ERROR: u32 = 0x837;
/// x2APIC timer initial count.
pub(crate) const X2APIC_TIMER_INITIAL: u32 = 0x838;
/// x2APIC timer divide configuration.
pub(crate) const X2APIC_TIMER_DIVIDE: u32 = 0x83e;
/// x2APIC self IPI.
pub(crate) const X2APIC_SELF_IPI: u32 = 0x83f;
/// Last x2APIC register MSR.
pub(crate) const X2APIC_LAST: u32 = 0x83f;
/// `IA32_EFER`.
pub(crate) const IA32_EFER: u32 = 0xc000_0080;
/// `IA32_STAR`.
pub(crate) const IA32_STAR: u32 = 0xc000_0081;
/// `IA32_LSTAR`.
pub(crate) const IA32_LSTAR: u32 = 0xc000_0082;
/// `IA32_CSTAR`.
pub(crate) const IA32_CSTAR: u32 = 0xc000_0083;
/// `IA32_FMASK` (SFMASK).
pub(crate) const IA32_FMASK: u32 = 0xc000_0084;
/// `IA32_FS_BASE`.
pub(crate) const IA32_FS_BASE: u32 = 0xc000_0100;
/// `IA32_GS_BASE`.
pub(crate) const IA32_GS_BASE: u32 = 0xc000_0101;
/// `IA32_KERNEL_GS_BASE`.
pub(crate) const IA32_KERNEL_GS_BASE: u32 = 0xc000_0102;
/// `IA32_TSC_AUX`.
pub(crate) const IA32_TSC_AUX: u32 = 0xc000_0103;

/// MSRs a cell reads and writes without exits: per-CPU state the guest
/// owns outright (segment bases, system-call entry points, `PAT`, `EFER`,
/// which the VMCS switches on every entry and exit) and the local APIC
/// registers that only affect its own core (TPR, EOI, SVR, the LAPIC timer
/// and its LVT, the error LVT, self IPIs).
pub(crate) const PASS_THROUGH: [u32; 22] = [
    IA32_SYSENTER_CS,
    IA32_SYSENTER_ESP,
    IA32_SYSENTER_EIP,
    IA32_PAT,
    IA32_TSC_DEADLINE,
    X2APIC_TPR,
    X2APIC_EOI,
    X2APIC_SVR,
    X2APIC_LVT_TIMER,
    X2APIC_LVT_ERROR,
    X2APIC_TIMER_INITIAL,
    X2APIC_TIMER_DIVIDE,
    X2APIC_SELF_IPI,
    IA32_EFER,
    IA32_STAR,
    IA32_LSTAR,
    IA32_CSTAR,
    IA32_FMASK,
    IA32_FS_BASE,
    IA32_GS_BASE,
    IA32_KERNEL_GS_BASE,
    IA32_TSC_AUX,
];

/// Inclusive MSR ranges a cell reads without exits but whose writes exit:
/// the TSC (shared time base), `IA32_APIC_BASE` (writes are dropped and
/// reported) and every x2APIC register (reads show the core's own local
/// APIC; writes other than those in [`PASS_THROUGH`], notably the ICR,
/// exit).
pub(crate) const READ_ONLY: [(u32, u32); 3] = [
    (IA32_TSC, IA32_TSC),
    (IA32_APIC_BASE, IA32_APIC_BASE),
    (X2APIC_FIRST, X2APIC_LAST),
];

/// The speculation-control MSRs this CPU has (CPUID leaf 7, subleaf 0,
/// EDX; Intel's enumeration).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SpeculationMsrs {
    /// `IA32_SPEC_CTRL` (EDX bit 26 IBRS/IBPB, 27 STIBP or 31 SSBD).
    pub(crate) spec_ctrl: bool,
    /// `IA32_PRED_CMD` (EDX bit 26).
    pub(crate) pred_cmd: bool,
    /// `IA32_FLUSH_CMD` (EDX bit 28, L1D_FLUSH).
    pub(crate) flush_cmd: bool,
}

impl SpeculationMsrs {
    /// None of them.
    pub(crate) const NONE: Self = Self {
        spec_ctrl: false,
        pred_cmd: false,
        flush_cmd: false,
    };

    /// What CPUID.(EAX=7,ECX=0):EDX = `edx` advertises.
    pub(crate) const fn from_cpuid7_edx(edx: u32) -> Self {
        const IBRS_IBPB: u32 = 1 << 26;
        const STIBP: u32 = 1 << 27;
        const L1D_FLUSH: u32 = 1 << 28;
        const SSBD: u32 = 1 << 31;
        Self {
            spec_ctrl: edx & (IBRS_IBPB | STIBP | SSBD) != 0,
            pred_cmd: edx & IBRS_IBPB != 0,
            flush_cmd: edx & L1D_FLUSH != 0,
        }
    }
}

/// Bytes in the bitmap page.
const BITMAP_BYTES: usize = 4096;
/// Start of the high MSR range.
const HIGH_BASE: u32 = 0xc000_0000;
/// MSRs in each range (`0x2000`, 1024 bytes of bits).
const RANGE_MSRS: u32 = 0x2000;
/// Offset of the high-MSR read bitmap.
const READ_HIGH: usize = 1024;
/// Offset of the low-MSR write bitmap.
const WRITE_LOW: usize = 2048;

/// The MSR bitmap page the VMCS field `MSR_BITMAP` points to.
#[derive(Clone, PartialEq, Eq)]
#[repr(C, align(4096))]
pub(crate) struct MsrBitmap(pub [u8; BITMAP_BYTES]);

impl core::fmt::Debug for MsrBitmap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let clear = self.0.iter().map(|b| b.count_zeros()).sum::<u32>();
        write!(f, "MsrBitmap {{ {clear} accesses pass through }}")
    }
}

/// Byte index (within a read bitmap) and bit mask of `msr`, or `None` if
/// it lies outside both ranges.
const fn read_slot(msr: u32) -> Option<(usize, u8)> {
    let (base, index) = if msr < RANGE_MSRS {
        (0, msr)
    } else if msr >= HIGH_BASE && msr - HIGH_BASE < RANGE_MSRS {
        (READ_HIGH, msr - HIGH_BASE)
    } else {
        return None;
    };
    Some((base + (index / 8) as usize, 1 << (index % 8)))
}

impl MsrBitmap {
    /// Every access exits.
    pub(crate) const fn trap_all() -> Self {
        MsrBitmap([0xff; BITMAP_BYTES])
    }

    /// Lets reads of `msr` through; `false` (and no change) if `msr` is
    /// outside the bitmap's ranges, where reads always exit.
    pub(crate) const fn allow_read(&mut self, msr: u32) -> bool {
        match read_slot(msr) {
            Some((byte, mask)) => {
                self.0[byte] &= !mask;
                true
            }
            None => false,
        }
    }

    /// Lets writes of `msr` through; `false` (and no change) if `msr` is
    /// outside the bitmap's ranges, where writes always exit.
    pub(crate) const fn allow_write(&mut self, msr: u32) -> bool {
        match read_slot(msr) {
            Some((byte, mask)) => {
                self.0[WRITE_LOW + byte] &= !mask;
                true
            }
            None => false,
        }
    }

    /// Whether `RDMSR` of `msr` exits.
    #[cfg(test)]
    pub(crate) const fn traps_read(&self, msr: u32) -> bool {
        match read_slot(msr) {
            Some((byte, mask)) => self.0[byte] & mask != 0,
            None => true,
        }
    }

    /// Whether `WRMSR` of `msr` exits.
    #[cfg(test)]
    pub(crate) const fn traps_write(&self, msr: u32) -> bool {
        match read_slot(msr) {
            Some((byte, mask)) => self.0[WRITE_LOW + byte] & mask != 0,
            None => true,
        }
    }

    /// The bitmap every cell runs with (the same for all: it depends on no
    /// config): [`PASS_THROUGH`] read and written directly, [`READ_ONLY`]
    /// read directly, the speculation-control MSRs of `speculation` (see
    /// the module documentation), everything else exits. A `const fn`, so
    /// it can initialise a `static`.
    pub(crate) const fn cell_policy(speculation: SpeculationMsrs) -> Self {
        let mut bitmap = Self::trap_all();
        if speculation.spec_ctrl {
            bitmap.allow_read(IA32_SPEC_CTRL);
            bitmap.allow_write(IA32_SPEC_CTRL);
        }
        if speculation.pred_cmd {
            bitmap.allow_write(IA32_PRED_CMD);
        }
        if speculation.flush_cmd {
            bitmap.allow_write(IA32_FLUSH_CMD);
        }
        let mut i = 0;
        while i < PASS_THROUGH.len() {
            // Every listed MSR is inside the bitmap (checked by the tests).
            bitmap.allow_read(PASS_THROUGH[i]);
            bitmap.allow_write(PASS_THROUGH[i]);
            i += 1;
        }
        let mut r = 0;
        while r < READ_ONLY.len() {
            let (first, last) = READ_ONLY[r];
            let mut msr = first;
            while msr <= last {
                bitmap.allow_read(msr);
                msr += 1;
            }
            r += 1;
        }
        bitmap
    }
}

/// The architectural name of `msr`, for reports, if it is one Bulkhead
/// knows (the policy's MSRs and a few that guests commonly probe).
pub(crate) fn name(msr: u32) -> Option<&'static str> {
    Some(match msr {
        IA32_TSC => "IA32_TIME_STAMP_COUNTER",
        IA32_APIC_BASE => "IA32_APIC_BASE",
        0x3a => "IA32_FEATURE_CONTROL",
        IA32_SPEC_CTRL => "IA32_SPEC_CTRL",
        IA32_PRED_CMD => "IA32_PRED_CMD",
        IA32_FLUSH_CMD => "IA32_FLUSH_CMD",
        0x8b => "IA32_BIOS_SIGN_ID",
        0xe7 => "IA32_MPERF",
        0xe8 => "IA32_APERF",
        0xfe => "IA32_MTRRCAP",
        IA32_SYSENTER_CS => "IA32_SYSENTER_CS",
        IA32_SYSENTER_ESP => "IA32_SYSENTER_ESP",
        IA32_SYSENTER_EIP => "IA32_SYSENTER_EIP",
        0x179 => "IA32_MCG_CAP",
        0x17a => "IA32_MCG_STATUS",
        0x1a0 => "IA32_MISC_ENABLE",
        IA32_PAT => "IA32_PAT",
        0x2ff => "IA32_MTRR_DEF_TYPE",
        0x480..=0x493 => "IA32_VMX_*",
        IA32_TSC_DEADLINE => "IA32_TSC_DEADLINE",
        0x802 => "x2APIC ID",
        0x803 => "x2APIC version",
        X2APIC_TPR => "x2APIC TPR",
        0x80a => "x2APIC PPR",
        X2APIC_EOI => "x2APIC EOI",
        0x80d => "x2APIC LDR",
        X2APIC_SVR => "x2APIC SVR",
        0x810..=0x817 => "x2APIC ISR",
        0x818..=0x81f => "x2APIC TMR",
        0x820..=0x827 => "x2APIC IRR",
        0x828 => "x2APIC ESR",
        0x82f => "x2APIC LVT CMCI",
        X2APIC_ICR => "x2APIC ICR",
        X2APIC_LVT_TIMER => "x2APIC LVT timer",
        0x833 => "x2APIC LVT thermal",
        0x834 => "x2APIC LVT performance",
        0x835 => "x2APIC LVT LINT0",
        0x836 => "x2APIC LVT LINT1",
        X2APIC_LVT_ERROR => "x2APIC LVT error",
        X2APIC_TIMER_INITIAL => "x2APIC timer initial count",
        0x839 => "x2APIC timer current count",
        X2APIC_TIMER_DIVIDE => "x2APIC timer divide",
        X2APIC_SELF_IPI => "x2APIC SELF IPI",
        0xd90 => "IA32_BNDCFGS",
        0xda0 => "IA32_XSS",
        IA32_EFER => "IA32_EFER",
        IA32_STAR => "IA32_STAR",
        IA32_LSTAR => "IA32_LSTAR",
        IA32_CSTAR => "IA32_CSTAR",
        IA32_FMASK => "IA32_FMASK",
        IA32_FS_BASE => "IA32_FS_BASE",
        IA32_GS_BASE => "IA32_GS_BASE",
        IA32_KERNEL_GS_BASE => "IA32_KERNEL_GS_BASE",
        IA32_TSC_AUX => "IA32_TSC_AUX",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every MSR the bitmap covers.
    fn covered() -> impl Iterator<Item = u32> {
        (0..RANGE_MSRS).chain(HIGH_BASE..HIGH_BASE + RANGE_MSRS)
    }

    #[test]
    fn layout() {
        assert_eq!(core::mem::size_of::<MsrBitmap>(), 4096);
        assert_eq!(core::mem::align_of::<MsrBitmap>(), 4096);
    }

    #[test]
    fn trap_all_traps_everything() {
        let bitmap = MsrBitmap::trap_all();
        for msr in covered().chain([0x2000, 0x4000_0000, 0xbfff_ffff, 0xc000_2000, u32::MAX]) {
            assert!(
                bitmap.traps_read(msr) && bitmap.traps_write(msr),
                "{msr:#x}"
            );
        }
    }

    #[test]
    fn bits_are_where_the_sdm_puts_them() {
        let mut bitmap = MsrBitmap::trap_all();
        assert!(bitmap.allow_read(0x1b)); // byte 3, bit 3
        assert!(bitmap.allow_read(0x1fff)); // byte 1023, bit 7
        assert!(bitmap.allow_read(0xc000_0080)); // byte 1024 + 16, bit 0
        assert!(bitmap.allow_write(0x10)); // byte 2048 + 2, bit 0
        assert!(bitmap.allow_write(0xc000_1fff)); // byte 4095, bit 7
        let mut expected = [0xffu8; 4096];
        expected[3] = 0xf7;
        expected[1023] = 0x7f;
        expected[1040] = 0xfe;
        expected[2050] = 0xfe;
        expected[4095] = 0x7f;
        assert_eq!(bitmap.0, expected);
        assert!(!bitmap.traps_read(0x1b) && bitmap.traps_write(0x1b));
        assert!(bitmap.traps_read(0x10) && !bitmap.traps_write(0x10));
    }

    #[test]
    fn msrs_outside_the_ranges_cannot_be_allowed() {
        let mut bitmap = MsrBitmap::trap_all();
        for msr in [0x2000, 0x4000_0000, 0xbfff_ffff, 0xc000_2000, 0xc001_0000] {
            assert!(!bitmap.allow_read(msr));
            assert!(!bitmap.allow_write(msr));
            assert!(bitmap.traps_read(msr) && bitmap.traps_write(msr));
        }
        assert_eq!(bitmap, MsrBitmap::trap_all());
    }

    #[test]
    fn cell_policy_is_the_documented_allow_list() {
        static POLICY: MsrBitmap = MsrBitmap::cell_policy(SpeculationMsrs::NONE);
        let read_only = |msr: u32| READ_ONLY.iter().any(|&(a, b)| (a..=b).contains(&msr));
        let mut reads = 0;
        let mut writes = 0;
        for msr in covered() {
            let rw = PASS_THROUGH.contains(&msr);
            assert_eq!(!POLICY.traps_read(msr), rw || read_only(msr), "{msr:#x}");
            assert_eq!(!POLICY.traps_write(msr), rw, "{msr:#x}");
            reads += usize::from(!POLICY.traps_read(msr));
            writes += usize::from(!POLICY.traps_write(msr));
        }
        // 22 read-write; TSC, APIC_BASE and 64 x2APIC MSRs, 8 of them
        // already in the read-write list, read-only.
        assert_eq!(writes, 22);
        assert_eq!(reads, 22 + 2 + 64 - 8);
        // The accesses the docs single out.
        assert!(!POLICY.traps_read(X2APIC_ICR) && POLICY.traps_write(X2APIC_ICR));
        assert!(!POLICY.traps_read(IA32_APIC_BASE) && POLICY.traps_write(IA32_APIC_BASE));
        assert!(!POLICY.traps_read(IA32_TSC) && POLICY.traps_write(IA32_TSC));
        assert!(!POLICY.traps_write(IA32_EFER) && !POLICY.traps_write(IA32_LSTAR));
        assert!(POLICY.traps_read(0x3a) && POLICY.traps_write(0x3a)); // FEATURE_CONTROL
        assert!(POLICY.traps_read(0x480)); // VMX capabilities
        assert!(POLICY.traps_read(0xfe)); // MTRRcap
        assert!(POLICY.traps_read(0x4000_0000)); // outside the bitmap
        assert_eq!(POLICY, MsrBitmap::cell_policy(SpeculationMsrs::NONE));
        // Without the CPU's say-so, the speculation MSRs #GP.
        for msr in [IA32_SPEC_CTRL, IA32_PRED_CMD, IA32_FLUSH_CMD] {
            assert!(POLICY.traps_read(msr) && POLICY.traps_write(msr));
        }
    }

    #[test]
    fn f5f_speculation_msrs_follow_cpuid() {
        assert_eq!(SpeculationMsrs::from_cpuid7_edx(0), SpeculationMsrs::NONE);
        // A Skylake with microcode: IBRS/IBPB, STIBP, L1D_FLUSH, SSBD.
        let all = SpeculationMsrs::from_cpuid7_edx(1 << 26 | 1 << 27 | 1 << 28 | 1 << 31);
        assert_eq!(
            all,
            SpeculationMsrs {
                spec_ctrl: true,
                pred_cmd: true,
                flush_cmd: true
            }
        );
        // SSBD alone (AMD-style enumeration through leaf 7): SPEC_CTRL only.
        let ssbd = SpeculationMsrs::from_cpuid7_edx(1 << 31);
        assert!(ssbd.spec_ctrl && !ssbd.pred_cmd && !ssbd.flush_cmd);
        let flush = SpeculationMsrs::from_cpuid7_edx(1 << 28);
        assert!(!flush.spec_ctrl && !flush.pred_cmd && flush.flush_cmd);
    }

    #[test]
    fn f11_speculation_msrs_pass_through_when_the_cpu_has_them() {
        let all = SpeculationMsrs {
            spec_ctrl: true,
            pred_cmd: true,
            flush_cmd: true,
        };
        let bitmap = MsrBitmap::cell_policy(all);
        assert!(!bitmap.traps_read(IA32_SPEC_CTRL) && !bitmap.traps_write(IA32_SPEC_CTRL));
        // The command MSRs are write-only on hardware: reads still exit
        // (and get #GP, as the CPU would give).
        assert!(bitmap.traps_read(IA32_PRED_CMD) && !bitmap.traps_write(IA32_PRED_CMD));
        assert!(bitmap.traps_read(IA32_FLUSH_CMD) && !bitmap.traps_write(IA32_FLUSH_CMD));
        // Nothing else changed.
        let none = MsrBitmap::cell_policy(SpeculationMsrs::NONE);
        for msr in covered() {
            if ![IA32_SPEC_CTRL, IA32_PRED_CMD, IA32_FLUSH_CMD].contains(&msr) {
                assert_eq!(bitmap.traps_read(msr), none.traps_read(msr), "{msr:#x}");
                assert_eq!(bitmap.traps_write(msr), none.traps_write(msr), "{msr:#x}");
            }
        }
        // Each alone.
        let only_flush = MsrBitmap::cell_policy(SpeculationMsrs {
            flush_cmd: true,
            ..SpeculationMsrs::NONE
        });
        assert!(only_flush.traps_write(IA32_SPEC_CTRL) && only_flush.traps_write(IA32_PRED_CMD));
        assert!(!only_flush.traps_write(IA32_FLUSH_CMD));
    }

    #[test]
    fn every_policy_msr_has_a_name() {
        for msr in PASS_THROUGH
            .iter()
            .copied()
            .chain([IA32_TSC, IA32_APIC_BASE, X2APIC_ICR])
        {
            assert!(name(msr).is_some(), "{msr:#x}");
        }
        assert_eq!(name(0xc000_0082), Some("IA32_LSTAR"));
        assert_eq!(name(0x830), Some("x2APIC ICR"));
        assert_eq!(name(0x1234_5678), None);
    }
}
