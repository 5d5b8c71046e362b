//! VM-exit decoding: exit reasons, exit qualifications, event injection.
//!
//! Pure bit manipulation on the values the target code reads from the VMCS
//! (Intel SDM Vol. 3C chapter 28 "VM Exits" and appendix C "VMX Basic Exit
//! Reasons"); nothing here touches the CPU.

use crate::cell::access::Access;

/// Basic exit reason (SDM appendix C), the low 16 bits of the VMCS
/// `EXIT_REASON` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(target_os = "none", derive(defmt::Format))]
pub(crate) enum ExitReason {
    /// 0: exception or non-maskable interrupt.
    ExceptionOrNmi,
    /// 1: external interrupt.
    ExternalInterrupt,
    /// 2: triple fault.
    TripleFault,
    /// 3: INIT signal.
    InitSignal,
    /// 4: start-up IPI.
    Sipi,
    /// 7: interrupt window.
    InterruptWindow,
    /// 8: NMI window.
    NmiWindow,
    /// 9: task switch.
    TaskSwitch,
    /// 10: CPUID.
    Cpuid,
    /// 11: GETSEC.
    Getsec,
    /// 12: HLT.
    Hlt,
    /// 13: INVD.
    Invd,
    /// 14: INVLPG.
    Invlpg,
    /// 15: RDPMC.
    Rdpmc,
    /// 16: RDTSC.
    Rdtsc,
    /// 17: RSM in SMM.
    Rsm,
    /// 18: VMCALL.
    Vmcall,
    /// 19 to 27: VMCLEAR, VMLAUNCH, VMPTRLD, VMPTRST, VMREAD, VMRESUME,
    /// VMWRITE, VMXOFF, VMXON (the basic reason, which names it).
    VmxInstruction(u16),
    /// 28: control-register access.
    CrAccess,
    /// 29: MOV DR.
    DrAccess,
    /// 30: I/O instruction.
    IoInstruction,
    /// 31: RDMSR.
    Rdmsr,
    /// 32: WRMSR.
    Wrmsr,
    /// 33: VM-entry failure due to invalid guest state.
    InvalidGuestState,
    /// 34: VM-entry failure due to MSR loading.
    MsrLoading,
    /// 36: MWAIT.
    Mwait,
    /// 37: monitor trap flag.
    MonitorTrapFlag,
    /// 39: MONITOR.
    Monitor,
    /// 40: PAUSE.
    Pause,
    /// 41: VM-entry failure due to a machine-check event.
    MachineCheck,
    /// 43: TPR below threshold.
    TprBelowThreshold,
    /// 44: APIC access.
    ApicAccess,
    /// 45: virtualized EOI.
    Eoi,
    /// 46: access to GDTR or IDTR.
    GdtrIdtr,
    /// 47: access to LDTR or TR.
    LdtrTr,
    /// 48: EPT violation.
    EptViolation,
    /// 49: EPT misconfiguration.
    EptMisconfig,
    /// 50: INVEPT.
    Invept,
    /// 51: RDTSCP.
    Rdtscp,
    /// 52: VMX-preemption timer expired.
    PreemptionTimer,
    /// 53: INVVPID.
    Invvpid,
    /// 54: WBINVD or WBNOINVD.
    Wbinvd,
    /// 55: XSETBV.
    Xsetbv,
    /// Any other basic exit reason (SMIs, APIC write, RDRAND, ...).
    Other(u16),
}

