//! Per-CPU hypervisor stacks: a stack, an unmapped guard below it, and an
//! overflow stack below that to report an overflow on.

use core::mem::{align_of, size_of};
use core::ops::Range;

use super::platform::{MAX_CPUS, STACK_GUARD_SIZE, STACK_SIZE};
use crate::sync::PerCpu;

/// Size of the per-CPU stack used to report a stack overflow.
pub(super) const OVERFLOW_STACK_SIZE: usize = STACK_SIZE - STACK_GUARD_SIZE;

/// One CPU's stack slot, `2 * STACK_SIZE` bytes, aligned to its size:
///
/// ```text
///   slot + 2*STACK_SIZE  +------------------+  <- initial SP_EL2
///                        |  stack           |     SP bit log2(STACK_SIZE) == 1
///   slot + STACK_SIZE    +------------------+
///                        |  guard (unmapped)|     SP bit log2(STACK_SIZE) == 0
///                        +------------------+
///                        |  overflow stack  |
///   slot                 +------------------+
/// ```
///
/// Because of the alignment, "SP is inside the stack" is equivalent to bit
/// log2(STACK_SIZE) of SP being set, which the exception vectors test before
/// touching memory (same trick as Linux's VMAP_STACK check).
#[repr(C, align(32768))]
pub(super) struct CpuStack {
    overflow: [u8; OVERFLOW_STACK_SIZE],
    guard: [u8; STACK_GUARD_SIZE],
    stack: [u8; STACK_SIZE],
}

/// Distance between two CPUs' slots.
pub(super) const STACK_STRIDE: usize = size_of::<CpuStack>();
/// Bit of SP that is set iff SP points into a CPU's (non-overflowed) stack.
pub(super) const STACK_SP_BIT: u32 = STACK_SIZE.trailing_zeros();
const _: () = assert!(
    STACK_SIZE.is_power_of_two() && STACK_SIZE >= 8192,
    "STACK_SIZE: power of two >= 8 KiB"
);
const _: () = assert!(
    STACK_GUARD_SIZE.is_multiple_of(4096) && STACK_GUARD_SIZE > 0 && OVERFLOW_STACK_SIZE >= 4096,
    "guard must be whole pages and leave at least a page of overflow stack"
);
const _: () = assert!(
    align_of::<CpuStack>() == 2 * STACK_SIZE && STACK_STRIDE == 2 * STACK_SIZE,
    "CpuStack's align(..) literal must be 2 * STACK_SIZE"
);

/// All per-CPU stacks. Rust never reads or writes them: each CPU uses its
/// own slot, only through its stack pointer.
#[unsafe(link_section = ".stacks")]
pub(super) static STACKS: PerCpu<CpuStack, MAX_CPUS> = PerCpu::new(
    [const {
        CpuStack {
            overflow: [0; OVERFLOW_STACK_SIZE],
            guard: [0; STACK_GUARD_SIZE],
            stack: [0; STACK_SIZE],
        }
    }; MAX_CPUS],
);

/// Physical address ranges of the per-CPU stack guards, in ascending order.
/// They must stay unmapped.
pub(super) fn stack_guard_ranges() -> impl Iterator<Item = Range<u64>> {
    let base = STACKS.base_address();
    (0..MAX_CPUS as u64).map(move |cpu| {
        let start = base + cpu * STACK_STRIDE as u64 + OVERFLOW_STACK_SIZE as u64;
        start..start + STACK_GUARD_SIZE as u64
    })
}

/// The initial (highest) stack address of `cpu`'s stack.
pub(super) fn stack_top(cpu: usize) -> u64 {
    STACKS.base_address() + (cpu as u64 + 1) * STACK_STRIDE as u64
}
