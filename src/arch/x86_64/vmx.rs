//! VMX: the feature checks, VMXON, and VMCS access.
//!
//! [`check`] reads CPUID and the VMX capability MSRs once (boot CPU) and
//! names the first missing feature; [`Controls`] holds the control values
//! every VMCS gets, already adjusted to what the CPU allows. [`enable`]
//! turns VMX on for the calling CPU.

use core::arch::asm;

use tock_registers::LocalRegisterCopy;
use tock_registers::register_bitfields;

use super::cpu::{self, rdmsr, wrmsr};
pub(crate) use super::model::vmx_caps::Lacking;
use super::model::vmx_caps::{self, Side};

/// `IA32_FEATURE_CONTROL`.
const IA32_FEATURE_CONTROL: u32 = 0x3a;
const IA32_VMX_BASIC: u32 = 0x480;
const IA32_VMX_PINBASED_CTLS: u32 = 0x481;
const IA32_VMX_PROCBASED_CTLS: u32 = 0x482;
const IA32_VMX_EXIT_CTLS: u32 = 0x483;
const IA32_VMX_ENTRY_CTLS: u32 = 0x484;
const IA32_VMX_MISC: u32 = 0x485;
const IA32_VMX_CR0_FIXED0: u32 = 0x486;
const IA32_VMX_CR0_FIXED1: u32 = 0x487;
const IA32_VMX_CR4_FIXED0: u32 = 0x488;
const IA32_VMX_CR4_FIXED1: u32 = 0x489;
const IA32_VMX_PROCBASED_CTLS2: u32 = 0x48b;
const IA32_VMX_EPT_VPID_CAP: u32 = 0x48c;
const IA32_VMX_TRUE_PINBASED_CTLS: u32 = 0x48d;
const IA32_VMX_TRUE_PROCBASED_CTLS: u32 = 0x48e;
const IA32_VMX_TRUE_EXIT_CTLS: u32 = 0x48f;
const IA32_VMX_TRUE_ENTRY_CTLS: u32 = 0x490;

register_bitfields! [u32,
    /// Pin-based VM-execution controls (SDM 25.6.1).
    PinControls [
        /// NMIs cause exits (the hypervisor's stop and mailbox kicks).
        NMI_EXITING OFFSET(3) NUMBITS(1) [],
        /// Virtual NMIs (needed for NMI-window exiting).
        VIRTUAL_NMIS OFFSET(5) NUMBITS(1) []
    ],
    /// Primary processor-based VM-execution controls (SDM 25.6.2).
    ProcControls [
        /// HLT exits.
        HLT_EXITING OFFSET(7) NUMBITS(1) [],
        /// RDPMC exits (F11: the PMU is not the cell's).
        RDPMC_EXITING OFFSET(11) NUMBITS(1) [],
        /// Exit as soon as the guest could take an NMI (set by a kick that
        /// arrived while the hypervisor ran, so VM entry exits at once).
        NMI_WINDOW_EXITING OFFSET(22) NUMBITS(1) [],
        /// I/O bitmaps decide which port accesses exit.
        USE_IO_BITMAPS OFFSET(25) NUMBITS(1) [],
        /// The MSR bitmap decides which RDMSR/WRMSR exit.
        USE_MSR_BITMAPS OFFSET(28) NUMBITS(1) [],
        /// Secondary controls are used.
        SECONDARY OFFSET(31) NUMBITS(1) []
    ],
    /// Secondary processor-based VM-execution controls (SDM 25.6.2).
    SecondaryControls [
        /// EPT.
        ENABLE_EPT OFFSET(1) NUMBITS(1) [],
        /// RDTSCP does not fault.
        ENABLE_RDTSCP OFFSET(3) NUMBITS(1) [],
        /// VPID-tagged TLB entries.
        ENABLE_VPID OFFSET(5) NUMBITS(1) [],
        /// WBINVD exits (F11: emulated as a no-op).
        WBINVD_EXITING OFFSET(6) NUMBITS(1) [],
        /// Guests may run unpaged / in real mode.
        UNRESTRICTED_GUEST OFFSET(7) NUMBITS(1) [],
        /// INVPCID does not fault.
        ENABLE_INVPCID OFFSET(12) NUMBITS(1) []
    ],
    /// VM-exit controls (SDM 25.7.1).
    ExitControls [
        /// Save the guest's DR7 and IA32_DEBUGCTL (F11).
        SAVE_DEBUG OFFSET(2) NUMBITS(1) [],
        /// Host runs in 64-bit mode after an exit.
        HOST_64BIT OFFSET(9) NUMBITS(1) [],
        /// Save the guest's PAT.
        SAVE_PAT OFFSET(18) NUMBITS(1) [],
        /// Load the host's PAT.
        LOAD_PAT OFFSET(19) NUMBITS(1) [],
        /// Save the guest's EFER.
        SAVE_EFER OFFSET(20) NUMBITS(1) [],
        /// Load the host's EFER.
        LOAD_EFER OFFSET(21) NUMBITS(1) []
    ],
    /// VM-entry controls (SDM 25.8.1).
    EntryControls [
        /// Load the guest's DR7 and IA32_DEBUGCTL (F11).
        LOAD_DEBUG OFFSET(2) NUMBITS(1) [],
        /// The guest is in IA-32e mode after entry.
        IA32E_GUEST OFFSET(9) NUMBITS(1) [],
        /// Load the guest's PAT.
        LOAD_PAT OFFSET(14) NUMBITS(1) [],
        /// Load the guest's EFER.
        LOAD_EFER OFFSET(15) NUMBITS(1) []
    ]
];