impl ExitReason {
    /// The exit reason with basic number `basic` (SDM appendix C).
    pub(crate) fn from_basic(basic: u16) -> Self {
        match basic {
            0 => Self::ExceptionOrNmi,
            1 => Self::ExternalInterrupt,
            2 => Self::TripleFault,
            3 => Self::InitSignal,
            4 => Self::Sipi,
            7 => Self::InterruptWindow,
            8 => Self::NmiWindow,
            9 => Self::TaskSwitch,
            10 => Self::Cpuid,
            11 => Self::Getsec,
            12 => Self::Hlt,
            13 => Self::Invd,
            14 => Self::Invlpg,
            15 => Self::Rdpmc,
            16 => Self::Rdtsc,
            17 => Self::Rsm,
            18 => Self::Vmcall,
            basic @ 19..=27 => Self::VmxInstruction(basic),
            28 => Self::CrAccess,
            29 => Self::DrAccess,
            30 => Self::IoInstruction,
            31 => Self::Rdmsr,
            32 => Self::Wrmsr,
            33 => Self::InvalidGuestState,
            34 => Self::MsrLoading,
            36 => Self::Mwait,
            37 => Self::MonitorTrapFlag,
            39 => Self::Monitor,
            40 => Self::Pause,
            41 => Self::MachineCheck,
            43 => Self::TprBelowThreshold,
            44 => Self::ApicAccess,
            45 => Self::Eoi,
            46 => Self::GdtrIdtr,
            47 => Self::LdtrTr,
            48 => Self::EptViolation,
            49 => Self::EptMisconfig,
            50 => Self::Invept,
            51 => Self::Rdtscp,
            52 => Self::PreemptionTimer,
            53 => Self::Invvpid,
            54 => Self::Wbinvd,
            55 => Self::Xsetbv,
            other => Self::Other(other),
        }
    }

    /// Whether the exit is an instruction a cell has no use for and gets
    /// `#UD` for, as on a CPU without it (finding F2): the VMX instructions
    /// (the cell's CPUID shows no VMX), `GETSEC` (no SMX either) and `INVD`
    /// (which would discard the dirty cache lines of every cell). These
    /// exit in VMX non-root operation before the CPU checks CPL, so they
    /// must never reach the fault policy: a CPL 3 process would halt or
    /// restart its cell.
    pub(crate) fn undefined_in_cell(&self) -> bool {
        matches!(
            self,
            Self::VmxInstruction(_) | Self::Invept | Self::Invvpid | Self::Getsec | Self::Invd
        )
    }

    /// A short name for reports ("EPT violation", "CPUID", ...).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::ExceptionOrNmi => "exception or NMI",
            Self::ExternalInterrupt => "external interrupt",
            Self::TripleFault => "triple fault",
            Self::InitSignal => "INIT signal",
            Self::Sipi => "SIPI",
            Self::InterruptWindow => "interrupt window",
            Self::NmiWindow => "NMI window",
            Self::TaskSwitch => "task switch",
            Self::Cpuid => "CPUID",
            Self::Getsec => "GETSEC",
            Self::Hlt => "HLT",
            Self::Invd => "INVD",
            Self::Invlpg => "INVLPG",
            Self::Rdpmc => "RDPMC",
            Self::Rdtsc => "RDTSC",
            Self::Rsm => "RSM",
            Self::Vmcall => "VMCALL",
            Self::VmxInstruction(19) => "VMCLEAR",
            Self::VmxInstruction(20) => "VMLAUNCH",
            Self::VmxInstruction(21) => "VMPTRLD",
            Self::VmxInstruction(22) => "VMPTRST",
            Self::VmxInstruction(23) => "VMREAD",
            Self::VmxInstruction(24) => "VMRESUME",
            Self::VmxInstruction(25) => "VMWRITE",
            Self::VmxInstruction(26) => "VMXOFF",
            Self::VmxInstruction(27) => "VMXON",
            Self::VmxInstruction(_) => "VMX instruction",
            Self::CrAccess => "control-register access",
            Self::DrAccess => "debug-register access",
            Self::IoInstruction => "I/O instruction",
            Self::Rdmsr => "RDMSR",
            Self::Wrmsr => "WRMSR",
            Self::InvalidGuestState => "VM entry with invalid guest state",
            Self::MsrLoading => "VM entry failed loading MSRs",
            Self::Mwait => "MWAIT",
            Self::MonitorTrapFlag => "monitor trap flag",
            Self::Monitor => "MONITOR",
            Self::Pause => "PAUSE",
            Self::MachineCheck => "machine check during VM entry",
            Self::TprBelowThreshold => "TPR below threshold",
            Self::ApicAccess => "APIC access",
            Self::Eoi => "virtualized EOI",
            Self::GdtrIdtr => "GDTR/IDTR access",
            Self::LdtrTr => "LDTR/TR access",
            Self::EptViolation => "EPT violation",
            Self::EptMisconfig => "EPT misconfiguration",
            Self::Invept => "INVEPT",
            Self::Rdtscp => "RDTSCP",
            Self::PreemptionTimer => "preemption timer",
            Self::Invvpid => "INVVPID",
            Self::Wbinvd => "WBINVD",
            Self::Xsetbv => "XSETBV",
            Self::Other(_) => "other exit",
        }
    }
}

