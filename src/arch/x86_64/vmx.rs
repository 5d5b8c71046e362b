//! VMX: the feature checks, VMXON, and VMCS access.
//!
//! [`check`] reads CPUID and the VMX capability MSRs once (boot CPU) and
//! names the first missing feature; [`Controls`] holds the control values
//! every VMCS gets, already adjusted to what the CPU allows. [`enable`]
//! turns VMX on for the calling CPU.

use core::arch::asm;

use super::cpu::{self, rdmsr, wrmsr};

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

/// Pin-based controls.
pub(crate) mod pin {
    /// NMIs cause exits (the hypervisor's stop and mailbox kicks).
    pub(crate) const NMI_EXITING: u32 = 1 << 3;
    /// Virtual NMIs (needed for NMI-window exiting).
    pub(crate) const VIRTUAL_NMIS: u32 = 1 << 5;
}

/// Primary processor-based controls.
pub(crate) mod proc1 {
    /// HLT exits.
    pub(crate) const HLT_EXITING: u32 = 1 << 7;
    /// Exit as soon as the guest could take an NMI (set by a kick that
    /// arrived while the hypervisor ran, so VM entry exits at once).
    pub(crate) const NMI_WINDOW_EXITING: u32 = 1 << 22;
    /// I/O bitmaps decide which port accesses exit.
    pub(crate) const USE_IO_BITMAPS: u32 = 1 << 25;
    /// The MSR bitmap decides which RDMSR/WRMSR exit.
    pub(crate) const USE_MSR_BITMAPS: u32 = 1 << 28;
    /// Secondary controls are used.
    pub(crate) const SECONDARY: u32 = 1 << 31;
}

/// Secondary processor-based controls.
pub(crate) mod proc2 {
    /// EPT.
    pub(crate) const ENABLE_EPT: u32 = 1 << 1;
    /// RDTSCP does not fault.
    pub(crate) const ENABLE_RDTSCP: u32 = 1 << 3;
    /// VPID-tagged TLB entries.
    pub(crate) const ENABLE_VPID: u32 = 1 << 5;
    /// Guests may run unpaged / in real mode.
    pub(crate) const UNRESTRICTED_GUEST: u32 = 1 << 7;
    /// INVPCID does not fault.
    pub(crate) const ENABLE_INVPCID: u32 = 1 << 12;
}

/// VM-exit controls.
pub(crate) mod exit {
    /// Host runs in 64-bit mode after an exit.
    pub(crate) const HOST_64BIT: u32 = 1 << 9;
    /// Save the guest's PAT.
    pub(crate) const SAVE_PAT: u32 = 1 << 18;
    /// Load the host's PAT.
    pub(crate) const LOAD_PAT: u32 = 1 << 19;
    /// Save the guest's EFER.
    pub(crate) const SAVE_EFER: u32 = 1 << 20;
    /// Load the host's EFER.
    pub(crate) const LOAD_EFER: u32 = 1 << 21;
}

/// VM-entry controls.
pub(crate) mod entry {
    /// The guest is in IA-32e mode after entry.
    pub(crate) const IA32E_GUEST: u32 = 1 << 9;
    /// Load the guest's PAT.
    pub(crate) const LOAD_PAT: u32 = 1 << 14;
    /// Load the guest's EFER.
    pub(crate) const LOAD_EFER: u32 = 1 << 15;
}

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
}

/// Adjusts `wanted` to the capability MSR `msr` (low half: bits that must
/// be 1; high half: bits that may be 1). Returns the value and the wanted
/// bits the CPU cannot set.
fn adjust(msr: u32, wanted: u32) -> (u32, u32) {
    let cap = rdmsr(msr);
    let must = cap as u32;
    let may = (cap >> 32) as u32;
    ((wanted | must) & may, wanted & !may)
}

/// Why VMX cannot be used.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Missing(pub &'static str);

