//! A fuller GDT (user, 32-bit and 16-bit segments) and running code at
//! CPL 3 ([`run_user`]).
//!
//! The hypervisor's boot GDT has only the 64-bit kernel segments and the
//! TSS. [`load_gdt`] switches this vCPU to the runtime's own GDT with the
//! same selectors for those ([`CODE64`], [`DATA`], the TSS at `0x18`,
//! copied from the boot GDT) plus [`CODE32`], [`CODE16`] and [`DATA16`]
//! (for leaving long mode) and [`USER_CODE`] and [`USER_DATA`] (DPL 3).

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::{MAX_VCPUS, boot_area, vcpu_index};

/// 64-bit kernel code (as in the boot GDT).
pub const CODE64: u16 = 0x08;
/// Flat kernel data (as in the boot GDT).
pub const DATA: u16 = 0x10;
/// 32-bit kernel code, flat (compatibility mode, 32-bit protected mode).
pub const CODE32: u16 = 0x28;
/// 16-bit kernel code, base 0, limit 64 KiB.
pub const CODE16: u16 = 0x30;
/// 16-bit kernel data, base 0, limit 64 KiB.
pub const DATA16: u16 = 0x38;
/// Flat user data, DPL 3 (selector with RPL 3).
pub const USER_DATA: u16 = 0x43;
/// 64-bit user code, DPL 3 (selector with RPL 3).
pub const USER_CODE: u16 = 0x4b;

/// The runtime's GDT (filled by [`load_gdt`]).
#[repr(C, align(16))]
struct Gdt([AtomicU64; 10]);

static GDT: Gdt = Gdt([const { AtomicU64::new(0) }; 10]);

/// Per vCPU: the kernel stack pointer [`run_user`] returns on.
static KERNEL_RSP: [AtomicU64; MAX_VCPUS] = [const { AtomicU64::new(0) }; MAX_VCPUS];

/// The guest-physical address of the GDT as a `lgdt` operand.
#[repr(C, packed)]
struct Pointer {
    limit: u16,
    base: u64,
}

/// Loads the runtime's GDT on this vCPU (filling it first); CS, DS, ES,
/// SS keep their selectors and are reloaded from it.
pub fn load_gdt() {
    let boot = boot_area();
    // SAFETY: the boot GDT's TSS descriptor (indices 3 and 4) is in the
    // cell's RAM, written by the hypervisor, identity-mapped.
    let (tss_low, tss_high) = unsafe {
        (
            ((boot + 0x18) as *const u64).read_volatile(),
            ((boot + 0x20) as *const u64).read_volatile(),
        )
    };
    let entries: [u64; 10] = [
        0,
        0x00af_9b00_0000_ffff, // 0x08 64-bit code, DPL 0
        0x00cf_9300_0000_ffff, // 0x10 data, DPL 0
        tss_low,               // 0x18 TSS
        tss_high,
        0x00cf_9b00_0000_ffff, // 0x28 32-bit code, DPL 0
        0x0000_9b00_0000_ffff, // 0x30 16-bit code, base 0, limit 0xffff
        0x0000_9300_0000_ffff, // 0x38 16-bit data, base 0, limit 0xffff
        0x00cf_f300_0000_ffff, // 0x40 data, DPL 3
        0x00af_fb00_0000_ffff, // 0x48 64-bit code, DPL 3
    ];
    for (slot, value) in GDT.0.iter().zip(entries) {
        slot.store(value, Relaxed);
    }
    let pointer = Pointer {
        limit: (core::mem::size_of::<Gdt>() - 1) as u16,
        base: (&raw const GDT) as u64,
    };
    // SAFETY: the new GDT holds the same kernel segments at the same
    // selectors; CS is reloaded by a far return, the data segments by
    // moves; the stack and memory are untouched.
    unsafe {
        core::arch::asm!(
            "lgdt [{p}]",
            "push {code}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov {tmp:e}, {data}",
            "mov ds, {tmp:e}",
            "mov es, {tmp:e}",
            "mov ss, {tmp:e}",
            p = in(reg) &raw const pointer,
            code = const CODE64 as u64,
            data = const DATA as u32,
            tmp = out(reg) _,
        );
    }
}