/// The VMCS `EXIT_REASON` field, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(target_os = "none", derive(defmt::Format))]
pub(crate) struct ExitInfo {
    /// Basic exit reason (bits 15:0).
    pub(crate) reason: ExitReason,
    /// VM entry failed (bit 31): the guest never ran.
    pub(crate) entry_failure: bool,
}

/// `EXIT_REASON` bit 31: VM-entry failure.
const ENTRY_FAILURE: u32 = 1 << 31;

impl ExitInfo {
    /// Decodes the raw `EXIT_REASON` field (SDM 24.9.1): bits 15:0 the
    /// basic reason, bit 31 VM-entry failure; the other flags (enclave
    /// mode, pending MTF, exit from VMX root) are ignored.
    pub(crate) fn decode(raw_exit_reason: u32) -> ExitInfo {
        ExitInfo {
            reason: ExitReason::from_basic(raw_exit_reason as u16),
            entry_failure: raw_exit_reason & ENTRY_FAILURE != 0,
        }
    }
}

/// An I/O instruction, from its exit qualification (SDM table 28-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(target_os = "none", derive(defmt::Format))]
pub(crate) struct IoAccess {
    /// Port (bits 31:16): for string and `DX` forms, the value of `DX`.
    pub(crate) port: u16,
    /// Access size in bytes: 1, 2 or 4 (bits 2:0 = 0, 1, 3).
    pub(crate) size: u8,
    /// `IN`/`INS` (bit 3 set) rather than `OUT`/`OUTS`.
    pub(crate) input: bool,
    /// `INS`/`OUTS` (bit 4).
    pub(crate) string: bool,
    /// `REP` prefix (bit 5).
    pub(crate) rep: bool,
}

impl IoAccess {
    /// Decodes an I/O-instruction exit qualification. The encodings of
    /// bits 2:0 other than 0, 1 and 3 are not used by the CPU; they decode
    /// as 4 bytes.
    pub(crate) fn decode(qualification: u64) -> IoAccess {
        IoAccess {
            port: (qualification >> 16) as u16,
            size: match qualification & 0b111 {
                0 => 1,
                1 => 2,
                _ => 4,
            },
            input: qualification & (1 << 3) != 0,
            string: qualification & (1 << 4) != 0,
            rep: qualification & (1 << 5) != 0,
        }
    }
}

/// `RAX` after an `IN` of `size` bytes read `value`: 1 and 2 bytes replace
/// `AL`/`AX` and keep the rest of `RAX`; 4 bytes (and any other size)
/// write `EAX`, which zeroes bits 63:32 as every 32-bit register write does.
pub(crate) fn io_read_result(rax: u64, size: u8, value: u32) -> u64 {
    match size {
        1 => (rax & !0xff) | u64::from(value & 0xff),
        2 => (rax & !0xffff) | u64::from(value & 0xffff),
        _ => u64::from(value),
    }
}

/// The value an `OUT` of `size` bytes writes: `AL`, `AX` or `EAX` (any
/// other size reads as 4).
pub(crate) fn io_write_value(rax: u64, size: u8) -> u32 {
    match size {
        1 => (rax & 0xff) as u32,
        2 => (rax & 0xffff) as u32,
        _ => rax as u32,
    }
}

/// An EPT violation, from its exit qualification (SDM table 28-7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(target_os = "none", derive(defmt::Format))]
pub(crate) struct EptViolation {
    /// The access was a data read (bit 0).
    pub(crate) read: bool,
    /// The access was a data write (bit 1).
    pub(crate) write: bool,
    /// The access was an instruction fetch (bit 2).
    pub(crate) fetch: bool,
    /// The guest-physical address was readable (bit 3): false when it is
    /// not mapped at all.
    pub(crate) readable: bool,
    /// The guest-physical address was writable (bit 4).
    pub(crate) writable: bool,
    /// The guest-physical address was executable (bit 5).
    pub(crate) executable: bool,
    /// The guest-linear-address VMCS field is valid (bit 7).
    pub(crate) linear_valid: bool,
}

