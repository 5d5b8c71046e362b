//! The IDT, its stubs and the dispatcher.
//!
//! 256 64-bit interrupt gates (selector `0x08`, the hypervisor's code
//! segment; IST 0: no stack switch, every vector runs on the interrupted
//! stack, so [`vcpu_index`] works in handlers). Each vector's stub is 16
//! bytes at `__rt_isr_stubs + 16 * vector`: it pushes a zero error code
//! (where the CPU pushes none) and the vector, then jumps to the common
//! code, which saves every general register and calls [`dispatch`].

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::apic::SPURIOUS_VECTOR;
use crate::{MAX_VCPUS, vcpu_index};

core::arch::global_asm!(
    ".section .text.isr, \"ax\"",
    ".balign 16",
    ".global __rt_isr_stubs",
    "__rt_isr_stubs:",
    ".set __rt_vec, 0",
    ".rept 256",
    "    .balign 16",
    // Vectors 8, 10-14, 17, 21, 29, 30: the CPU pushes an error code.
    "    .if (__rt_vec == 8) || ((__rt_vec >= 10) && (__rt_vec <= 14)) || (__rt_vec == 17) || (__rt_vec == 21) || (__rt_vec == 29) || (__rt_vec == 30)",
    "    .else",
    "    push 0",
    "    .endif",
    "    push __rt_vec",
    "    jmp __rt_isr_common",
    "    .set __rt_vec, __rt_vec + 1",
    ".endr",
    ".balign 16",
    ".global __rt_isr_stubs_end",
    "__rt_isr_stubs_end:",
    "__rt_isr_common:",
    "    push rax",
    "    push rbx",
    "    push rcx",
    "    push rdx",
    "    push rsi",
    "    push rdi",
    "    push rbp",
    "    push r8",
    "    push r9",
    "    push r10",
    "    push r11",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    "    mov rdi, rsp",
    "    mov rbx, rsp",
    "    and rsp, -16",
    "    cld",
    "    call {dispatch}",
    "    mov rsp, rbx",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop r11",
    "    pop r10",
    "    pop r9",
    "    pop r8",
    "    pop rbp",
    "    pop rdi",
    "    pop rsi",
    "    pop rdx",
    "    pop rcx",
    "    pop rbx",
    "    pop rax",
    "    add rsp, 16", // vector, error code
    "    iretq",
    dispatch = sym dispatch,
);

unsafe extern "C" {
    static __rt_isr_stubs: u8;
    static __rt_isr_stubs_end: u8;
}

/// What the stubs save, from the lowest address (layout shared with the
/// assembly above). Only some fields are read; the rest document the layout.
#[repr(C)]
#[allow(dead_code)]
struct Frame {
    r15: u64,
    r14: u64,
    r13: u64,
    r12: u64,
    r11: u64,
    r10: u64,
    r9: u64,
    r8: u64,
    rbp: u64,
    rdi: u64,
    rsi: u64,
    rdx: u64,
    rcx: u64,
    rbx: u64,
    rax: u64,
    vector: u64,
    error: u64,
    // Pushed by the CPU.
    rip: u64,
    cs: u64,
    rflags: u64,
    rsp: u64,
    ss: u64,
}

const _: () = assert!(core::mem::size_of::<Frame>() == 22 * 8);

/// The IDT: 256 16-byte gates (atomics only to avoid `static mut`; vCPU 0
/// fills it before any other vCPU runs).
#[repr(C, align(16))]
struct Idt([AtomicU64; 512]);

static IDT: Idt = Idt([const { AtomicU64::new(0) }; 512]);

/// The guest's interrupt handlers by vector (0: none).
static HANDLERS: [AtomicUsize; 256] = [const { AtomicUsize::new(0) }; 256];

/// Per vCPU: the last `RDMSR`/`WRMSR` raised `#GP` (set by the handler).
static GP: [AtomicBool; MAX_VCPUS] = [const { AtomicBool::new(false) }; MAX_VCPUS];

/// Per vCPU: reporting a fatal exception (a nested one just parks).
static DYING: [AtomicBool; MAX_VCPUS] = [const { AtomicBool::new(false) }; MAX_VCPUS];

