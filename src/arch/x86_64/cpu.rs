//! The executing CPU: model-specific registers, CPUID, I/O ports, its local
//! APIC (x2APIC mode) and its index.

use core::arch::asm;

use x86_64::instructions::port::Port;
use x86_64::registers::model_specific::Msr;

use crate::config::CPUS;

/// `IA32_APIC_BASE`.
pub(crate) const IA32_APIC_BASE: u32 = 0x1b;
/// `IA32_GS_BASE`: holds the CPU index while the hypervisor runs (the
/// guest's GS base lives in its VMCS).
const IA32_GS_BASE: u32 = 0xc000_0101;
/// x2APIC ID register.
const X2APIC_ID: u32 = 0x802;
/// x2APIC spurious-interrupt vector register.
const X2APIC_SVR: u32 = 0x80f;
/// x2APIC LVT LINT0 and LINT1.
const X2APIC_LVT_LINT0: u32 = 0x835;
const X2APIC_LVT_LINT1: u32 = 0x836;
/// x2APIC interrupt command register.
pub(crate) const X2APIC_ICR: u32 = 0x830;

/// Reads MSR `msr`.
pub(crate) fn rdmsr(msr: u32) -> u64 {
    // SAFETY: reading an MSR has no side effects on memory; every MSR the
    // hypervisor reads exists on CPUs that pass `vmx::check` (or is probed
    // only after CPUID says it exists).
    unsafe { Msr::new(msr).read() }
}

/// Writes `value` to MSR `msr`.
///
/// # Safety
/// The write must be valid for the MSR and must not break the hypervisor's
/// own execution (paging, segmentation, its stack).
pub(crate) unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: the caller's contract.
    unsafe { Msr::new(msr).write(value) }
}

/// CPUID `leaf`/`subleaf` as `[eax, ebx, ecx, edx]`.
pub(crate) fn cpuid(leaf: u32, subleaf: u32) -> [u32; 4] {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    [r.eax, r.ebx, r.ecx, r.edx]
}

/// Reads byte port `port`.
pub(crate) fn inb(port: u16) -> u8 {
    // SAFETY: only the console UART and the Bochs power-off port are
    // accessed by the hypervisor; reading them has no memory effects.
    unsafe { Port::<u8>::new(port).read() }
}

/// Writes `value` to byte port `port`.
pub(crate) fn outb(port: u16, value: u8) {
    // SAFETY: as for `inb`: the console UART, the Bochs power-off port.
    unsafe { Port::<u8>::new(port).write(value) }
}

/// Records `index` as this CPU's index (boot, before anything asks).
pub(crate) fn set_index(index: usize) {
    // SAFETY: GS is not used by the hypervisor's code (no thread-locals);
    // VM exits restore the base from the VMCS host state, which is set from
    // this value.
    unsafe { wrmsr(IA32_GS_BASE, index as u64) };
}

/// This CPU's index in `CPUS`.
pub(crate) fn current_index() -> usize {
    rdmsr(IA32_GS_BASE) as usize
}

/// The index in `CPUS` of the CPU with APIC id `apic_id`.
pub(crate) fn index_of_apic_id(apic_id: u32) -> Option<usize> {
    CPUS.iter().position(|c| c.hw_id == u64::from(apic_id))
}

/// The initial APIC id of this CPU (CPUID, works before x2APIC is on).
pub(crate) fn initial_apic_id() -> u32 {
    cpuid(1, 0)[1] >> 24
}

/// Switches this CPU's local APIC to x2APIC mode and software-enables it.
/// Returns `false` if the CPU has no x2APIC.
pub(crate) fn enable_x2apic() -> bool {
    if cpuid(1, 0)[2] & (1 << 21) == 0 {
        return false;
    }
    let base = rdmsr(IA32_APIC_BASE);
    // SAFETY: enabling (bit 11) and then x2APIC mode (bit 10) is the
    // architectural sequence; the hypervisor does not use the xAPIC MMIO
    // window afterwards.
    unsafe {
        wrmsr(IA32_APIC_BASE, base | (1 << 11));
        wrmsr(IA32_APIC_BASE, base | (1 << 11) | (1 << 10));
        let svr = rdmsr(X2APIC_SVR);
        wrmsr(X2APIC_SVR, svr | 0x100 | 0xff);
        // LINT0 (the 8259's ExtINT on the boot CPU) and LINT1 masked: legacy
        // interrupts must not reach whichever cell runs here.
        wrmsr(X2APIC_LVT_LINT0, 1 << 16);
        wrmsr(X2APIC_LVT_LINT1, 1 << 16);
    }
    true
}

/// Masks every line of both legacy 8259 interrupt controllers (the BIOS
/// leaves the PIT's IRQ 0 enabled, delivered as vector 8 to the boot CPU).
pub(crate) fn mask_legacy_pic() {
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}