impl EptViolation {
    /// Decodes an EPT-violation exit qualification.
    pub(crate) fn decode(q: u64) -> Self {
        let bit = |n: u32| q & (1 << n) != 0;
        EptViolation {
            read: bit(0),
            write: bit(1),
            fetch: bit(2),
            readable: bit(3),
            writable: bit(4),
            executable: bit(5),
            linear_valid: bit(7),
        }
    }

    /// The kind of access: an instruction fetch, else a write (a
    /// read-modify-write sets both read and write), else a read.
    pub(crate) fn access(&self) -> Access {
        if self.fetch {
            Access::Execute
        } else if self.write {
            Access::Write
        } else {
            Access::Read
        }
    }
}

/// Type of an event in the interruption-information format (bits 10:8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(target_os = "none", derive(defmt::Format))]
pub(crate) enum InterruptionType {
    /// 0: external interrupt.
    ExternalInterrupt,
    /// 1: reserved.
    Reserved,
    /// 2: non-maskable interrupt.
    Nmi,
    /// 3: hardware exception (#GP, #PF, ...).
    HardwareException,
    /// 4: software interrupt (`INT n`).
    SoftwareInterrupt,
    /// 5: privileged software exception (`INT1`).
    PrivilegedSoftwareException,
    /// 6: software exception (`INT3`, `INTO`).
    SoftwareException,
    /// 7: other event (e.g. MTF on VM entry).
    Other,
}

impl InterruptionType {
    /// The type with encoding `bits` (only the low 3 bits are used).
    pub(crate) fn from_bits(bits: u8) -> Self {
        match bits & 0b111 {
            0 => Self::ExternalInterrupt,
            1 => Self::Reserved,
            2 => Self::Nmi,
            3 => Self::HardwareException,
            4 => Self::SoftwareInterrupt,
            5 => Self::PrivilegedSoftwareException,
            6 => Self::SoftwareException,
            _ => Self::Other,
        }
    }

    /// The 3-bit encoding.
    pub(crate) fn bits(self) -> u8 {
        match self {
            Self::ExternalInterrupt => 0,
            Self::Reserved => 1,
            Self::Nmi => 2,
            Self::HardwareException => 3,
            Self::SoftwareInterrupt => 4,
            Self::PrivilegedSoftwareException => 5,
            Self::SoftwareException => 6,
            Self::Other => 7,
        }
    }
}

/// An event in the interruption-information format shared by the VM-exit
/// interruption information, the IDT-vectoring information and the VM-entry
/// interruption information fields (SDM 24.8.3, 24.9.2, 24.9.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(target_os = "none", derive(defmt::Format))]
pub(crate) struct Interruption {
    /// Vector (bits 7:0).
    pub(crate) vector: u8,
    /// Type (bits 10:8).
    pub(crate) kind: InterruptionType,
    /// An error code is valid / to be delivered (bit 11); the code itself
    /// is in its own VMCS field.
    pub(crate) error_code: bool,
    /// The field is valid (bit 31).
    pub(crate) valid: bool,
}

/// Interruption information bit 11: error code valid / deliver error code.
pub(crate) const ERROR_CODE: u32 = 1 << 11;
/// Interruption information bit 31: valid.
pub(crate) const VALID: u32 = 1 << 31;

impl Interruption {
    /// Decodes an interruption-information field. Bit 12 (NMI unblocking
    /// due to `IRET`, exit fields only) and the reserved bits are ignored.
    pub(crate) fn decode(raw: u32) -> Self {
        Interruption {
            vector: raw as u8,
            kind: InterruptionType::from_bits((raw >> 8) as u8),
            error_code: raw & ERROR_CODE != 0,
            valid: raw & VALID != 0,
        }
    }