register_bitfields! [u64,
    /// IA32_VMX_BASIC (SDM A.1).
    VmxBasic [
        /// The VMCS revision identifier.
        REVISION OFFSET(0) NUMBITS(31) [],
        /// Memory type for VMCS accesses.
        MEMORY_TYPE OFFSET(50) NUMBITS(4) [
            WriteBack = 6
        ],
        /// The TRUE capability MSRs exist.
        TRUE_CONTROLS OFFSET(55) NUMBITS(1) []
    ],
    /// IA32_VMX_EPT_VPID_CAP (SDM A.10).
    EptVpidCap [
        /// Page walks of length 4.
        WALK_4 OFFSET(6) NUMBITS(1) [],
        /// Write-back EPT paging structures.
        WRITE_BACK OFFSET(14) NUMBITS(1) [],
        /// 2 MiB EPT pages.
        PAGES_2M OFFSET(16) NUMBITS(1) [],
        /// 1 GiB EPT pages.
        PAGES_1G OFFSET(17) NUMBITS(1) [],
        /// INVEPT.
        INVEPT OFFSET(20) NUMBITS(1) [],
        /// INVEPT single-context.
        INVEPT_SINGLE OFFSET(25) NUMBITS(1) []
    ],
    /// IA32_FEATURE_CONTROL.
    FeatureControl [
        /// The MSR is locked.
        LOCK OFFSET(0) NUMBITS(1) [],
        /// VMX outside SMX allowed.
        VMX_OUTSIDE_SMX OFFSET(2) NUMBITS(1) []
    ],
    /// IA32_VMX_MISC (SDM A.6).
    VmxMisc [
        /// The HLT activity state is supported.
        HLT_ACTIVITY OFFSET(6) NUMBITS(1) []
    ]
];

/// NMI-window exiting, as a mask (the NMI handler sets it in a live VMCS).
pub(crate) const NMI_WINDOW_EXITING: u32 = 1 << 22;
const _: () = assert!(ProcControls::NMI_WINDOW_EXITING::SET.value == NMI_WINDOW_EXITING);

