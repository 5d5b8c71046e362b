//! The EL2 exception vectors, and where every exception goes.
//!
//! Every one of the 16 vector entries (4 sources x {sync, IRQ, FIQ, SError})
//! pushes a [`TrapFrame`] on the current SP_EL2 stack, saving all general
//! purpose registers plus ELR_EL2/SPSR_EL2, and calls `handle_exception`
//! with the frame and the entry's [`VectorKind`]. When the handler returns,
//! the frame is restored and the entry returns with ERET. Exits from a
//! guest go to `guest_exit`; exceptions at EL2 itself are fatal (`fatal`).

use core::arch::global_asm;

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::VBAR_EL2;
use tock_registers::interfaces::Writeable;

use super::guest_exit::ExitKind;
use super::trap_frame::{self, TrapFrame};
use super::{HV, cpu, fatal, guest_exit, virtual_interrupts};
use crate::arch::Next;

/// Which of the 16 vector entries was taken (value = entry number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub(super) enum VectorKind {
    /// Current EL, SP_EL0, synchronous.
    CurrentSp0Sync = 0,
    /// Current EL, SP_EL0, IRQ.
    CurrentSp0Irq = 1,
    /// Current EL, SP_EL0, FIQ.
    CurrentSp0Fiq = 2,
    /// Current EL, SP_EL0, SError.
    CurrentSp0SError = 3,
    /// Current EL, SP_EL2, synchronous.
    CurrentSpxSync = 4,
    /// Current EL, SP_EL2, IRQ.
    CurrentSpxIrq = 5,
    /// Current EL, SP_EL2, FIQ.
    CurrentSpxFiq = 6,
    /// Current EL, SP_EL2, SError.
    CurrentSpxSError = 7,
    /// Lower EL, AArch64, synchronous.
    LowerA64Sync = 8,
    /// Lower EL, AArch64, IRQ.
    LowerA64Irq = 9,
    /// Lower EL, AArch64, FIQ.
    LowerA64Fiq = 10,
    /// Lower EL, AArch64, SError.
    LowerA64SError = 11,
    /// Lower EL, AArch32, synchronous.
    LowerA32Sync = 12,
    /// Lower EL, AArch32, IRQ.
    LowerA32Irq = 13,
    /// Lower EL, AArch32, FIQ.
    LowerA32Fiq = 14,
    /// Lower EL, AArch32, SError.
    LowerA32SError = 15,
}

impl VectorKind {
    const ALL: [Self; 16] = [
        Self::CurrentSp0Sync,
        Self::CurrentSp0Irq,
        Self::CurrentSp0Fiq,
        Self::CurrentSp0SError,
        Self::CurrentSpxSync,
        Self::CurrentSpxIrq,
        Self::CurrentSpxFiq,
        Self::CurrentSpxSError,
        Self::LowerA64Sync,
        Self::LowerA64Irq,
        Self::LowerA64Fiq,
        Self::LowerA64SError,
        Self::LowerA32Sync,
        Self::LowerA32Irq,
        Self::LowerA32Fiq,
        Self::LowerA32SError,
    ];

    pub(super) fn from_raw(raw: u64) -> Option<Self> {
        usize::try_from(raw)
            .ok()
            .and_then(|i| Self::ALL.get(i))
            .copied()
    }

    /// Taken from EL2 itself (as opposed to a guest).
    pub(super) fn is_current_el(self) -> bool {
        (self as u64) < 8
    }

    /// Exception class of the entry.
    pub(super) fn class(self) -> &'static str {
        match (self as u64) % 4 {
            0 => "synchronous exception",
            1 => "IRQ",
            2 => "FIQ",
            _ => "SError",
        }
    }

    /// Where it came from.
    pub(super) fn source(self) -> &'static str {
        match (self as u64) / 4 {
            0 => "EL2 (SP_EL0)",
            1 => "EL2 (SP_EL2)",
            2 => "lower EL (AArch64)",
            _ => "lower EL (AArch32)",
        }
    }
}

