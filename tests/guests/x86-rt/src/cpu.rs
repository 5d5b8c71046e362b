//! Port I/O, MSRs and memory probes (with `#GP` recovery), CPUID,
//! interrupt flag and parking.

use core::arch::asm;
use core::sync::atomic::{Ordering::Relaxed, Ordering::SeqCst, compiler_fence};

use crate::interrupt::gp_flag;
use crate::{Gp, GpCode};

/// Reads the byte at I/O port `port`.
pub fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: port input touches no memory of this program; under Bulkhead
    // a port the cell does not own exits and reads all ones.
    unsafe {
        asm!("in al, dx", out("al") value, in("dx") port, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Writes `value` to I/O port `port`.
pub fn outb(port: u16, value: u8) {
    // SAFETY: port output touches no memory of this program (the guests
    // only write the console, or ports the hypervisor must drop).
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    };
}

/// `RDMSR msr`, or [`Gp`] if it raised `#GP` (the runtime's exception
/// handler records it and skips the instruction).
pub fn try_rdmsr(msr: u32) -> Result<u64, Gp> {
    let flag = gp_flag();
    flag.store(false, Relaxed);
    compiler_fence(SeqCst);
    let (lo, hi): (u32, u32);
    // SAFETY: reading an MSR changes no memory; a #GP is caught by the
    // runtime's handler, which restores every register and skips the
    // 2-byte instruction (the outputs are then discarded). Not `nomem`: the
    // handler writes the flag.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nostack, preserves_flags))
    };
    compiler_fence(SeqCst);
    if flag.load(Relaxed) {
        Err(Gp)
    } else {
        Ok(u64::from(hi) << 32 | u64::from(lo))
    }
}

/// `WRMSR msr, value`, or [`Gp`] if it raised `#GP` (see [`try_rdmsr`]).
///
/// # Safety
///
/// Writing `value` to `msr` must not break this program (e.g. its page
/// tables, its segments or `EFER`); the guests write x2APIC registers, or
/// MSRs the hypervisor must refuse.
pub unsafe fn try_wrmsr(msr: u32, value: u64) -> Result<(), Gp> {
    let flag = gp_flag();
    flag.store(false, Relaxed);
    compiler_fence(SeqCst);
    // SAFETY: the caller vouches for the write; a #GP is caught and the
    // instruction skipped (see try_rdmsr).
    unsafe {
        asm!(
            "wrmsr",
            in("ecx") msr,
            in("eax") value as u32,
            in("edx") (value >> 32) as u32,
            options(nostack, preserves_flags)
        )
    };
    compiler_fence(SeqCst);
    if flag.load(Relaxed) { Err(Gp) } else { Ok(()) }
}

/// Reads the `u64` at `addr` (a guest-physical address: the identity page
/// tables map the first 4 GiB), or returns the error code of the `#GP` the
/// read raised: under Bulkhead, a read outside the cell's memory in a cell
/// with `fault-policy = "inject"` gets `#GP(0)`. A probe
/// ([`try_insn!`](crate::try_insn)); any other exception than `#GP` is
/// as fatal as ever (a panic).
///
/// # Safety
///
/// `addr` must be 8-byte aligned and reading it must not break this
/// program (a device register with read side effects, say). Memory the
/// cell does not have is fine: that is what this is for.
pub unsafe fn try_read_u64(addr: u64) -> Result<u64, GpCode> {
    let value: u64;
    // SAFETY: the caller vouches for the read.
    let outcome = unsafe {
        crate::try_insn!("mov {v}, [{a}]"; a = in(reg) addr, v = out(reg) value, options(nostack))
    };
    match outcome {
        Ok(()) => Ok(value),
        Err(fault) if fault.vector == crate::Fault::GP => Err(GpCode(fault.error)),
        Err(fault) => panic!("x86-rt: reading {addr:#x} raised {fault}"),
    }
}

/// `RDMSR msr`; panics if it raised `#GP`.
pub fn rdmsr(msr: u32) -> u64 {
    match try_rdmsr(msr) {
        Ok(value) => value,
        Err(_) => panic!("rdmsr {msr:#x} raised #GP"),
    }
}

