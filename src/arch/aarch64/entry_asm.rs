//! EL2 entry points: `_start` (boot CPU) and `secondary_entry` (PSCI CPU_ON).
//!
//! Both run with the MMU and caches off and no stack. They
//! 1. require CurrentEL == EL2 (otherwise park silently: nothing is known to
//!    be safe to touch, not even the UART),
//! 2. mask DAIF and put SCTLR_EL2 / HCR_EL2 / CPTR_EL2 into a known state
//!    (firmware may leave them UNKNOWN, e.g. SCTLR_EL2.EE or HCR_EL2.E2H),
//! 3. turn MPIDR_EL1 into a CPU index by scanning the generated CPU table (`config::CPUS`); a CPU that
//!    is not in the table parks in WFE forever,
//! 4. `_start` only: zero `.bss` and the page-table area,
//! 5. `secondary_entry` only: enable the MMU with the configuration the boot
//!    CPU published (see below) *before touching memory through the stack*,
//! 6. select SP_EL2 (SPSel = 1), load the CPU's stack top (slot `index` of
//!    `stacks::STACKS`: `STACKS + (index + 1) * STACK_STRIDE`), store the
//!    CPU index in TPIDR_EL2 and call `boot_main(index)` /
//!    `secondary_main(index)`.
//!
//! Why secondaries turn the MMU on in assembly: with the MMU off their stack
//! writes would be non-cacheable and go straight to RAM, while a CPU that
//! already runs with caches on may hold a stale (speculatively fetched) line
//! of that stack. Once the secondary enables its own caches a coherent read
//! could then return the stale line. Never writing memory before the MMU is
//! on avoids the problem entirely (Linux/Xen do the same).

use core::arch::global_asm;
use core::mem::{offset_of, size_of};

use super::el2_mmu::{self, SecondaryMmuConfig};
use super::platform::MAX_CPUS;
use super::stacks::{OVERFLOW_STACK_SIZE, STACK_STRIDE, STACKS};
use crate::config::{CPUS, CpuDesc};