/// Control values every VMCS gets, adjusted to the CPU.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Controls {
    /// Revision id for VMXON and VMCS regions.
    pub(crate) revision: u32,
    /// Pin-based controls.
    pub(crate) pin: u32,
    /// Primary processor-based controls.
    pub(crate) proc1: u32,
    /// Secondary processor-based controls.
    pub(crate) proc2: u32,
    /// VM-exit controls.
    pub(crate) exit: u32,
    /// VM-entry controls.
    pub(crate) entry: u32,
    /// CR0 bits fixed to 1 / allowed to be 1 in VMX operation.
    pub(crate) cr0_fixed: (u64, u64),
    /// CR4 bits fixed to 1 / allowed to be 1 in VMX operation.
    pub(crate) cr4_fixed: (u64, u64),
    /// The HLT activity state is supported.
    pub(crate) hlt_activity: bool,
    /// EPT may map 1 GiB pages.
    pub(crate) ept_1g: bool,
    /// Hardening controls this CPU lacks (cells run without them).
    pub(crate) lacking: Lacking,
}

/// Adjusts `wanted` to the capability MSR `msr` (low half: bits that must
/// be 1; high half: bits that may be 1). Returns the value and the wanted
/// bits the CPU cannot set.
fn adjust(msr: u32, wanted: u32) -> (u32, u32) {
    vmx_caps::adjust(rdmsr(msr), wanted)
}

/// Why VMX cannot be used.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Missing(pub &'static str);

/// Checks that this CPU has everything Bulkhead needs and computes the
/// controls; names the first missing feature.
pub(crate) fn check() -> Result<Controls, Missing> {
    let [_, _, ecx, _] = cpu::cpuid(1, 0);
    if ecx & (1 << 5) == 0 {
        return Err(Missing("VMX (CPUID.1:ECX bit 5 is clear)"));
    }
    let feature =
        LocalRegisterCopy::<u64, FeatureControl::Register>::new(rdmsr(IA32_FEATURE_CONTROL));
    if feature.is_set(FeatureControl::LOCK) && !feature.is_set(FeatureControl::VMX_OUTSIDE_SMX) {
        return Err(Missing(
            "VMX outside SMX (IA32_FEATURE_CONTROL is locked with bit 2 clear: enable VT-x in the firmware)",
        ));
    }
    let basic = LocalRegisterCopy::<u64, VmxBasic::Register>::new(rdmsr(IA32_VMX_BASIC));
    if !basic.matches_all(VmxBasic::MEMORY_TYPE::WriteBack) {
        return Err(Missing(
            "write-back VMCS memory (IA32_VMX_BASIC bits 53:50)",
        ));
    }
    let msrs = CapabilityMsrs::for_basic(basic.is_set(VmxBasic::TRUE_CONTROLS));
    let mut lacking = Lacking::default();
    let (pin, proc1, proc2) = execution_controls(&msrs, &mut lacking)?;
    let ept = ept_capabilities()?;
    let (exit, entry) = exit_entry_controls(&msrs, &mut lacking)?;
    if ecx & (1 << 21) == 0 {
        return Err(Missing("x2APIC (CPUID.1:ECX bit 21 is clear)"));
    }
    let misc = LocalRegisterCopy::<u64, VmxMisc::Register>::new(rdmsr(IA32_VMX_MISC));
    Ok(Controls {
        revision: basic.read(VmxBasic::REVISION) as u32,
        pin,
        proc1,
        proc2,
        exit,
        entry,
        cr0_fixed: (rdmsr(IA32_VMX_CR0_FIXED0), rdmsr(IA32_VMX_CR0_FIXED1)),
        cr4_fixed: (rdmsr(IA32_VMX_CR4_FIXED0), rdmsr(IA32_VMX_CR4_FIXED1)),
        hlt_activity: misc.is_set(VmxMisc::HLT_ACTIVITY),
        ept_1g: ept.is_set(EptVpidCap::PAGES_1G),
        lacking,
    })
}

/// The capability MSRs the control checks read: the TRUE ones where the
/// CPU has them.
struct CapabilityMsrs {
    pin: u32,
    proc1: u32,
    exit: u32,
    entry: u32,
}

