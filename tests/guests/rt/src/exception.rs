//! The EL1 vector table, per-vCPU fault records and probes.

use core::arch::asm;
use core::sync::atomic::compiler_fence;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};

use crate::arch::sysreg;
use crate::{Fault, MAX_VCPUS, vcpu_index};

/// Registers saved by the vector stubs (layout shared with the assembly).
#[repr(C)]
struct Frame {
    x: [u64; 31],
    elr: u64,
    spsr: u64,
    _pad: u64,
}

const FRAME_SIZE: usize = core::mem::size_of::<Frame>();
const _: () = assert!(FRAME_SIZE == 272);

core::arch::global_asm!(
    ".section .text.vectors, \"ax\"",
    ".balign 2048",
    ".global __rt_vectors",
    "__rt_vectors:",
    // 16 entries of 0x80 bytes: {current EL with SP0, current EL with SPx,
    // lower EL AArch64, lower EL AArch32} x {sync, IRQ, FIQ, SError}.
    ".irp kind, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
    "    .balign 0x80",
    "    sub sp, sp, #{frame}",
    "    stp x0, x1, [sp]",
    "    mov x0, #\\kind",
    "    b __rt_vector_common",
    ".endr",
    "__rt_vector_common:",
    "    stp x2, x3, [sp, #16]",
    "    stp x4, x5, [sp, #32]",
    "    stp x6, x7, [sp, #48]",
    "    stp x8, x9, [sp, #64]",
    "    stp x10, x11, [sp, #80]",
    "    stp x12, x13, [sp, #96]",
    "    stp x14, x15, [sp, #112]",
    "    stp x16, x17, [sp, #128]",
    "    stp x18, x19, [sp, #144]",
    "    stp x20, x21, [sp, #160]",
    "    stp x22, x23, [sp, #176]",
    "    stp x24, x25, [sp, #192]",
    "    stp x26, x27, [sp, #208]",
    "    stp x28, x29, [sp, #224]",
    "    mrs x2, elr_el1",
    "    mrs x3, spsr_el1",
    "    stp x30, x2, [sp, #240]",
    "    str x3, [sp, #256]",
    "    mov x1, sp",
    "    bl {handler}",
    "    ldp x30, x2, [sp, #240]",
    "    ldr x3, [sp, #256]",
    "    msr elr_el1, x2",
    "    msr spsr_el1, x3",
    "    ldp x2, x3, [sp, #16]",
    "    ldp x4, x5, [sp, #32]",
    "    ldp x6, x7, [sp, #48]",
    "    ldp x8, x9, [sp, #64]",
    "    ldp x10, x11, [sp, #80]",
    "    ldp x12, x13, [sp, #96]",
    "    ldp x14, x15, [sp, #112]",
    "    ldp x16, x17, [sp, #128]",
    "    ldp x18, x19, [sp, #144]",
    "    ldp x20, x21, [sp, #160]",
    "    ldp x22, x23, [sp, #176]",
    "    ldp x24, x25, [sp, #192]",
    "    ldp x26, x27, [sp, #208]",
    "    ldp x28, x29, [sp, #224]",
    "    ldp x0, x1, [sp]",
    "    add sp, sp, #{frame}",
    "    eret",
    frame = const FRAME_SIZE,
    handler = sym handle_exception,
);

/// Vector entry: synchronous exception from the current EL using SP_ELx.
const SYNC_CURRENT_SPX: u64 = 4;
/// Vector entries: synchronous exception from EL0 in AArch64, AArch32.
const SYNC_LOWER_AARCH64: u64 = 8;
const SYNC_LOWER_AARCH32: u64 = 12;

