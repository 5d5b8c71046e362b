//! EL2 exception vectors and the Rust-side handler.
//!
//! Every one of the 16 vector entries (4 sources x {sync, IRQ, FIQ, SError})
//! pushes a [`TrapFrame`] on the current SP_EL2 stack, saving all general
//! purpose registers plus ELR_EL2/SPSR_EL2, and calls [`handle_exception`]
//! with the frame and the entry's [`VectorKind`]. If the handler returns, the
//! frame is restored and the entry returns with ERET (nothing returns today;
//! guest exits will).

use core::arch::global_asm;
use core::fmt;
use core::mem::{offset_of, size_of};

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{ELR_EL2, ESR_EL2, FAR_EL2, SPSR_EL2, VBAR_EL2};
use tock_registers::fields::TryFromValue;
use tock_registers::interfaces::{Readable, Writeable};

use super::console::emergency_println;

/// Register state saved by the vector entry code.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    /// x0 - x30.
    pub x: [u64; 31],
    /// ELR_EL2 at entry (return address).
    pub elr: u64,
    /// SPSR_EL2 at entry (interrupted PSTATE).
    pub spsr: u64,
    _pad: u64,
}

impl TrapFrame {
    /// A frame that returns to `elr` with PSTATE `spsr`, `x0 = arg` and
    /// every other register zero.
    pub fn new(elr: u64, spsr: u64, arg: u64) -> Self {
        let mut x = [0; 31];
        x[0] = arg;
        TrapFrame {
            x,
            elr,
            spsr,
            _pad: 0,
        }
    }
}

pub(super) const FRAME_SIZE: usize = size_of::<TrapFrame>();
const FRAME_X30: usize = offset_of!(TrapFrame, x) + 30 * 8;
const FRAME_ELR: usize = offset_of!(TrapFrame, elr);
const FRAME_SPSR: usize = offset_of!(TrapFrame, spsr);
const _: () = assert!(
    offset_of!(TrapFrame, x) == 0,
    "the asm stores x0.. at [sp, #0]"
);
const _: () = assert!(
    FRAME_SIZE.is_multiple_of(16),
    "SP must stay 16-byte aligned"
);
const _: () = assert!(FRAME_ELR == FRAME_X30 + 8, "x30/elr are saved with one STP");
const _: () = assert!(
    FRAME_SIZE < 4096 && FRAME_SPSR < 504,
    "immediate ranges in the asm"
);

/// Which of the 16 vector entries was taken (value = entry number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum VectorKind {
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

    fn from_raw(raw: u64) -> Option<Self> {
        usize::try_from(raw)
            .ok()
            .and_then(|i| Self::ALL.get(i))
            .copied()
    }

    /// Taken from EL2 itself (as opposed to a guest).
    pub fn is_current_el(self) -> bool {
        (self as u64) < 8
    }

    /// Exception class of the entry.
    pub fn class(self) -> &'static str {
        match (self as u64) % 4 {
            0 => "synchronous exception",
            1 => "IRQ",
            2 => "FIQ",
            _ => "SError",
        }
    }

    /// Where it came from.
    pub fn source(self) -> &'static str {
        match (self as u64) / 4 {
            0 => "EL2 (SP_EL0)",
            1 => "EL2 (SP_EL2)",
            2 => "lower EL (AArch64)",
            _ => "lower EL (AArch32)",
        }
    }
}

/// Human-readable exception class of an ESR_EL2 value.
struct EsrClass(u64);

impl fmt::Display for EsrClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ec = (self.0 >> 26) & 0x3f;
        match ESR_EL2::EC::Value::try_from_value(ec) {
            Some(value) => write!(f, "EC {ec:#04x} {value:?}"),
            None => write!(f, "EC {ec:#04x} (unknown)"),
        }
    }
}

/// Decodes the fault status code of instruction/data aborts.
fn abort_status(esr: u64) -> Option<&'static str> {
    let ec = (esr >> 26) & 0x3f;
    if !matches!(ec, 0x20 | 0x21 | 0x24 | 0x25) {
        return None;
    }
    Some(match esr & 0x3f {
        0b00_0000..=0b00_0011 => "address size fault",
        0b00_0100 => "translation fault, level 0",
        0b00_0101 => "translation fault, level 1",
        0b00_0110 => "translation fault, level 2",
        0b00_0111 => "translation fault, level 3",
        0b00_1000..=0b00_1011 => "access flag fault",
        0b00_1100..=0b00_1111 => "permission fault",
        0b01_0000 => "synchronous external abort",
        0b10_0001 => "alignment fault",
        0b11_0000 => "TLB conflict abort",
        _ => "other fault",
    })
}

/// Install the vector table on this CPU.
pub fn install() {
    unsafe extern "C" {
        static __exception_vectors: u8;
    }
    VBAR_EL2.set((&raw const __exception_vectors) as u64);
    barrier::isb(barrier::SY);
}