impl CapabilityMsrs {
    fn for_basic(true_controls: bool) -> Self {
        if true_controls {
            Self {
                pin: IA32_VMX_TRUE_PINBASED_CTLS,
                proc1: IA32_VMX_TRUE_PROCBASED_CTLS,
                exit: IA32_VMX_TRUE_EXIT_CTLS,
                entry: IA32_VMX_TRUE_ENTRY_CTLS,
            }
        } else {
            Self {
                pin: IA32_VMX_PINBASED_CTLS,
                proc1: IA32_VMX_PROCBASED_CTLS,
                exit: IA32_VMX_EXIT_CTLS,
                entry: IA32_VMX_ENTRY_CTLS,
            }
        }
    }
}

/// The pin-based, primary and secondary processor-based controls: NMI
/// exiting with virtual NMIs (stop kicks) and NMI-window exiting, HLT
/// exiting, I/O and MSR bitmaps, EPT, VPID, unrestricted guest; RDPMC and
/// WBINVD exiting where the CPU has them (recorded in `lacking`).
fn execution_controls(
    msrs: &CapabilityMsrs,
    lacking: &mut Lacking,
) -> Result<(u32, u32, u32), Missing> {
    let (pin, missing) = adjust(
        msrs.pin,
        (PinControls::NMI_EXITING::SET + PinControls::VIRTUAL_NMIS::SET).value,
    );
    if missing != 0 {
        return Err(Missing("NMI exiting and virtual NMIs (pin-based controls)"));
    }
    if (rdmsr(msrs.proc1) >> 32) as u32 & NMI_WINDOW_EXITING == 0 {
        return Err(Missing(
            "NMI-window exiting (processor-based controls bit 22)",
        ));
    }
    let wanted = ProcControls::HLT_EXITING::SET
        + ProcControls::USE_IO_BITMAPS::SET
        + ProcControls::USE_MSR_BITMAPS::SET
        + ProcControls::SECONDARY::SET
        + ProcControls::RDPMC_EXITING::SET;
    let (proc1, missing) = adjust(msrs.proc1, wanted.value);
    let missing = LocalRegisterCopy::<u32, ProcControls::Register>::new(missing);
    lacking.rdpmc_exiting = missing.is_set(ProcControls::RDPMC_EXITING);
    for (field, what) in [
        (
            ProcControls::SECONDARY,
            "secondary processor-based controls",
        ),
        (ProcControls::USE_IO_BITMAPS, "I/O bitmaps"),
        (ProcControls::USE_MSR_BITMAPS, "MSR bitmaps"),
        (ProcControls::HLT_EXITING, "HLT exiting"),
    ] {
        if missing.is_set(field) {
            return Err(Missing(what));
        }
    }
    let wanted = SecondaryControls::ENABLE_EPT::SET
        + SecondaryControls::ENABLE_VPID::SET
        + SecondaryControls::UNRESTRICTED_GUEST::SET
        + SecondaryControls::ENABLE_RDTSCP::SET
        + SecondaryControls::ENABLE_INVPCID::SET
        + SecondaryControls::WBINVD_EXITING::SET;
    let (proc2, missing) = adjust(IA32_VMX_PROCBASED_CTLS2, wanted.value);
    let missing = LocalRegisterCopy::<u32, SecondaryControls::Register>::new(missing);
    lacking.wbinvd_exiting = missing.is_set(SecondaryControls::WBINVD_EXITING);
    for (field, what) in [
        (
            SecondaryControls::ENABLE_EPT,
            "EPT (secondary controls bit 1)",
        ),
        (
            SecondaryControls::ENABLE_VPID,
            "VPID (secondary controls bit 5)",
        ),
        (
            SecondaryControls::UNRESTRICTED_GUEST,
            "unrestricted guest (secondary controls bit 7)",
        ),
    ] {
        if missing.is_set(field) {
            return Err(Missing(what));
        }
    }
    Ok((pin, proc1, proc2))
}

