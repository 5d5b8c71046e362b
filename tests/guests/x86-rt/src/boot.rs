//! `_start`, `secondary_start`, the per-vCPU stacks, the Rust entry and the
//! panic handler.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::{MAX_VCPUS, STACK_SIZE, println};

core::arch::global_asm!(
    ".section .text.boot, \"ax\"",
    ".code64",
    // vCPU 0, at the image's entry point: RDI = boot argument, RSI = 0.
    ".global _start",
    "_start:",
    "    cli",
    "    mov r12, rdi", // r12: boot argument / context
    "    mov r13, rsi", // r13: vCPU index
    "    xor r14d, r14d",
    "    test rsi, rsi",
    "    sete r14b", // r14: 1 = primary (vCPU 0 at _start)
    "    jmp 1f",
    // Other vCPUs, via CPU_ON: RDI = context, RSI = vCPU index.
    ".global secondary_start",
    "secondary_start:",
    "    cli",
    "    mov r12, rdi",
    "    mov r13, rsi",
    "    xor r14d, r14d",
    "1:  cmp r13, {max_vcpus}",
    "    jae 9f", // no stack for this vCPU
    // rsp = top of __rt_stacks[index]
    "    lea rax, [r13 + 1]",
    "    imul rax, rax, {stack_size}",
    "    lea rsp, [rip + __rt_stacks]",
    "    add rsp, rax",
    "    xor ebp, ebp",
    "    cld",
    "    test r14, r14",
    "    jz 2f",
    // Primary: zero .bss (other vCPUs start later, via CPU_ON from it).
    "    lea rdi, [rip + __bss_start]",
    "    lea rcx, [rip + __bss_end]",
    "    sub rcx, rdi",
    "    xor eax, eax",
    "    rep stosb",
    "2:  mov rdi, r12",
    "    mov rsi, r13",
    "    mov rdx, r14",
    "    call {entry}",
    // Not reached; HLT with interrupts off is CPU_OFF under Bulkhead.
    "9:  cli",
    "    hlt",
    "    jmp 9b",
    "",
    ".section .stacks, \"aw\", @nobits",
    ".balign 16",
    ".global __rt_stacks",
    "__rt_stacks: .space {stacks_size}",
    max_vcpus = const MAX_VCPUS,
    stack_size = const STACK_SIZE,
    stacks_size = const MAX_VCPUS * STACK_SIZE,
    entry = sym rt_entry,
);

unsafe extern "C" {
    /// The secondary entry point above.
    fn secondary_start();
    /// The per-vCPU stacks above (`MAX_VCPUS * STACK_SIZE` bytes).
    static __rt_stacks: u8;
    /// The guest's main function, defined by [`entry!`](crate::entry).
    fn __rt_main() -> !;
    /// The guest's secondary entry, defined by [`entry!`](crate::entry).
    fn __rt_secondary(context: u64) -> !;
}

/// vCPU 0's boot argument (`RDI` at `_start`).
static BOOT_ARG: AtomicU64 = AtomicU64::new(0);

/// The hypervisor's boot area (GDTR's base at entry).
static BOOT_AREA: AtomicU64 = AtomicU64::new(0);

/// GDTR's base.
fn gdt_base() -> u64 {
    #[repr(C, packed)]
    struct Gdtr {
        limit: u16,
        base: u64,
    }
    let mut gdtr = Gdtr { limit: 0, base: 0 };
    // SAFETY: SGDT stores 10 bytes into `gdtr`.
    unsafe {
        core::arch::asm!("sgdt [{}]", in(reg) &raw mut gdtr, options(nostack, preserves_flags))
    };
    gdtr.base
}

/// The Rust entry of every vCPU, on its own stack with interrupts off.
extern "C" fn rt_entry(arg: u64, vcpu: u64, primary: u64) -> ! {
    if primary != 0 {
        BOOT_ARG.store(arg, Relaxed);
        BOOT_AREA.store(gdt_base(), Relaxed);
        crate::interrupt::build_idt();
    }
    crate::interrupt::load_idt();
    debug_assert_eq!(vcpu as usize, vcpu_index());
    if primary != 0 {
        // SAFETY: defined by the guest's `entry!`; runs once per entry.
        unsafe { __rt_main() }
    } else {
        // SAFETY: as above.
        unsafe { __rt_secondary(arg) }
    }
}

/// vCPU 0's boot argument (the cell's `boot-arg`, `RDI` at entry).
pub fn boot_arg() -> u64 {
    BOOT_ARG.load(Relaxed)
}

/// Counts this boot of the cell in two words of its RAM at `gpa`
/// (`[magic, boots]`: a restart reloads only the image, so they survive
/// it) and returns the boot's number, 1 on the first (when the words do
/// not hold `magic` yet).
///
/// # Safety
///
/// `gpa` is 8-byte aligned, inside the cell's RAM and used by nothing
/// else of the program (outside its image and stacks, below the boot
/// area).
pub unsafe fn count_boot(gpa: u64, magic: u64) -> u64 {
    let word = gpa as *mut u64;
    let boots = (gpa + 8) as *mut u64;
    // SAFETY: the caller's.
    unsafe {
        let n = if word.read_volatile() == magic {
            boots.read_volatile().wrapping_add(1)
        } else {
            word.write_volatile(magic);
            1
        };
        boots.write_volatile(n);
        n
    }
}

/// The guest-physical base of the hypervisor's boot area (its GDT at
/// offset 0, the TSS at 0x800, page tables from 0x1000; docs/x86.md).
pub fn boot_area() -> u64 {
    BOOT_AREA.load(Relaxed)
}

/// This vCPU's index (`RSI` at entry): which of the runtime's stacks the
/// stack pointer is in (each vCPU runs on stack `RSI`, and interrupts and
/// exceptions stay on the current stack).
pub fn vcpu_index() -> usize {
    let rsp: u64;
    // SAFETY: reads the stack pointer only.
    unsafe {
        core::arch::asm!("mov {}, rsp", out(reg) rsp, options(nomem, nostack, preserves_flags))
    };
    let base = (&raw const __rt_stacks) as u64;
    // `- 1`: an empty stack's pointer is its top, the next stack's base.
    let index = rsp.wrapping_sub(base).wrapping_sub(1) / STACK_SIZE as u64;
    (index as usize).min(MAX_VCPUS - 1)
}

/// The guest-physical address of `secondary_start`, the entry point to
/// give PSCI `CPU_ON` (`RDI` = context, `RSI` = vCPU index).
pub fn secondary_entry() -> u64 {
    secondary_start as *const () as usize as u64
}

/// The default secondary entry of [`entry!`](crate::entry): reports the
/// unexpected vCPU and parks it.
pub fn park_secondary(context: u64) -> ! {
    println!(
        "x86-rt: vcpu {} started (context {context:#x}) but the guest has no secondary entry; parking",
        vcpu_index()
    );
    crate::park()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    crate::disable_interrupts();
    crate::console::print_fatal(format_args!(
        "x86-rt: PANIC on vcpu {}: {info}",
        vcpu_index()
    ));
    crate::park()
}