/// Per-vCPU exception state (written by the vCPU itself, so plain
/// loads/stores suffice; the atomics just avoid `static mut`).
struct VcpuState {
    /// A probe is running: a synchronous exception is recorded and skipped.
    armed: AtomicBool,
    /// Synchronous exceptions recorded so far.
    faults: AtomicU64,
    esr: AtomicU64,
    far: AtomicU64,
    elr: AtomicU64,
    /// Where a caught exception resumes (0: after the faulting instruction),
    /// see [`probe_exec`].
    resume: AtomicU64,
    /// `probe_el0` runs: an exception from EL0 ends it.
    el0_armed: AtomicBool,
    /// The vector entry that ended the last `probe_el0`.
    el0_kind: AtomicU64,
    /// Reporting a fatal exception (a nested one just parks).
    dying: AtomicBool,
}

static VCPUS: [VcpuState; MAX_VCPUS] = [const {
    VcpuState {
        armed: AtomicBool::new(false),
        faults: AtomicU64::new(0),
        esr: AtomicU64::new(0),
        far: AtomicU64::new(0),
        elr: AtomicU64::new(0),
        resume: AtomicU64::new(0),
        el0_armed: AtomicBool::new(false),
        el0_kind: AtomicU64::new(0),
        dying: AtomicBool::new(false),
    }
}; MAX_VCPUS];

/// The guest's IRQ handler (0: none), see [`set_irq_handler`].
static IRQ_HANDLER: AtomicU64 = AtomicU64::new(0);

/// Installs `handler` for IRQs taken at EL1h (all vCPUs share it). It runs
/// with IRQs masked and must acknowledge its interrupt.
pub fn set_irq_handler(handler: fn()) {
    IRQ_HANDLER.store(handler as usize as u64, Relaxed);
}

extern "C" fn handle_exception(kind: u64, frame: &mut Frame) {
    let state = &VCPUS[vcpu_index()];
    if kind % 4 == 1 && kind / 4 <= 1 {
        let handler = IRQ_HANDLER.load(Relaxed);
        if handler != 0 {
            // SAFETY: the value was stored from a `fn()` by `set_irq_handler`.
            let handler: fn() = unsafe { core::mem::transmute(handler as usize) };
            handler();
            return;
        }
    }
    let (esr, far) = (sysreg!("esr_el1"), sysreg!("far_el1"));
    // A synchronous exception from EL0 while `probe_el0` runs: back to EL1
    // where it left off, with what happened.
    if (kind == SYNC_LOWER_AARCH64 || kind == SYNC_LOWER_AARCH32) && state.el0_armed.load(Relaxed) {
        state.el0_armed.store(false, Relaxed);
        state.esr.store(esr, Relaxed);
        state.far.store(far, Relaxed);
        state.el0_kind.store(kind, Relaxed);
        let slot = &EL0_CONTEXT[vcpu_index()];
        frame.elr = slot[13].load(Relaxed);
        frame.spsr = 0x3c5; // EL1h, D/A/I/F masked
        frame.x[0] = slot.as_ptr() as u64;
        return;
    }
    if kind == SYNC_CURRENT_SPX && state.armed.load(Relaxed) {
        state.esr.store(esr, Relaxed);
        state.far.store(far, Relaxed);
        state.elr.store(frame.elr, Relaxed);
        state.faults.store(state.faults.load(Relaxed) + 1, Relaxed);
        match state.resume.load(Relaxed) {
            0 => frame.elr += 4, // skip the faulting instruction
            resume => {
                state.resume.store(0, Relaxed);
                frame.elr = resume;
            }
        }
        return;
    }
    // Load + store, not swap: no exclusives on Device memory.
    if !state.dying.load(Relaxed) {
        state.dying.store(true, Relaxed);
        const ORIGIN: [&str; 4] = ["EL1t", "EL1h", "lower EL (AArch64)", "lower EL (AArch32)"];
        const TYPE: [&str; 4] = ["synchronous exception", "IRQ", "FIQ", "SError"];
        crate::console::release_lock();
        let mut line = crate::LineBuf::<{ crate::LINE_MAX }>::new();
        let _ = core::fmt::write(
            &mut line,
            format_args!(
                "rt: vcpu {}: unexpected {} from {}: esr={esr:#x} far={far:#x} elr={:#x} spsr={:#x}; parking",
                vcpu_index(),
                TYPE[(kind % 4) as usize],
                ORIGIN[(kind / 4) as usize],
                frame.elr,
                frame.spsr,
            ),
        );
        crate::write_raw(line.as_bytes());
        crate::write_raw(b"\n");
    }
    crate::park()
}