/// EPT as cells use it: 4-level walks, write-back structures, 2 MiB pages,
/// single-context INVEPT.
fn ept_capabilities() -> Result<LocalRegisterCopy<u64, EptVpidCap::Register>, Missing> {
    let ept = LocalRegisterCopy::<u64, EptVpidCap::Register>::new(rdmsr(IA32_VMX_EPT_VPID_CAP));
    for (field, what) in [
        (
            EptVpidCap::WALK_4,
            "4-level EPT page walks (IA32_VMX_EPT_VPID_CAP bit 6)",
        ),
        (
            EptVpidCap::WRITE_BACK,
            "write-back EPT structures (IA32_VMX_EPT_VPID_CAP bit 14)",
        ),
        (
            EptVpidCap::PAGES_2M,
            "2 MiB EPT pages (IA32_VMX_EPT_VPID_CAP bit 16)",
        ),
        (
            EptVpidCap::INVEPT,
            "INVEPT single-context (IA32_VMX_EPT_VPID_CAP bits 20, 25)",
        ),
        (
            EptVpidCap::INVEPT_SINGLE,
            "INVEPT single-context (IA32_VMX_EPT_VPID_CAP bits 20, 25)",
        ),
    ] {
        if !ept.is_set(field) {
            return Err(Missing(what));
        }
    }
    Ok(ept)
}

/// A 64-bit host, a 64-bit guest, and PAT and EFER switched on exit and
/// entry; DR7 and IA32_DEBUGCTL too where the CPU can (recorded in
/// `lacking`: both directions or neither).
fn exit_entry_controls(
    msrs: &CapabilityMsrs,
    lacking: &mut Lacking,
) -> Result<(u32, u32), Missing> {
    let wanted = ExitControls::HOST_64BIT::SET
        + ExitControls::SAVE_PAT::SET
        + ExitControls::LOAD_PAT::SET
        + ExitControls::SAVE_EFER::SET
        + ExitControls::LOAD_EFER::SET;
    let entry_wanted = EntryControls::IA32E_GUEST::SET
        + EntryControls::LOAD_PAT::SET
        + EntryControls::LOAD_EFER::SET;
    let debug = (
        ExitControls::SAVE_DEBUG::SET.value,
        EntryControls::LOAD_DEBUG::SET.value,
    );
    match vmx_caps::exit_entry(
        (rdmsr(msrs.exit), rdmsr(msrs.entry)),
        (wanted.value, entry_wanted.value),
        debug,
    ) {
        Ok((exit, entry, dropped)) => {
            lacking.debug_controls = dropped;
            Ok((exit, entry))
        }
        Err(Side::Exit) => Err(Missing("64-bit host / PAT and EFER save+load on exit")),
        Err(Side::Entry) => Err(Missing("IA-32e guest / PAT and EFER load on entry")),
    }
}

/// A 4 KiB VMXON or VMCS region.
#[repr(C, align(4096))]
pub(crate) struct Region(pub [u8; 4096]);