global_asm!(
    r#"
// ---------------------------------------------------------------------------
// Boot CPU entry. First byte of the image (linker script: KEEP(*(.text.boot))).
// x0-x3 as left by the loader are ignored.
// ---------------------------------------------------------------------------
.section .text.boot, "ax", %progbits
.global _start
.type _start, %function
_start:
    mrs     x9, CurrentEL
    cmp     x9, #(2 << 2)
    b.ne    __bulkhead_park
    msr     daifset, #0xf
    bl      __bulkhead_el2_sysregs_init
    bl      __bulkhead_cpu_index
    cmn     x0, #1
    b.eq    __bulkhead_park
    mov     x19, x0

    // Zero .bss and the page-table area. Both are 8-byte aligned (ASSERTed in
    // the linker script); MMU off => Device memory => aligned stores only.
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
    bl      __bulkhead_zero_range
    adrp    x1, __page_tables_start
    add     x1, x1, :lo12:__page_tables_start
    adrp    x2, __page_tables_end
    add     x2, x2, :lo12:__page_tables_end
    bl      __bulkhead_zero_pages

    mov     x0, x19
    bl      __bulkhead_set_stack
    msr     tpidr_el2, x19
    mov     x29, xzr
    mov     x0, x19
    bl      {boot_main}
    b       __bulkhead_park
.size _start, . - _start

// ---------------------------------------------------------------------------
// Secondary entry (PSCI CPU_ON). x0 = context id = expected CPU index.
// ---------------------------------------------------------------------------
.global secondary_entry
.type secondary_entry, %function
secondary_entry:
    mrs     x9, CurrentEL
    cmp     x9, #(2 << 2)
    b.ne    __bulkhead_park
    msr     daifset, #0xf
    mov     x19, x0
    bl      __bulkhead_el2_sysregs_init
    bl      __bulkhead_cpu_index
    cmp     x0, x19                 // MPIDR must agree with the context id
    b.ne    __bulkhead_park

    // MMU on with the boot CPU's configuration (cleaned to PoC by the boot
    // CPU, so this non-cacheable read sees it). ttbr0 == 0: not published.
    adrp    x1, {mmu_cfg}
    add     x1, x1, :lo12:{mmu_cfg}
    ldr     x2, [x1, #{cfg_mair}]
    ldr     x3, [x1, #{cfg_tcr}]
    ldr     x4, [x1, #{cfg_ttbr0}]
    ldr     x5, [x1, #{cfg_sctlr}]
    cbz     x4, __bulkhead_park
    msr     mair_el2, x2
    msr     tcr_el2, x3
    msr     ttbr0_el2, x4
    isb
    tlbi    alle2
    dsb     nsh
    isb
    msr     sctlr_el2, x5
    isb
    ic      iallu
    dsb     nsh
    isb

    mov     x0, x19
    bl      __bulkhead_set_stack
    msr     tpidr_el2, x19
    mov     x29, xzr
    mov     x0, x19
    bl      {secondary_main}
    b       __bulkhead_park
.size secondary_entry, . - secondary_entry

// Park forever (unsupported EL, unknown MPIDR, or a Rust entry returned).
.type __bulkhead_park, %function
__bulkhead_park:
    msr     daifset, #0xf
1:  wfe
    b       1b
.size __bulkhead_park, . - __bulkhead_park

// Known EL2 state. Clobbers x9.
//   SCTLR_EL2: RES1 only -> MMU/caches off, little-endian, no alignment checks.
//   HCR_EL2:   RW=1, everything else 0 (in particular E2H=0, TGE=0).
//   CPTR_EL2:  RES1 only -> FP/SIMD not trapped (Rust code on this target
//              may use SIMD registers, e.g. in memcpy).
.type __bulkhead_el2_sysregs_init, %function
__bulkhead_el2_sysregs_init:
    ldr     x9, ={sctlr_off}
    msr     sctlr_el2, x9
    ldr     x9, ={hcr}
    msr     hcr_el2, x9
    ldr     x9, ={cptr}
    msr     cptr_el2, x9
    isb
    ret
.size __bulkhead_el2_sysregs_init, . - __bulkhead_el2_sysregs_init

// x0 <- index of this CPU in config::CPUS, or -1. Clobbers x1-x4. No memory
// writes; reads .rodata only.
.type __bulkhead_cpu_index, %function
__bulkhead_cpu_index:
    mrs     x1, mpidr_el1
    ldr     x4, ={aff_mask}
    and     x1, x1, x4
    adrp    x2, {cpus}
    add     x2, x2, :lo12:{cpus}
    add     x2, x2, #{cpu_hw_id}
    mov     x0, xzr
1:  cmp     x0, #{ncpus}
    b.hs    2f
    ldr     x3, [x2]
    add     x2, x2, #{cpu_stride}
    and     x3, x3, x4
    cmp     x3, x1
    b.eq    3f
    add     x0, x0, #1
    b       1b
2:  mov     x0, #-1
3:  ret
.size __bulkhead_cpu_index, . - __bulkhead_cpu_index

// Zero [x1, x2), both 4 KiB aligned, with 16-byte stores, 64 bytes per
// iteration (half the instructions of the 8-byte loop for the 156 KiB
// page-table area). Clobbers x1.
.type __bulkhead_zero_pages, %function
__bulkhead_zero_pages:
1:  cmp     x1, x2
    b.hs    2f
    stp     xzr, xzr, [x1]
    stp     xzr, xzr, [x1, #16]
    stp     xzr, xzr, [x1, #32]
    stp     xzr, xzr, [x1, #48]
    add     x1, x1, #64
    b       1b
2:  ret
.size __bulkhead_zero_pages, . - __bulkhead_zero_pages

// Zero [x1, x2) with 8-byte stores. Clobbers x1.
.type __bulkhead_zero_range, %function
__bulkhead_zero_range:
1:  cmp     x1, x2
    b.hs    2f
    str     xzr, [x1], #8
    b       1b
2:  ret
.size __bulkhead_zero_range, . - __bulkhead_zero_range

// Stack overflow detected by an exception vector (see exception.rs):
// x1 = vector kind, SP unusable. Switch to this CPU's overflow stack and
// report. Never returns.
.global __bulkhead_stack_overflow
.type __bulkhead_stack_overflow, %function
__bulkhead_stack_overflow:
    mrs     x0, tpidr_el2           // CPU index
    adrp    x2, {stacks}
    add     x2, x2, :lo12:{stacks}
    ldr     x3, ={stride}
    madd    x2, x0, x3, x2          // slot base == bottom of the overflow stack
    ldr     x3, ={overflow_size}
    add     x2, x2, x3
    mov     sp, x2
    mov     x29, xzr
    bl      {overflow_handler}      // (cpu, kind) -> !
    b       __bulkhead_park
.size __bulkhead_stack_overflow, . - __bulkhead_stack_overflow

// SP_EL2 <- top of CPU x0's stack. Clobbers x1, x2.
.type __bulkhead_set_stack, %function
__bulkhead_set_stack:
    msr     spsel, #1
    adrp    x1, {stacks}
    add     x1, x1, :lo12:{stacks}
    ldr     x2, ={stride}
    madd    x1, x0, x2, x1          // base of this CPU's slot
    add     x1, x1, x2              // top of the slot == top of the stack
    mov     sp, x1
    ret
.size __bulkhead_set_stack, . - __bulkhead_set_stack
.ltorg
"#,
    boot_main = sym super::cpu_entry::boot_main,
    secondary_main = sym super::cpu_entry::secondary_main,
    cpus = sym CPUS,
    cpu_hw_id = const offset_of!(CpuDesc, hw_id),
    cpu_stride = const size_of::<CpuDesc>(),
    ncpus = const MAX_CPUS,
    aff_mask = const super::cpu::MPIDR_AFFINITY_MASK,
    stacks = sym STACKS,
    stride = const STACK_STRIDE,
    overflow_size = const OVERFLOW_STACK_SIZE,
    overflow_handler = sym super::vectors::handle_stack_overflow,
    mmu_cfg = sym el2_mmu::SECONDARY_MMU_CONFIG,
    cfg_mair = const offset_of!(SecondaryMmuConfig, mair),
    cfg_tcr = const offset_of!(SecondaryMmuConfig, tcr),
    cfg_ttbr0 = const offset_of!(SecondaryMmuConfig, ttbr0),
    cfg_sctlr = const offset_of!(SecondaryMmuConfig, sctlr),
    sctlr_off = const el2_mmu::SCTLR_EL2_MMU_OFF,
    hcr = const super::cpu::HCR_EL2_INIT,
    cptr = const super::cpu::CPTR_EL2_INIT,
);