/// Runs `f` with this vCPU's synchronous exceptions caught: an exception
/// is recorded and the instruction that raised it skipped (`ELR += 4`), and
/// `probe` returns the (first) [`Fault`] instead of `f`'s result.
///
/// # Safety
///
/// Every instruction of `f` that may fault must be inside an `asm!` block
/// that declares `clobber_abi("C")` (the handler is Rust code and may clobber
/// FP/SIMD registers), and skipping it must leave `f` sound (its outputs
/// are then garbage but `f`'s result is dropped).
pub unsafe fn probe<R>(f: impl FnOnce() -> R) -> Result<R, Fault> {
    let state = &VCPUS[vcpu_index()];
    let before = state.faults.load(Relaxed);
    state.armed.store(true, Relaxed);
    compiler_fence(SeqCst);
    let result = f();
    compiler_fence(SeqCst);
    state.armed.store(false, Relaxed);
    if state.faults.load(Relaxed) == before {
        Ok(result)
    } else {
        Err(Fault {
            esr: state.esr.load(Relaxed),
            far: state.far.load(Relaxed),
        })
    }
}

macro_rules! probe_access {
    ($(#[$doc:meta])* read $name:ident, $ty:ty, $insn:literal) => {
        $(#[$doc])*
        pub fn $name(addr: u64) -> Result<$ty, Fault> {
            // SAFETY: the load is the only instruction in an asm block that
            // clobbers the C ABI's registers; reading has no effect on this
            // program's memory; if it faults, its output is discarded.
            unsafe {
                probe(|| {
                    let value: u64;
                    asm!($insn, inout("x0") addr => value, options(nostack), clobber_abi("C"));
                    value as $ty
                })
            }
        }
    };
    ($(#[$doc:meta])* write $name:ident, $ty:ty, $insn:literal) => {
        $(#[$doc])*
        ///
        /// # Safety
        ///
        /// `addr` must not be memory this program uses (its image, stacks,
        /// statics) unless writing `value` there is harmless.
        pub unsafe fn $name(addr: u64, value: $ty) -> Result<(), Fault> {
            // SAFETY: the store is the only instruction in an asm block that
            // clobbers the C ABI's registers; the caller vouches for the
            // target; if it faults, it is skipped.
            unsafe {
                probe(|| {
                    asm!($insn, in("x0") addr, in("x1") u64::from(value), options(nostack), clobber_abi("C"));
                })
            }
        }
    };
}

probe_access!(
    /// Reads the 64-bit word at guest-physical `addr` (8-byte aligned), or
    /// returns the fault it raised.
    read probe_read, u64, "ldr x0, [x0]"
);
probe_access!(
    /// Reads the 32-bit word at guest-physical `addr` (4-byte aligned; use
    /// this width for device registers), or returns the fault it raised.
    read probe_read32, u32, "ldr w0, [x0]"
);
probe_access!(
    /// Writes the 64-bit `value` at guest-physical `addr` (8-byte aligned),
    /// or returns the fault it raised.
    write probe_write, u64, "str x1, [x0]"
);
probe_access!(
    /// Writes the 32-bit `value` at guest-physical `addr` (4-byte aligned;
    /// use this width for device registers), or returns the fault it raised.
    write probe_write32, u32, "str w1, [x0]"
);

/// Branches to `addr` (with the return address in `x30`) and returns the
/// fault taken there, if any: an instruction abort at `addr` resumes after
/// the branch. Code at `addr` that runs must return with `ret`.
///
/// # Safety
///
/// If `addr` is executable, the code there runs: it must be a `ret` (or
/// code that behaves like one under the C ABI).
pub unsafe fn probe_exec(addr: u64) -> Result<(), Fault> {
    let resume = VCPUS[vcpu_index()].resume.as_ptr();
    // SAFETY: the branch is alone in an asm block that clobbers the C ABI's
    // registers; a fault at `addr` resumes at label 2 (recorded in
    // `resume` before the branch); the caller vouches for the code there.
    unsafe {
        probe(|| {
            asm!(
                "adr x9, 2f",
                "str x9, [{resume}]",
                "blr {addr}",
                "2:",
                "str xzr, [{resume}]",
                addr = in(reg) addr,
                resume = in(reg) resume,
                out("x9") _,
                options(nostack),
                clobber_abi("C"),
            );
        })
    }
}

/// EL1 registers saved while `probe_el0` runs code at EL0: x19..x30, SP,
/// and the address to resume at (per vCPU).
static EL0_CONTEXT: [[AtomicU64; 14]; MAX_VCPUS] =
    [const { [const { AtomicU64::new(0) }; 14] }; MAX_VCPUS];

/// How an EL0 run ended: its exception's syndrome and whether it was taken
/// at the AArch32 lower-EL vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct El0Exit {
    /// ESR_EL1 (EC 0x11 or 0x15 for the closing SVC).
    pub fault: Fault,
    /// Taken at the vector for lower ELs in AArch32 (offset 0x600).
    pub aarch32_vector: bool,
}

/// Runs code at EL0 from `entry` (A32 code when `aarch32`, else A64) with
/// the stack `stack`, until its first synchronous exception (an SVC to end
/// it, or the fault it raised), which is returned.
///
/// # Safety
///
/// `entry` must be code that ends in an exception (e.g. `svc #0`), in
/// memory this vCPU can execute at EL0.
pub unsafe fn probe_el0(entry: u64, aarch32: bool, stack: u64) -> El0Exit {
    let index = vcpu_index();
    let state = &VCPUS[index];
    let slot = EL0_CONTEXT[index].as_ptr() as u64;
    // AArch32 user mode with A/I/F masked, or EL0t with D/A/I/F masked.
    let spsr: u64 = if aarch32 { 0x1d0 } else { 0x3c0 };
    state.el0_armed.store(true, Relaxed);
    compiler_fence(SeqCst);
    // SAFETY: saves the callee-saved registers, SP and the resume address
    // in this vCPU's slot, drops to EL0 at `entry`; the exception handler
    // comes back to label 2 at EL1h with x0 = the slot, where they are
    // restored. The caller vouches for the EL0 code.
    unsafe {
        asm!(
            "stp x19, x20, [x0, #0]",
            "stp x21, x22, [x0, #16]",
            "stp x23, x24, [x0, #32]",
            "stp x25, x26, [x0, #48]",
            "stp x27, x28, [x0, #64]",
            "stp x29, x30, [x0, #80]",
            "mov x9, sp",
            "adr x10, 2f",
            "stp x9, x10, [x0, #96]",
            "msr sp_el0, {stack}",
            "msr elr_el1, {entry}",
            "msr spsr_el1, {spsr}",
            "eret",
            "2:",
            "ldp x9, x10, [x0, #96]",
            "mov sp, x9",
            "ldp x19, x20, [x0, #0]",
            "ldp x21, x22, [x0, #16]",
            "ldp x23, x24, [x0, #32]",
            "ldp x25, x26, [x0, #48]",
            "ldp x27, x28, [x0, #64]",
            "ldp x29, x30, [x0, #80]",
            inout("x0") slot => _,
            stack = in(reg) stack,
            entry = in(reg) entry,
            spsr = in(reg) spsr,
            out("x9") _,
            out("x10") _,
            clobber_abi("C"),
        );
    }
    compiler_fence(SeqCst);
    El0Exit {
        fault: Fault {
            esr: state.esr.load(Relaxed),
            far: state.far.load(Relaxed),
        },
        aarch32_vector: state.el0_kind.load(Relaxed) == SYNC_LOWER_AARCH32,
    }
}