/// `WRMSR msr, value`; panics if it raised `#GP`.
///
/// # Safety
///
/// As for [`try_wrmsr`].
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: the caller upholds try_wrmsr's contract.
    if unsafe { try_wrmsr(msr, value) }.is_err() {
        panic!("wrmsr {msr:#x} <- {value:#x} raised #GP");
    }
}

/// What `CPUID` answers for one leaf and subleaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpuid {
    /// `EAX`.
    pub eax: u32,
    /// `EBX`.
    pub ebx: u32,
    /// `ECX`.
    pub ecx: u32,
    /// `EDX`.
    pub edx: u32,
}

/// `CPUID` leaf `leaf`, subleaf `subleaf`.
pub fn cpuid(leaf: u32, subleaf: u32) -> Cpuid {
    let (eax, ebx, ecx, edx): (u32, u32, u32, u32);
    // SAFETY: CPUID only reads; RBX is reserved by LLVM, so it is saved in
    // a scratch register around the instruction.
    unsafe {
        asm!(
            "mov {tmp:r}, rbx",
            "cpuid",
            "xchg {tmp:r}, rbx",
            tmp = out(reg) ebx,
            inout("eax") leaf => eax,
            inout("ecx") subleaf => ecx,
            out("edx") edx,
            options(nomem, nostack, preserves_flags),
        )
    };
    Cpuid { eax, ebx, ecx, edx }
}

/// The time-stamp counter (`RDTSC`; it runs without exits under
/// Bulkhead).
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: RDTSC only reads the counter.
    unsafe {
        asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    u64::from(hi) << 32 | u64::from(lo)
}

/// `STI`: takes interrupts from now on (after [`apic_enable`](crate::apic_enable),
/// which this calls first, so the local APIC delivers them).
pub fn enable_interrupts() {
    crate::apic_enable();
    // SAFETY: the runtime's IDT is loaded on every vCPU before the guest runs.
    unsafe { asm!("sti", options(nomem, nostack)) };
}

/// `CLI`.
pub fn disable_interrupts() {
    // SAFETY: masks interrupts; touches no memory.
    unsafe { asm!("cli", options(nomem, nostack)) };
}

/// `STI; HLT`: enables interrupts and waits for one (the STI shadow means
/// an interrupt already pending is taken after the HLT starts, so none is
/// missed). Interrupts stay enabled.
pub fn enable_and_wait() {
    // SAFETY: the runtime's IDT is loaded; HLT with IF=1 waits for an
    // interrupt (Bulkhead: in the HLT activity state, no exit).
    unsafe { asm!("sti", "hlt", options(nomem, nostack)) };
}

/// `HLT` (with interrupts enabled: waits for one; with interrupts off,
/// Bulkhead turns the vCPU off).
pub fn wait_for_interrupt() {
    // SAFETY: HLT only pauses this vCPU.
    unsafe { asm!("hlt", options(nomem, nostack, preserves_flags)) };
}

/// Busy-waits `n` `PAUSE` iterations (timing is rough under emulation).
pub fn delay_spins(n: u64) {
    for _ in 0..n {
        core::hint::spin_loop();
    }
}

/// Saves RFLAGS and disables interrupts.
pub(crate) fn irq_save() -> u64 {
    let flags: u64;
    // SAFETY: pushes and pops RFLAGS on the current stack, then masks
    // interrupts.
    unsafe { asm!("pushfq", "pop {}", "cli", out(reg) flags, options(nomem)) };
    flags
}

/// Re-enables interrupts if `flags` (from [`irq_save`]) had IF set.
pub(crate) fn irq_restore(flags: u64) {
    if flags & (1 << 9) != 0 {
        // SAFETY: interrupts were enabled before irq_save.
        unsafe { asm!("sti", options(nomem, nostack)) };
    }
}

/// Stops this vCPU for good: `CLI; HLT` in a loop (Bulkhead treats HLT
/// with interrupts off as `CPU_OFF`).
pub fn park() -> ! {
    loop {
        // SAFETY: masks interrupts and halts; nothing else.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}
