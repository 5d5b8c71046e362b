//! `_start`, `secondary_start`, the per-vCPU stacks and the panic handler.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::{MAX_VCPUS, STACK_SIZE, println, vcpu_index};

/// CNTVCT_EL0 as read by vCPU 0's first instruction (see [`entry_counter`]).
static ENTRY_COUNTER: AtomicU64 = AtomicU64::new(0);
/// vCPU 0's `x0` at entry (see [`boot_arg`]).
static BOOT_ARG: AtomicU64 = AtomicU64::new(0);

core::arch::global_asm!(
    // vCPU 0: x0 = the cell's boot argument (or a DTB address).
    ".section .text.boot, \"ax\"",
    ".global _start",
    "_start:",
    "    mrs x21, cntvct_el0", // x21: the counter at the first instruction
    "    mov x22, x0", // x22: the boot argument
    "    msr daifset, #0xf",
    "    mov x19, #1", // x19: 1 = primary entry
    "    b 0f",
    // Other vCPUs, via PSCI CPU_ON: x0 = context id.
    ".global secondary_start",
    "secondary_start:",
    "    msr daifset, #0xf",
    "    mov x19, #0",
    "    mov x20, x0", // x20: context id
    "0:  msr spsel, #1",
    "    mrs x1, mpidr_el1",
    "    and x1, x1, #0xff",
    "    cmp x1, #{max_vcpus}",
    "    b.hs 9f", // no stack for this vCPU
    // sp = top of __rt_stacks[Aff0]
    "    adrp x2, __rt_stacks",
    "    add x2, x2, :lo12:__rt_stacks",
    "    add x1, x1, #1",
    "    mov x3, #{stack_size}",
    "    madd x2, x1, x3, x2",
    "    mov sp, x2",
    "    mov x29, xzr",
    "    mov x30, xzr",
    "    adrp x2, __rt_vectors",
    "    add x2, x2, :lo12:__rt_vectors",
    "    msr vbar_el1, x2",
    "    mov x2, #(3 << 20)", // CPACR_EL1.FPEN: the compiler uses FP/SIMD
    "    msr cpacr_el1, x2",
    "    isb",
    "    cbz x19, 2f",
    // Primary: zero .bss on the first entry only.
    "    adrp x2, __rt_booted",
    "    add x2, x2, :lo12:__rt_booted",
    "    ldr x3, [x2]",
    "    cbnz x3, 1f",
    "    adrp x4, __bss_start",
    "    add x4, x4, :lo12:__bss_start",
    "    adrp x5, __bss_end",
    "    add x5, x5, :lo12:__bss_end",
    "3:  cmp x4, x5",
    "    b.hs 4f",
    "    str xzr, [x4], #8",
    "    b 3b",
    "4:  mov x3, #1",
    "    str x3, [x2]",
    "    dsb sy",
    // Primary: publish the entry counter (after .bss is zeroed).
    "1:  adrp x2, {entry_counter}",
    "    str x21, [x2, :lo12:{entry_counter}]",
    "    adrp x2, {boot_arg}",
    "    str x22, [x2, :lo12:{boot_arg}]",
    "    dsb sy",
    "    bl __rt_main",
    "    b 9f",
    "2:  mov x0, x20",
    "    bl __rt_secondary",
    "9:  wfi",
    "    b 9b",
    "",
    ".section .data.__rt_booted, \"aw\"",
    ".balign 8",
    "__rt_booted: .quad 0",
    "",
    ".section .stacks, \"aw\", %nobits",
    ".balign 16",
    "__rt_stacks: .space {stacks_size}",
    max_vcpus = const MAX_VCPUS,
    stack_size = const STACK_SIZE,
    stacks_size = const MAX_VCPUS * STACK_SIZE,
    entry_counter = sym ENTRY_COUNTER,
    boot_arg = sym BOOT_ARG,
);

/// vCPU 0's `x0` at its latest entry: the cell's `boot-arg` (0 when the
/// config gives none). Guests use it to choose what to do.
pub fn boot_arg() -> u64 {
    BOOT_ARG.load(Ordering::Relaxed)
}

/// The virtual counter (`CNTVCT_EL0`) as vCPU 0's very first instruction
/// read it at the latest entry to `_start`: under Bulkhead, how long the
/// hypervisor took to start the guest since reset (the counter is not
/// offset by default).
pub fn entry_counter() -> u64 {
    ENTRY_COUNTER.load(Ordering::Relaxed)
}

unsafe extern "C" {
    /// The secondary entry point above.
    fn secondary_start();
}

/// The guest-physical address of `secondary_start`, the entry point to
/// give PSCI `CPU_ON` (x0 = context id).
pub fn secondary_entry() -> u64 {
    secondary_start as *const () as usize as u64
}

/// The default secondary entry of [`entry!`](crate::entry): reports the
/// unexpected vCPU and parks it.
pub fn park_secondary(context: u64) -> ! {
    println!(
        "rt: vcpu {} started (context {context:#x}) but the guest has no secondary entry; parking",
        vcpu_index()
    );
    crate::park()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut line = crate::LineBuf::<{ crate::LINE_MAX }>::new();
    let _ = core::fmt::write(
        &mut line,
        format_args!("rt: PANIC on vcpu {}: {info}", vcpu_index()),
    );
    // Unlocked: the panicking vCPU may hold the console lock.
    crate::write_raw(line.as_bytes());
    crate::write_raw(b"\n");
    crate::park()
}