/// Turns VMX on for this CPU with `region` (identity-mapped, so its
/// address is physical).
///
/// # Safety
/// `region` is this CPU's own VMXON region, used for nothing else.
pub(crate) unsafe fn enable(controls: &Controls, region: *mut Region) -> Result<(), Missing> {
    let feature = rdmsr(IA32_FEATURE_CONTROL);
    if feature & 1 == 0 {
        // SAFETY: unlocked: enable VMX outside SMX and lock.
        unsafe { wrmsr(IA32_FEATURE_CONTROL, feature | 0b101) };
    }
    let mut cr0: u64;
    let mut cr4: u64;
    // SAFETY: reading and writing CR0/CR4 with the bits VMX requires set and
    // the bits it forbids clear; paging and protection stay as they are.
    unsafe {
        asm!("mov {}, cr0", out(reg) cr0, options(nomem, nostack));
        asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack));
        cr0 = (cr0 | controls.cr0_fixed.0) & controls.cr0_fixed.1;
        cr4 = (cr4 | (1 << 13) | controls.cr4_fixed.0) & controls.cr4_fixed.1;
        asm!("mov cr0, {}", in(reg) cr0, options(nostack));
        asm!("mov cr4, {}", in(reg) cr4, options(nostack));
    }
    // SAFETY: the caller's region, written before VMXON uses it.
    unsafe { (&mut (*region).0)[..4].copy_from_slice(&controls.revision.to_le_bytes()) };
    let phys = region as u64;
    let failed: u8;
    // SAFETY: VMXON with a 4 KiB-aligned region carrying the revision id,
    // CR0/CR4 adjusted above.
    unsafe {
        asm!("vmxon [{}]", "setna {}", in(reg) &phys, out(reg_byte) failed, options(nostack));
    }
    if failed != 0 {
        return Err(Missing("VMXON failed"));
    }
    Ok(())
}

/// Clears and loads `region` as this CPU's current VMCS.
///
/// # Safety
/// `region` is a VMCS region owned by this CPU.
pub(crate) unsafe fn load_vmcs(controls: &Controls, region: *mut Region) -> Result<(), Missing> {
    // SAFETY: the caller's region.
    unsafe { (&mut (*region).0)[..4].copy_from_slice(&controls.revision.to_le_bytes()) };
    let phys = region as u64;
    let failed: u8;
    // SAFETY: VMCLEAR then VMPTRLD on the caller's aligned region.
    unsafe {
        asm!(
            "vmclear [{p}]",
            "setna {f}",
            "vmptrld [{p}]",
            "setna {g}",
            "or {f}, {g}",
            p = in(reg) &phys,
            f = out(reg_byte) failed,
            g = out(reg_byte) _,
            options(nostack)
        );
    }
    if failed != 0 {
        return Err(Missing("VMCLEAR/VMPTRLD failed"));
    }
    Ok(())
}

/// Reads VMCS field `field` of the current VMCS.
pub(crate) fn read(field: u32) -> u64 {
    let value: u64;
    // SAFETY: VMREAD of a field of the current VMCS; no memory effects.
    unsafe {
        asm!("vmread {v}, {f}", v = out(reg) value, f = in(reg) u64::from(field), options(nostack));
    }
    value
}

/// Writes `value` to VMCS field `field` of the current VMCS.
pub(crate) fn write(field: u32, value: u64) {
    // SAFETY: VMWRITE to the current VMCS; no memory effects.
    unsafe {
        asm!("vmwrite {f}, {v}", f = in(reg) u64::from(field), v = in(reg) value, options(nostack));
    }
}

/// Invalidates EPT-derived translations for `eptp` (single context).
pub(crate) fn invept(eptp: u64) {
    let descriptor: [u64; 2] = [eptp, 0];
    // SAFETY: INVEPT type 1 with a valid descriptor; TLB maintenance only.
    unsafe {
        asm!("invept {t}, [{d}]", t = in(reg) 1u64, d = in(reg) &descriptor, options(nostack));
    }
}