/// Checks that this CPU has everything Bulkhead needs and computes the
/// controls.
pub(crate) fn check() -> Result<Controls, Missing> {
    let [_, _, ecx, _] = cpu::cpuid(1, 0);
    if ecx & (1 << 5) == 0 {
        return Err(Missing("VMX (CPUID.1:ECX bit 5 is clear)"));
    }
    let feature = rdmsr(IA32_FEATURE_CONTROL);
    if feature & 1 != 0 && feature & (1 << 2) == 0 {
        return Err(Missing(
            "VMX outside SMX (IA32_FEATURE_CONTROL is locked with bit 2 clear: enable VT-x in the firmware)",
        ));
    }
    let basic = rdmsr(IA32_VMX_BASIC);
    if (basic >> 50) & 0xf != 6 {
        return Err(Missing(
            "write-back VMCS memory (IA32_VMX_BASIC bits 53:50)",
        ));
    }
    let true_controls = basic & (1 << 55) != 0;
    let (pin_msr, proc_msr, exit_msr, entry_msr) = if true_controls {
        (
            IA32_VMX_TRUE_PINBASED_CTLS,
            IA32_VMX_TRUE_PROCBASED_CTLS,
            IA32_VMX_TRUE_EXIT_CTLS,
            IA32_VMX_TRUE_ENTRY_CTLS,
        )
    } else {
        (
            IA32_VMX_PINBASED_CTLS,
            IA32_VMX_PROCBASED_CTLS,
            IA32_VMX_EXIT_CTLS,
            IA32_VMX_ENTRY_CTLS,
        )
    };
    let (pin, missing) = adjust(pin_msr, pin::NMI_EXITING | pin::VIRTUAL_NMIS);
    if missing != 0 {
        return Err(Missing("NMI exiting and virtual NMIs (pin-based controls)"));
    }
    if (rdmsr(proc_msr) >> 32) as u32 & proc1::NMI_WINDOW_EXITING == 0 {
        return Err(Missing(
            "NMI-window exiting (processor-based controls bit 22)",
        ));
    }
    let (proc1, missing) = adjust(
        proc_msr,
        proc1::HLT_EXITING | proc1::USE_IO_BITMAPS | proc1::USE_MSR_BITMAPS | proc1::SECONDARY,
    );
    if missing & proc1::SECONDARY != 0 {
        return Err(Missing("secondary processor-based controls"));
    }
    if missing & proc1::USE_IO_BITMAPS != 0 {
        return Err(Missing("I/O bitmaps"));
    }
    if missing & proc1::USE_MSR_BITMAPS != 0 {
        return Err(Missing("MSR bitmaps"));
    }
    if missing & proc1::HLT_EXITING != 0 {
        return Err(Missing("HLT exiting"));
    }
    let (proc2, missing) = adjust(
        IA32_VMX_PROCBASED_CTLS2,
        proc2::ENABLE_EPT
            | proc2::ENABLE_VPID
            | proc2::UNRESTRICTED_GUEST
            | proc2::ENABLE_RDTSCP
            | proc2::ENABLE_INVPCID,
    );
    if missing & proc2::ENABLE_EPT != 0 {
        return Err(Missing("EPT (secondary controls bit 1)"));
    }
    if missing & proc2::ENABLE_VPID != 0 {
        return Err(Missing("VPID (secondary controls bit 5)"));
    }
    if missing & proc2::UNRESTRICTED_GUEST != 0 {
        return Err(Missing("unrestricted guest (secondary controls bit 7)"));
    }
    let ept = rdmsr(IA32_VMX_EPT_VPID_CAP);
    if ept & (1 << 6) == 0 {
        return Err(Missing(
            "4-level EPT page walks (IA32_VMX_EPT_VPID_CAP bit 6)",
        ));
    }
    if ept & (1 << 14) == 0 {
        return Err(Missing(
            "write-back EPT structures (IA32_VMX_EPT_VPID_CAP bit 14)",
        ));
    }
    if ept & (1 << 16) == 0 {
        return Err(Missing("2 MiB EPT pages (IA32_VMX_EPT_VPID_CAP bit 16)"));
    }
    if ept & (1 << 20) == 0 || ept & (1 << 25) == 0 {
        return Err(Missing(
            "INVEPT single-context (IA32_VMX_EPT_VPID_CAP bits 20, 25)",
        ));
    }
    let (exit, missing) = adjust(
        exit_msr,
        exit::HOST_64BIT | exit::SAVE_PAT | exit::LOAD_PAT | exit::SAVE_EFER | exit::LOAD_EFER,
    );
    if missing != 0 {
        return Err(Missing("64-bit host / PAT and EFER save+load on exit"));
    }
    let (entry, missing) = adjust(
        entry_msr,
        entry::IA32E_GUEST | entry::LOAD_PAT | entry::LOAD_EFER,
    );
    if missing != 0 {
        return Err(Missing("IA-32e guest / PAT and EFER load on entry"));
    }
    if ecx & (1 << 21) == 0 {
        return Err(Missing("x2APIC (CPUID.1:ECX bit 21 is clear)"));
    }
    let misc = rdmsr(IA32_VMX_MISC);
    Ok(Controls {
        revision: (basic & 0x7fff_ffff) as u32,
        pin,
        proc1,
        proc2,
        exit,
        entry,
        cr0_fixed: (rdmsr(IA32_VMX_CR0_FIXED0), rdmsr(IA32_VMX_CR0_FIXED1)),
        cr4_fixed: (rdmsr(IA32_VMX_CR4_FIXED0), rdmsr(IA32_VMX_CR4_FIXED1)),
        hlt_activity: misc & (1 << 6) != 0,
        ept_1g: ept & (1 << 17) != 0,
    })
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