    /// The field's encoding (for the VM-entry interruption information).
    #[cfg(test)]
    pub(crate) fn encode(&self) -> u32 {
        let mut raw = u32::from(self.vector) | u32::from(self.kind.bits()) << 8;
        if self.error_code {
            raw |= ERROR_CODE;
        }
        if self.valid {
            raw |= VALID;
        }
        raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_exit_reasons_match_appendix_c() {
        let expected = [
            (0, ExitReason::ExceptionOrNmi),
            (1, ExitReason::ExternalInterrupt),
            (2, ExitReason::TripleFault),
            (3, ExitReason::InitSignal),
            (4, ExitReason::Sipi),
            (7, ExitReason::InterruptWindow),
            (8, ExitReason::NmiWindow),
            (9, ExitReason::TaskSwitch),
            (10, ExitReason::Cpuid),
            (11, ExitReason::Getsec),
            (12, ExitReason::Hlt),
            (13, ExitReason::Invd),
            (14, ExitReason::Invlpg),
            (15, ExitReason::Rdpmc),
            (16, ExitReason::Rdtsc),
            (17, ExitReason::Rsm),
            (18, ExitReason::Vmcall),
            (28, ExitReason::CrAccess),
            (29, ExitReason::DrAccess),
            (30, ExitReason::IoInstruction),
            (31, ExitReason::Rdmsr),
            (32, ExitReason::Wrmsr),
            (33, ExitReason::InvalidGuestState),
            (34, ExitReason::MsrLoading),
            (36, ExitReason::Mwait),
            (37, ExitReason::MonitorTrapFlag),
            (39, ExitReason::Monitor),
            (40, ExitReason::Pause),
            (41, ExitReason::MachineCheck),
            (43, ExitReason::TprBelowThreshold),
            (44, ExitReason::ApicAccess),
            (45, ExitReason::Eoi),
            (46, ExitReason::GdtrIdtr),
            (47, ExitReason::LdtrTr),
            (48, ExitReason::EptViolation),
            (49, ExitReason::EptMisconfig),
            (50, ExitReason::Invept),
            (51, ExitReason::Rdtscp),
            (52, ExitReason::PreemptionTimer),
            (53, ExitReason::Invvpid),
            (54, ExitReason::Wbinvd),
            (55, ExitReason::Xsetbv),
        ];
        for (basic, reason) in expected {
            assert_eq!(ExitReason::from_basic(basic), reason, "{basic}");
            assert_ne!(reason.name(), "other exit");
        }
        for basic in 19..=27 {
            assert_eq!(
                ExitReason::from_basic(basic),
                ExitReason::VmxInstruction(basic),
                "{basic}"
            );
        }
        // I/O SMI, other SMI, the gaps, APIC write and beyond.
        for basic in [5, 6, 35, 38, 42, 56, 57, 0xffff] {
            assert_eq!(ExitReason::from_basic(basic), ExitReason::Other(basic));
        }
    }

    #[test]
    fn f2_vmx_instructions_getsec_and_invd_are_undefined_in_a_cell() {
        let undefined: Vec<u16> = (0..=80)
            .filter(|&basic| ExitReason::from_basic(basic).undefined_in_cell())
            .collect();
        let mut expected: Vec<u16> = (19..=27).collect();
        expected.extend([11, 13, 50, 53]);
        expected.sort_unstable();
        assert_eq!(undefined, expected);
        // Each is named in the report.
        let names: Vec<&str> = (19..=27)
            .map(|b| ExitReason::from_basic(b).name())
            .collect();
        assert_eq!(
            names,
            [
                "VMCLEAR", "VMLAUNCH", "VMPTRLD", "VMPTRST", "VMREAD", "VMRESUME", "VMWRITE",
                "VMXOFF", "VMXON"
            ]
        );
        for basic in [11, 13, 50, 53] {
            assert_ne!(ExitReason::from_basic(basic).name(), "other exit");
        }
    }

    #[test]
    fn names() {
        assert_eq!(ExitReason::EptViolation.name(), "EPT violation");
        assert_eq!(ExitReason::Cpuid.name(), "CPUID");
        assert_eq!(ExitReason::Other(56).name(), "other exit");
    }

    #[test]
    fn exit_info_splits_entry_failure_from_the_basic_reason() {
        assert_eq!(
            ExitInfo::decode(48),
            ExitInfo {
                reason: ExitReason::EptViolation,
                entry_failure: false
            }
        );
        // Invalid guest state: 0x8000_0021.
        assert_eq!(
            ExitInfo::decode(0x8000_0021),
            ExitInfo {
                reason: ExitReason::InvalidGuestState,
                entry_failure: true
            }
        );
        // Bits 27-29 (enclave, pending MTF, from VMX root) do not change
        // the reason.
        assert_eq!(ExitInfo::decode(0x3800_000c).reason, ExitReason::Hlt);
    }

    #[test]
    fn io_qualifications() {
        // `out dx, al` with DX = 0x3f8: size 0, OUT, not string, DX form.
        assert_eq!(
            IoAccess::decode(0x03f8_0000),
            IoAccess {
                port: 0x3f8,
                size: 1,
                input: false,
                string: false,
                rep: false
            }
        );
        // `in eax, 0x71`: size 3, IN, immediate operand (bit 6).
        assert_eq!(
            IoAccess::decode(0x0071_0000 | 1 << 6 | 1 << 3 | 3),
            IoAccess {
                port: 0x71,
                size: 4,
                input: true,
                string: false,
                rep: false
            }
        );
        // `rep insw` from 0xffff.
        assert_eq!(
            IoAccess::decode(0xffff_0000 | 1 << 5 | 1 << 4 | 1 << 3 | 1),
            IoAccess {
                port: 0xffff,
                size: 2,
                input: true,
                string: true,
                rep: true
            }
        );
    }

    #[test]
    fn in_merges_into_rax() {
        let rax = 0x1122_3344_5566_7788;
        assert_eq!(io_read_result(rax, 1, 0xffff_ffab), 0x1122_3344_5566_77ab);
        assert_eq!(io_read_result(rax, 2, 0xffff_abcd), 0x1122_3344_5566_abcd);
        assert_eq!(io_read_result(rax, 4, 0xdead_beef), 0x0000_0000_dead_beef);
        assert_eq!(io_read_result(rax, 4, 0xffff_ffff), 0xffff_ffff);
    }

    #[test]
    fn out_takes_the_low_bytes() {
        let rax = 0x1122_3344_5566_7788;
        assert_eq!(io_write_value(rax, 1), 0x88);
        assert_eq!(io_write_value(rax, 2), 0x7788);
        assert_eq!(io_write_value(rax, 4), 0x5566_7788);
    }

    #[test]
    fn ept_violation_qualifications() {
        // A write to an unmapped address, linear address valid and a
        // translation (bit 8).
        let unmapped_write = EptViolation::decode(0x182);
        assert_eq!(
            unmapped_write,
            EptViolation {
                read: false,
                write: true,
                fetch: false,
                readable: false,
                writable: false,
                executable: false,
                linear_valid: true
            }
        );
        assert_eq!(unmapped_write.access(), Access::Write);
        // A fetch from a readable, writable, non-executable page.
        let fetch = EptViolation::decode(0x9c);
        assert!(fetch.fetch && fetch.readable && fetch.writable && !fetch.executable);
        assert_eq!(fetch.access(), Access::Execute);
        // A read-modify-write counts as a write; a plain read is a read.
        assert_eq!(EptViolation::decode(0b011).access(), Access::Write);
        assert_eq!(EptViolation::decode(0b001).access(), Access::Read);
    }

    #[test]
    fn interruption_info_round_trips() {
        // An external interrupt on vector 0x30 (exit interruption info).
        assert_eq!(
            Interruption::decode(0x8000_0030),
            Interruption {
                vector: 0x30,
                kind: InterruptionType::ExternalInterrupt,
                error_code: false,
                valid: true
            }
        );
        // NMI (vector 2, type 2) with NMI unblocking (bit 12) ignored.
        assert_eq!(
            Interruption::decode(0x8000_1202).kind,
            InterruptionType::Nmi
        );
        // #PF (14) with an error code; invalid when bit 31 is clear.
        assert!(!Interruption::decode(0x0000_0b0e).valid);
        for bits in 0..8 {
            let kind = InterruptionType::from_bits(bits);
            assert_eq!(kind.bits(), bits);
            for (error_code, valid) in [(false, false), (false, true), (true, true)] {
                let event = Interruption {
                    vector: 0xa5,
                    kind,
                    error_code,
                    valid,
                };
                assert_eq!(Interruption::decode(event.encode()), event);
            }
        }
        // `int3`: software exception, vector 3.
        let int3 = Interruption {
            vector: 3,
            kind: InterruptionType::SoftwareException,
            error_code: false,
            valid: true,
        };
        assert_eq!(int3.encode(), 0x8000_0603);
    }
}