/// VMCS field encodings (SDM Appendix B).
#[allow(missing_docs)]
pub(crate) mod field {
    pub(crate) const VPID: u32 = 0x0000;
    pub(crate) const GUEST_ES_SELECTOR: u32 = 0x0800;
    pub(crate) const GUEST_CS_SELECTOR: u32 = 0x0802;
    pub(crate) const GUEST_SS_SELECTOR: u32 = 0x0804;
    pub(crate) const GUEST_DS_SELECTOR: u32 = 0x0806;
    pub(crate) const GUEST_FS_SELECTOR: u32 = 0x0808;
    pub(crate) const GUEST_GS_SELECTOR: u32 = 0x080a;
    pub(crate) const GUEST_LDTR_SELECTOR: u32 = 0x080c;
    pub(crate) const GUEST_TR_SELECTOR: u32 = 0x080e;
    pub(crate) const HOST_ES_SELECTOR: u32 = 0x0c00;
    pub(crate) const HOST_CS_SELECTOR: u32 = 0x0c02;
    pub(crate) const HOST_SS_SELECTOR: u32 = 0x0c04;
    pub(crate) const HOST_DS_SELECTOR: u32 = 0x0c06;
    pub(crate) const HOST_FS_SELECTOR: u32 = 0x0c08;
    pub(crate) const HOST_GS_SELECTOR: u32 = 0x0c0a;
    pub(crate) const HOST_TR_SELECTOR: u32 = 0x0c0c;
    pub(crate) const IO_BITMAP_A: u32 = 0x2000;
    pub(crate) const IO_BITMAP_B: u32 = 0x2002;
    pub(crate) const MSR_BITMAP: u32 = 0x2004;
    pub(crate) const EPT_POINTER: u32 = 0x201a;
    pub(crate) const GUEST_PHYSICAL_ADDRESS: u32 = 0x2400;
    pub(crate) const VMCS_LINK_POINTER: u32 = 0x2800;
    pub(crate) const GUEST_IA32_DEBUGCTL: u32 = 0x2802;
    pub(crate) const GUEST_IA32_PAT: u32 = 0x2804;
    pub(crate) const GUEST_IA32_EFER: u32 = 0x2806;
    pub(crate) const HOST_IA32_PAT: u32 = 0x2c00;
    pub(crate) const HOST_IA32_EFER: u32 = 0x2c02;
    pub(crate) const PIN_BASED_CONTROLS: u32 = 0x4000;
    pub(crate) const PROC_BASED_CONTROLS: u32 = 0x4002;
    pub(crate) const EXCEPTION_BITMAP: u32 = 0x4004;
    pub(crate) const CR3_TARGET_COUNT: u32 = 0x400a;
    pub(crate) const EXIT_CONTROLS: u32 = 0x400c;
    pub(crate) const EXIT_MSR_STORE_COUNT: u32 = 0x400e;
    pub(crate) const EXIT_MSR_LOAD_COUNT: u32 = 0x4010;
    pub(crate) const ENTRY_CONTROLS: u32 = 0x4012;
    pub(crate) const ENTRY_MSR_LOAD_COUNT: u32 = 0x4014;
    pub(crate) const ENTRY_INTERRUPTION_INFO: u32 = 0x4016;
    pub(crate) const ENTRY_EXCEPTION_ERROR_CODE: u32 = 0x4018;
    pub(crate) const PROC_BASED_CONTROLS2: u32 = 0x401e;
    pub(crate) const VM_INSTRUCTION_ERROR: u32 = 0x4400;
    pub(crate) const EXIT_REASON: u32 = 0x4402;
    pub(crate) const EXIT_INTERRUPTION_INFO: u32 = 0x4404;
    pub(crate) const IDT_VECTORING_INFO: u32 = 0x4408;
    pub(crate) const EXIT_INSTRUCTION_LENGTH: u32 = 0x440c;
    pub(crate) const GUEST_ES_LIMIT: u32 = 0x4800;
    pub(crate) const GUEST_CS_LIMIT: u32 = 0x4802;
    pub(crate) const GUEST_SS_LIMIT: u32 = 0x4804;
    pub(crate) const GUEST_DS_LIMIT: u32 = 0x4806;
    pub(crate) const GUEST_FS_LIMIT: u32 = 0x4808;
    pub(crate) const GUEST_GS_LIMIT: u32 = 0x480a;
    pub(crate) const GUEST_LDTR_LIMIT: u32 = 0x480c;
    pub(crate) const GUEST_TR_LIMIT: u32 = 0x480e;
    pub(crate) const GUEST_GDTR_LIMIT: u32 = 0x4810;
    pub(crate) const GUEST_IDTR_LIMIT: u32 = 0x4812;
    pub(crate) const GUEST_ES_AR: u32 = 0x4814;
    pub(crate) const GUEST_CS_AR: u32 = 0x4816;
    pub(crate) const GUEST_SS_AR: u32 = 0x4818;
    pub(crate) const GUEST_DS_AR: u32 = 0x481a;
    pub(crate) const GUEST_FS_AR: u32 = 0x481c;
    pub(crate) const GUEST_GS_AR: u32 = 0x481e;
    pub(crate) const GUEST_LDTR_AR: u32 = 0x4820;
    pub(crate) const GUEST_TR_AR: u32 = 0x4822;
    pub(crate) const GUEST_INTERRUPTIBILITY: u32 = 0x4824;
    pub(crate) const GUEST_ACTIVITY_STATE: u32 = 0x4826;
    pub(crate) const GUEST_SYSENTER_CS: u32 = 0x482a;
    pub(crate) const HOST_SYSENTER_CS: u32 = 0x4c00;
    pub(crate) const CR0_GUEST_HOST_MASK: u32 = 0x6000;
    pub(crate) const CR4_GUEST_HOST_MASK: u32 = 0x6002;
    pub(crate) const CR0_READ_SHADOW: u32 = 0x6004;
    pub(crate) const CR4_READ_SHADOW: u32 = 0x6006;
    pub(crate) const EXIT_QUALIFICATION: u32 = 0x6400;
    pub(crate) const GUEST_CR0: u32 = 0x6800;
    pub(crate) const GUEST_CR3: u32 = 0x6802;
    pub(crate) const GUEST_CR4: u32 = 0x6804;
    pub(crate) const GUEST_ES_BASE: u32 = 0x6806;
    pub(crate) const GUEST_CS_BASE: u32 = 0x6808;
    pub(crate) const GUEST_SS_BASE: u32 = 0x680a;
    pub(crate) const GUEST_DS_BASE: u32 = 0x680c;
    pub(crate) const GUEST_FS_BASE: u32 = 0x680e;
    pub(crate) const GUEST_GS_BASE: u32 = 0x6810;
    pub(crate) const GUEST_LDTR_BASE: u32 = 0x6812;
    pub(crate) const GUEST_TR_BASE: u32 = 0x6814;
    pub(crate) const GUEST_GDTR_BASE: u32 = 0x6816;
    pub(crate) const GUEST_IDTR_BASE: u32 = 0x6818;
    pub(crate) const GUEST_DR7: u32 = 0x681a;
    pub(crate) const GUEST_RSP: u32 = 0x681c;
    pub(crate) const GUEST_RIP: u32 = 0x681e;
    pub(crate) const GUEST_RFLAGS: u32 = 0x6820;
    pub(crate) const GUEST_PENDING_DEBUG: u32 = 0x6822;
    pub(crate) const GUEST_SYSENTER_ESP: u32 = 0x6824;
    pub(crate) const GUEST_SYSENTER_EIP: u32 = 0x6826;
    pub(crate) const HOST_CR0: u32 = 0x6c00;
    pub(crate) const HOST_CR3: u32 = 0x6c02;
    pub(crate) const HOST_CR4: u32 = 0x6c04;
    pub(crate) const HOST_FS_BASE: u32 = 0x6c06;
    pub(crate) const HOST_GS_BASE: u32 = 0x6c08;
    pub(crate) const HOST_TR_BASE: u32 = 0x6c0a;
    pub(crate) const HOST_GDTR_BASE: u32 = 0x6c0c;
    pub(crate) const HOST_IDTR_BASE: u32 = 0x6c0e;
    pub(crate) const HOST_SYSENTER_ESP: u32 = 0x6c10;
    pub(crate) const HOST_SYSENTER_EIP: u32 = 0x6c12;
    pub(crate) const HOST_RSP: u32 = 0x6c14;
    pub(crate) const HOST_RIP: u32 = 0x6c16;
}