/// This CPU's x2APIC id.
pub(crate) fn apic_id() -> u32 {
    rdmsr(X2APIC_ID) as u32
}

/// Sends `icr` (x2APIC format: destination in bits 63:32).
pub(crate) fn send_ipi(icr: u64) {
    // SAFETY: the ICR write only sends an interrupt; callers build the value
    // (fixed IPIs checked against the cell, NMI/INIT/SIPI from the
    // hypervisor itself).
    unsafe { wrmsr(X2APIC_ICR, icr) };
}

/// Sends an NMI to the CPU with APIC id `apic_id` (stop requests).
pub(crate) fn send_nmi(apic_id: u32) {
    send_ipi((u64::from(apic_id) << 32) | (0b100 << 8) | (1 << 14));
}

/// Ends the NMI blocking a VM exit caused by an NMI leaves behind: the CPU
/// blocks further NMIs until the next IRET, which the hypervisor (taking no
/// interrupts) would otherwise never execute, so the next kick would stay
/// pending forever. An IRET to the next instruction, on the same stack,
/// with the same flags, unblocks them; a pending NMI is then taken at once
/// (by the root-mode handler).
pub(crate) fn unblock_nmis() {
    // SAFETY: builds a 64-bit interrupt frame (SS, RSP, RFLAGS, CS, RIP)
    // for the current context and returns through it: the only effect is
    // the end of NMI blocking. The red zone is off on this target.
    unsafe {
        asm!(
            "mov {tmp}, rsp",
            "push 0x10",
            "push {tmp}",
            "pushfq",
            "push 0x08",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "iretq",
            "2:",
            tmp = out(reg) _,
        );
    }
}

/// CPUID.1:ECX bit 26: XSAVE (and XSETBV, XGETBV, CR4.OSXSAVE).
const CPUID1_ECX_XSAVE: u32 = 1 << 26;
/// CR4 bit 18: OSXSAVE.
const CR4_OSXSAVE: u64 = 1 << 18;

/// Whether the CPU has XSAVE (and so XCR0).
pub(crate) fn has_xsave() -> bool {
    cpuid(1, 0)[2] & CPUID1_ECX_XSAVE != 0
}

/// Sets CR4.OSXSAVE on this CPU if it has XSAVE, so the hypervisor's own
/// `XSETBV` (loading a guest's XCR0, finding F1) cannot raise `#UD` in
/// VMX root. Every CPU, at boot, before its VMCS records the host CR4.
/// The hypervisor itself never uses extended state (it is built
/// soft-float), so XCR0's value does not matter to it.
pub(crate) fn enable_xsave() {
    if !has_xsave() {
        return;
    }
    // SAFETY: setting CR4.OSXSAVE only enables XSETBV/XGETBV and the XSAVE
    // family; paging and protection are untouched.
    unsafe {
        let cr4: u64;
        asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack));
        asm!("mov cr4, {}", in(reg) cr4 | CR4_OSXSAVE, options(nostack));
    }
}

/// The XCR0 bits this CPU supports (CPUID.(EAX=0xD,ECX=0):EDX:EAX), 0
/// without XSAVE.
pub(crate) fn xcr0_supported() -> u64 {
    if !has_xsave() {
        return 0;
    }
    let [eax, _, _, edx] = cpuid(0xd, 0);
    u64::from(edx) << 32 | u64::from(eax)
}

/// Loads XCR0 with `value`.
///
/// # Safety
/// CR4.OSXSAVE is set on this CPU ([`enable_xsave`]) and `value` passed
/// `model::xcr0::check` against [`xcr0_supported`]: the instruction then
/// cannot fault.
pub(crate) unsafe fn set_xcr0(value: u64) {
    // SAFETY: the caller's contract.
    unsafe {
        asm!(
            "xsetbv",
            in("ecx") 0u32,
            in("eax") value as u32,
            in("edx") (value >> 32) as u32,
            options(nomem, nostack)
        );
    }
}

/// Spins for about `n` slow port reads (an emulator-friendly delay).
pub(crate) fn delay(n: u32) {
    for _ in 0..n {
        let _ = inb(0x80);
    }
}

/// Sleeps until an NMI (interrupts stay masked).
pub(crate) fn sleep() {
    // SAFETY: HLT with interrupts masked touches no memory; an NMI wakes it
    // and returns here after its handler.
    unsafe { asm!("cli; hlt", options(nomem, nostack)) };
}

/// Stops this CPU for good: interrupts off, `hlt` forever.
pub(crate) fn halt_forever() -> ! {
    loop {
        // SAFETY: masking interrupts and halting touches no memory.
        unsafe { asm!("cli; hlt", options(nomem, nostack)) };
    }
}