/// Rust entry from the vectors. Today every exception is fatal.
extern "C" fn handle_exception(frame: &mut TrapFrame, kind: u64) {
    let esr = ESR_EL2.get();
    let elr = ELR_EL2.get();
    let far = FAR_EL2.get();
    let spsr = SPSR_EL2.get();

    let Some(kind) = VectorKind::from_raw(kind) else {
        panic!("exception vector passed invalid kind {kind}");
    };

    if !kind.is_current_el() {
        let cpu = super::cpu::current_index();
        match kind as u64 % 4 {
            0 => super::trap::handle_sync(frame, cpu),
            3 => super::trap::handle_serror(frame, cpu),
            _ => super::trap::handle_irq(cpu),
        }
        return;
    }

    if kind == VectorKind::CurrentSpxSync && is_semihosting_trap(esr, elr) {
        // A log record was sent over semihosting but nothing answers it (no
        // `-semihosting` on the QEMU line, no debugger on a board): the call
        // fails with -1 and logging turns itself off.
        super::logger::SEMIHOSTING_UNAVAILABLE.store(true, core::sync::atomic::Ordering::Relaxed);
        frame.x[0] = u64::MAX;
        frame.elr = elr + 4;
        return;
    }

    emergency_println!(
        "\n*** unhandled {} from {} on cpu {}",
        kind.class(),
        kind.source(),
        super::cpu::current_index()
    );
    emergency_println!(
        "    ESR_EL2={esr:#018x} ({}, IL={}, ISS={:#x}{}{})",
        EsrClass(esr),
        (esr >> 25) & 1,
        esr & 0x01ff_ffff,
        if abort_status(esr).is_some() {
            ": "
        } else {
            ""
        },
        abort_status(esr).unwrap_or("")
    );
    emergency_println!("    ELR_EL2={elr:#018x} FAR_EL2={far:#018x} SPSR_EL2={spsr:#018x}");
    for (row, regs) in frame.x.chunks(4).enumerate() {
        let mut line = LineBuf::new();
        for (col, value) in regs.iter().enumerate() {
            let _ = fmt::write(
                &mut line,
                format_args!(" x{:<2}={value:#018x}", row * 4 + col),
            );
        }
        emergency_println!("   {}", line.as_str());
    }

    if kind.is_current_el() {
        panic!(
            "unhandled {} at EL2: ESR_EL2={esr:#x} ELR_EL2={elr:#x} FAR_EL2={far:#x}",
            kind.class()
        );
    } else {
        panic!(
            "unexpected {} from a lower EL (no guests yet): ESR_EL2={esr:#x} ELR_EL2={elr:#x}",
            kind.class()
        );
    }
}

/// Whether an EL2 synchronous exception is an unanswered semihosting call:
/// EC 0 (unknown instruction) at a `hlt #0xf000`.
fn is_semihosting_trap(esr: u64, elr: u64) -> bool {
    let ec = (esr >> 26) & 0x3f;
    if ec != 0 || !elr.is_multiple_of(4) || !super::layout::text().contains(&elr) {
        return false;
    }
    // SAFETY: `elr` lies in the hypervisor's own mapped, readable `.text`
    // and is 4-byte aligned.
    let instruction = unsafe { core::ptr::read_volatile(elr as *const u32) };
    instruction == super::semihosting::HLT_SEMIHOSTING
}

/// Rust entry from `__bulkhead_stack_overflow` (boot.rs), running on this
/// CPU's overflow stack. The general purpose registers of the faulting
/// context are not saved (there was no stack to save them on).
pub(crate) extern "C" fn handle_stack_overflow(cpu: usize, kind: u64) -> ! {
    let esr = ESR_EL2.get();
    let elr = ELR_EL2.get();
    let far = FAR_EL2.get();
    let kind = VectorKind::from_raw(kind).map_or("exception", VectorKind::class);
    emergency_println!(
        "\n*** stack overflow on cpu {cpu} ({kind} with SP in the guard/overflow area)"
    );
    emergency_println!(
        "    ESR_EL2={esr:#018x} ({}{}{}) ELR_EL2={elr:#018x} FAR_EL2={far:#018x}",
        EsrClass(esr),
        if abort_status(esr).is_some() {
            ": "
        } else {
            ""
        },
        abort_status(esr).unwrap_or("")
    );
    panic!("stack overflow on cpu {cpu}: ELR_EL2={elr:#x} FAR_EL2={far:#x}");
}

/// Small fixed buffer so a register row is printed with one console write.
struct LineBuf {
    buf: [u8; 128],
    len: usize,
}

impl LineBuf {
    const fn new() -> Self {
        Self {
            buf: [0; 128],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("<fmt error>")
    }
}

impl fmt::Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self
            .len
            .checked_add(s.len())
            .filter(|&e| e <= self.buf.len())
            .ok_or(fmt::Error)?;
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
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
    frame_size = const FRAME_SIZE,
    stack_sp_bit = const super::boot::STACK_SP_BIT,
    frame_x30 = const FRAME_X30,
    frame_spsr = const FRAME_SPSR,
    handler = sym handle_exception,
);