/// Makes the first 4 MiB of the cell (the runtime's image, data and
/// stacks) user-accessible in the hypervisor-made boot page tables (its
/// two 2 MiB leaves; the tables above are user-accessible already), so
/// code at CPL 3 can run there.
pub fn allow_user_access() {
    /// First page directory, from the boot area's base.
    const PD_OFFSET: u64 = 0x3000;
    /// Paging-structure entry bit 2: user.
    const USER: u64 = 1 << 2;
    let pd = (boot_area() + PD_OFFSET) as *mut u64;
    // SAFETY: the page directory is in the cell's RAM (the boot area) and
    // its first two entries map 0..4 MiB; only the U/S bit changes, then
    // the TLB is flushed by reloading CR3.
    unsafe {
        for i in 0..2 {
            let entry = pd.add(i);
            entry.write_volatile(entry.read_volatile() | USER);
        }
        core::arch::asm!("mov {t}, cr3", "mov cr3, {t}", t = out(reg) _, options(nostack));
    }
}

unsafe extern "C" {
    fn __rt_run_user(f: u64, arg: u64, kernel_rsp: *mut u64, rsp0: *mut u64);
    static __rt_user_exit: u8;
    static __rt_user_return: u8;
}

global_asm!(
    ".section .text, \"ax\"",
    ".global __rt_run_user",
    "__rt_run_user:",
    // rdi = f, rsi = arg, rdx = &kernel_rsp, rcx = &TSS.RSP0
    "    push rbp",
    "    push rbx",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    "    mov [rdx], rsp",
    // RSP0 below this frame; the user stack 4 KiB below that.
    "    lea rax, [rsp - 256]",
    "    and rax, -16",
    "    mov [rcx], rax",
    "    lea r8, [rax - 4096]",
    "    push {user_data}",
    "    push r8",
    "    push 2",
    "    push {user_code}",
    "    lea rax, [rip + 2f]",
    "    push rax",
    "    iretq",
    "2:  mov rax, rdi",
    "    mov rdi, rsi",
    "    call rax",
    ".global __rt_user_exit",
    "__rt_user_exit:",
    "    ud2",
    ".global __rt_user_return",
    "__rt_user_return:",
    "    mov eax, {data}",
    "    mov ds, eax",
    "    mov es, eax",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop rbx",
    "    pop rbp",
    "    ret",
    user_data = const USER_DATA,
    user_code = const USER_CODE,
    data = const DATA,
);

/// Runs `f(arg)` at CPL 3 on this vCPU (interrupts off, on a user stack
/// below the current one) and returns when it returns. `f` may use
/// probes ([`try_insn!`](crate::try_insn)) and memory of the first 4 MiB,
/// but no I/O ports (the console): it runs with IOPL 0. Loads the
/// runtime's GDT and opens the first 4 MiB to user mode first. One vCPU
/// at a time: the vCPUs share the boot area's TSS.
pub fn run_user(f: extern "C" fn(u64), arg: u64) {
    load_gdt();
    allow_user_access();
    let flags = crate::cpu::irq_save();
    let rsp0 = (boot_area() + 0x800 + 4) as *mut u64;
    let me = vcpu_index();
    // SAFETY: `f` is code of this image, mapped user-accessible; the TSS
    // is the boot area's (cell RAM); the assembly returns here through
    // `user_return` once `f` returns (its `ud2` at `__rt_user_exit` is
    // turned into a return to CPL 0 by the exception handler).
    unsafe { __rt_run_user(f as usize as u64, arg, KERNEL_RSP[me].as_ptr(), rsp0) };
    crate::cpu::irq_restore(flags);
}

/// Called by the exception handler for a `#UD` at CPL 3: if it is
/// `run_user`'s return point, the frame to install (RIP, RSP) to return
/// to CPL 0.
pub(crate) fn user_return(rip: u64) -> Option<(u64, u64)> {
    let exit = (&raw const __rt_user_exit) as u64;
    if rip != exit {
        return None;
    }
    let back = (&raw const __rt_user_return) as u64;
    Some((back, KERNEL_RSP[vcpu_index()].load(Relaxed)))
}