/// This vCPU's "last `RDMSR`/`WRMSR` raised `#GP`" flag.
pub(crate) fn gp_flag() -> &'static AtomicBool {
    &GP[vcpu_index()]
}

/// Fills the IDT (vCPU 0, before the guest runs).
pub(crate) fn build_idt() {
    let stubs = (&raw const __rt_isr_stubs) as u64;
    let end = (&raw const __rt_isr_stubs_end) as u64;
    assert_eq!(
        end - stubs,
        256 * 16,
        "x86-rt: ISR stubs are not 16 bytes each"
    );
    for vector in 0..256 {
        let handler = stubs + 16 * vector as u64;
        // Interrupt gate: offset 15:0, selector 0x08, IST 0, type 0xE,
        // DPL 0, present; then offset 63:16.
        let low =
            (handler & 0xffff) | (0x08 << 16) | (0x8e << 40) | ((handler >> 16) & 0xffff) << 48;
        let high = handler >> 32;
        IDT.0[2 * vector].store(low, Relaxed);
        IDT.0[2 * vector + 1].store(high, Relaxed);
    }
}

/// Loads the IDT on this vCPU.
pub(crate) fn load_idt() {
    #[repr(C, packed)]
    struct Idtr {
        limit: u16,
        base: u64,
    }
    let idtr = Idtr {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: (&raw const IDT) as u64,
    };
    // SAFETY: the IDT is filled with gates to the stubs above and is static.
    unsafe {
        core::arch::asm!("lidt [{}]", in(reg) &raw const idtr, options(readonly, nostack, preserves_flags))
    };
}

/// Installs `handler` for interrupt `vector` (32..=255; all vCPUs share
/// the table). It runs with interrupts off; the runtime writes the EOI
/// after it returns.
pub fn set_handler(vector: u8, handler: fn(u8)) {
    assert!(vector >= 32, "x86-rt: vectors 0..32 are exceptions");
    HANDLERS[usize::from(vector)].store(handler as usize, Relaxed);
}

const GP_VECTOR: u64 = 13;
const UD_VECTOR: u64 = 6;

extern "C" fn dispatch(frame: &mut Frame) {
    let vector = frame.vector & 0xff;
    if vector >= 32 {
        let handler = HANDLERS[vector as usize].load(Relaxed);
        if handler != 0 {
            // SAFETY: the value was stored from a `fn(u8)` by `set_handler`.
            let handler: fn(u8) = unsafe { core::mem::transmute(handler) };
            handler(vector as u8);
        } else if vector != u64::from(SPURIOUS_VECTOR) {
            crate::println!(
                "x86-rt: vcpu {}: unexpected interrupt vector {vector:#x}",
                vcpu_index()
            );
        }
        if vector != u64::from(SPURIOUS_VECTOR) {
            crate::eoi();
        }
        return;
    }
    // A probe's exception: resume where the probe says (at the privilege
    // level it ran at).
    if let Some(resume) = crate::probe::catch(vector, frame.error, frame.rip) {
        frame.rip = resume;
        return;
    }
    if vector == UD_VECTOR && frame.cs & 3 == 3 {
        // `run_user`'s function returned: back to CPL 0.
        if let Some((rip, rsp)) = crate::user::user_return(frame.rip) {
            frame.rip = rip;
            frame.rsp = rsp;
            frame.cs = u64::from(crate::user::CODE64);
            frame.ss = u64::from(crate::user::DATA);
            frame.rflags = 0x2;
            return;
        }
    }
    if vector == GP_VECTOR {
        // SAFETY: RIP is the faulting instruction, in this image (the
        // identity map covers it); its first two bytes are readable.
        let opcode = unsafe { (frame.rip as *const [u8; 2]).read_unaligned() };
        if opcode == [0x0f, 0x32] || opcode == [0x0f, 0x30] {
            GP[vcpu_index()].store(true, Relaxed);
            frame.rip += 2;
            return;
        }
    }
    let me = vcpu_index();
    if !DYING[me].load(Relaxed) {
        DYING[me].store(true, Relaxed);
        crate::console::print_fatal(format_args!(
            "x86-rt: exception {vector} at rip {:#x} (error {:#x})",
            frame.rip, frame.error
        ));
    }
    crate::park()
}