/// Install the vector table on this CPU.
pub(super) fn install() {
    unsafe extern "C" {
        static __exception_vectors: u8;
    }
    VBAR_EL2.set((&raw const __exception_vectors) as u64);
    barrier::isb(barrier::SY);
}

/// Rust entry from the vectors. A guest's exit is handled and answered
/// here, in one place: the handler decides [`Next`]; resuming returns
/// through the vector (ERET), parking continues this CPU's loop in the core
/// on a fresh stack. An exception at EL2 itself is fatal.
extern "C" fn handle_exception(frame: &mut TrapFrame, kind: u64) {
    let Some(kind) = VectorKind::from_raw(kind) else {
        panic!("exception vector passed invalid kind {kind}");
    };
    if !kind.is_current_el() {
        let cpu = cpu::current_index();
        let exit = match kind as u64 % 4 {
            0 => ExitKind::Sync,
            3 => ExitKind::SError,
            _ => ExitKind::Irq,
        };
        match guest_exit::handle(frame, exit, cpu) {
            Next::Resume => virtual_interrupts::sync(cpu),
            Next::Park => HV.vcpu_parked(cpu),
        }
        return;
    }
    fatal::unhandled_el2_exception(frame, kind.class(), kind.source())
}

/// Rust entry from `__bulkhead_stack_overflow` (`entry_asm`), running on this
/// CPU's overflow stack. The general purpose registers of the faulting
/// context are not saved (there was no stack to save them on).
pub(super) extern "C" fn handle_stack_overflow(cpu: usize, kind: u64) -> ! {
    let class = VectorKind::from_raw(kind).map_or("exception", VectorKind::class);
    fatal::stack_overflow(cpu, class)
}

global_asm!(
    r#"
.section .text.vectors, "ax", %progbits
.balign 0x800
.global __exception_vectors
.type __exception_vectors, %function
__exception_vectors:
.irp kind, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    .balign 0x80
    sub     sp, sp, #{frame_size}
    // Overflow check before the first store (no free register yet, so
    // temporarily fold x0 into SP): is the new SP still inside the stack?
    add     sp, sp, x0              // sp = new_sp + x0
    sub     x0, sp, x0              // x0 = new_sp
    tbz     x0, #{stack_sp_bit}, 1f // bit clear: guard/overflow area
    sub     x0, sp, x0              // x0 = original x0
    sub     sp, sp, x0              // sp = new_sp
    stp     x0, x1, [sp, #0]
    mov     x0, #\kind
    b       __bulkhead_exception_common
1:  mov     x1, #\kind
    b       __bulkhead_stack_overflow
.endr
.size __exception_vectors, . - __exception_vectors

.type __bulkhead_exception_common, %function
__bulkhead_exception_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x1, elr_el2
    mrs     x2, spsr_el2
    stp     x30, x1, [sp, #{frame_x30}]
    str     x2, [sp, #{frame_spsr}]

    mov     x1, x0                  // kind
    mov     x0, sp                  // &mut TrapFrame
    bl      {handler}

// Restores the TrapFrame at SP and returns with ERET; also how a vCPU first
// enters its guest (`vcpu::enter`).
.global __bulkhead_exception_return
__bulkhead_exception_return:
    ldr     x2, [sp, #{frame_spsr}]
    ldp     x30, x1, [sp, #{frame_x30}]
    msr     spsr_el2, x2
    msr     elr_el2, x1
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #{frame_size}
    eret
.size __bulkhead_exception_common, . - __bulkhead_exception_common
"#,
    frame_size = const trap_frame::FRAME_SIZE,
    stack_sp_bit = const super::stacks::STACK_SP_BIT,
    frame_x30 = const trap_frame::FRAME_X30,
    frame_spsr = const trap_frame::FRAME_SPSR,
    handler = sym handle_exception,
);
