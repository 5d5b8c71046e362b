//! A trip out of long mode and back: `VMCALL` from compatibility mode,
//! then real mode (unrestricted guest) with instructions the hypervisor
//! refuses, then back to 64-bit mode (catalogue items 51 and 57; finding
//! F14: an exception injected into a real-mode guest must carry no error
//! code, or VM entry fails).
//!
//! The way down: a far return to 32-bit code (compatibility mode), a
//! `VMCALL` (`PSCI_VERSION`), paging off (32-bit protected mode), a far
//! return to 16-bit code, protection off, a far return to real mode with
//! CS = 0. The 16-bit part must lie in the first 64 KiB: [`run`] copies it
//! to [`LOW`] first. In real mode, with its own interrupt vector table at
//! 0 (vectors 6 and 13 record the exception and resume at the next
//! attempt), it tries: `RDMSR` of `IA32_FEATURE_CONTROL`, `XSETBV` of 0,
//! setting CR4.VMXE, `INVD`, then a `VMCALL` (`PSCI_VERSION`). The way
//! back: the runtime's GDT, protection on, 32-bit code, paging on (CR3,
//! CR4.PAE and EFER.LME are unchanged), 64-bit code.

use core::arch::global_asm;

/// Where the 16-bit part runs (and its stack below it, its vector table
/// at 0): low memory of the cell, unused otherwise.
pub(crate) const LOW: u64 = 0x7000;

/// What the trip observed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Results {
    /// The exception vector each real-mode attempt raised (0: none):
    /// `RDMSR`, `XSETBV`, `MOV CR4` (VMXE), `INVD`.
    pub(crate) vectors: [u8; 4],
    /// `PSCI_VERSION` through `VMCALL` in real mode (`EAX`).
    pub(crate) vmcall_real: u32,
    /// `PSCI_VERSION` through `VMCALL` in compatibility mode (`EAX`).
    pub(crate) vmcall_compat: u32,
}

unsafe extern "C" {
    static __rm_start: u8;
    static __rm_end: u8;
    static __rm_results: u8;
    static __rm_gdtr: u8;
    fn __rm_enter();
}

global_asm!(
    // --- the 16-bit part, copied to LOW ---------------------------------
    ".section .rodata.realmode, \"a\"",
    ".code16",
    ".global __rm_start",
    "__rm_start:",
    // Data at fixed offsets (the assembler takes no label differences in
    // memory operands): 0x08 the IVT pointer, 0x10 the GDT pointer, 0x18
    // the results, 0x28 the resume IP, 0x2a the last vector.
    ".org __rm_start + 0x08",
    "    .word 0x3ff",
    "    .long 0",
    ".org __rm_start + 0x10",
    ".global __rm_gdtr",
    "__rm_gdtr:",
    "    .word 0",
    "    .long 0",
    ".org __rm_start + 0x18",
    ".global __rm_results",
    "__rm_results:",
    "    .quad 0",
    "    .quad 0",
    ".org __rm_start + 0x28",
    "    .word 0",
    "    .byte 0",
    ".org __rm_start + 0x40",
    // 16-bit protected mode (CS = CODE16, base 0), entered at LOW + 0x40.
    "    mov ax, {data16}",
    "    mov ds, ax",
    "    mov es, ax",
    "    mov ss, ax",
    "    mov fs, ax",
    "    mov gs, ax",
    "    mov eax, cr0",
    "    and eax, 0xfffffffe",
    "    mov cr0, eax",
    "    push 0",
    "    push offset RM_IP_rm_real",
    "    retf",
    "rm_real:",
    "    xor ax, ax",
    "    mov ds, ax",
    "    mov es, ax",
    "    mov fs, ax",
    "    mov gs, ax",
    "    mov ss, ax",
    "    mov sp, {low}",
    "    lidt [{low} + 0x08]",
    "    mov word ptr [6 * 4], offset RM_IP_rm_fault6",
    "    mov word ptr [6 * 4 + 2], 0",
    "    mov word ptr [13 * 4], offset RM_IP_rm_fault13",
    "    mov word ptr [13 * 4 + 2], 0",
    // RDMSR IA32_FEATURE_CONTROL: #GP (without an error code).
    "    mov word ptr [{low} + 0x28], offset RM_IP_rm_after_rdmsr",
    "    mov ecx, 0x3a",
    "    rdmsr",
    "rm_after_rdmsr:",
    "    mov al, byte ptr [{low} + 0x2a]",
    "    mov byte ptr [{low} + 0x18], al",
    "    mov byte ptr [{low} + 0x2a], 0",
    // XSETBV XCR0 = 0: #GP (or #UD without XSAVE).
    "    mov word ptr [{low} + 0x28], offset RM_IP_rm_after_xsetbv",
    "    xor ecx, ecx",
    "    xor eax, eax",
    "    xor edx, edx",
    "    xsetbv",
    "rm_after_xsetbv:",
    "    mov al, byte ptr [{low} + 0x2a]",
    "    mov byte ptr [{low} + 0x19], al",
    "    mov byte ptr [{low} + 0x2a], 0",
    // CR4.VMXE: #GP.
    "    mov word ptr [{low} + 0x28], offset RM_IP_rm_after_cr4",
    "    mov eax, cr4",
    "    or eax, 0x2000",
    "    mov cr4, eax",
    "rm_after_cr4:",
    "    mov al, byte ptr [{low} + 0x2a]",
    "    mov byte ptr [{low} + 0x1a], al",
    "    mov byte ptr [{low} + 0x2a], 0",
    // INVD: #UD.
    "    mov word ptr [{low} + 0x28], offset RM_IP_rm_after_invd",
    "    invd",
    "rm_after_invd:",
    "    mov al, byte ptr [{low} + 0x2a]",
    "    mov byte ptr [{low} + 0x1b], al",
    // VMCALL PSCI_VERSION.
    "    mov eax, 0x84000000",
    "    vmcall",
    "    mov dword ptr [{low} + 0x1c], eax",
    // Back: the runtime's GDT, protection on, 32-bit code.
    "    lgdt [{low} + 0x10]",
    "    mov eax, cr0",
    "    or eax, 1",
    "    mov cr0, eax",
    "    mov eax, {code32}",
    "    push eax",
    "    mov eax, offset rm_back32",
    "    push eax",
    "    .byte 0x66, 0xcb", // retf with a 32-bit operand size
    // Exceptions in real mode: record the vector, resume at rm_resume.
    "rm_fault6:",
    "    mov byte ptr [{low} + 0x2a], 6",
    "    jmp rm_fault",
    "rm_fault13:",
    "    mov byte ptr [{low} + 0x2a], 13",
    "rm_fault:",
    "    push bp",
    "    mov bp, sp",
    "    push ax",
    "    mov ax, word ptr [{low} + 0x28]",
    "    mov word ptr [bp + 2], ax",
    "    pop ax",
    "    pop bp",
    "    iret",
    ".global __rm_end",
    "__rm_end:",
    ".set RM_IP_rm_after_cr4, {low} + (rm_after_cr4 - __rm_start)",
    ".set RM_IP_rm_after_invd, {low} + (rm_after_invd - __rm_start)",
    ".set RM_IP_rm_after_rdmsr, {low} + (rm_after_rdmsr - __rm_start)",
    ".set RM_IP_rm_after_xsetbv, {low} + (rm_after_xsetbv - __rm_start)",
    ".set RM_IP_rm_fault13, {low} + (rm_fault13 - __rm_start)",
    ".set RM_IP_rm_fault6, {low} + (rm_fault6 - __rm_start)",
    ".set RM_IP_rm_real, {low} + (rm_real - __rm_start)",
    // --- the 32- and 64-bit parts, in place -----------------------------
    ".section .text.realmode, \"ax\"",
    ".code64",
    ".global __rm_enter",
    "__rm_enter:",
    "    push rbp",
    "    push rbx",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    "    mov [rip + rm_saved_rsp], rsp",
    "    sidt [rip + rm_saved_idtr]",
    "    push {code32}",
    "    lea rax, [rip + rm_compat32]",
    "    push rax",
    "    retfq",
    ".code32",
    "rm_compat32:",
    // Compatibility mode: VMCALL PSCI_VERSION.
    "    mov eax, 0x84000000",
    "    vmcall",
    "    mov dword ptr [{low} + 0x20], eax",
    // Paging off: 32-bit protected mode; then 16-bit code in low memory.
    "    mov eax, cr0",
    "    and eax, 0x7fffffff",
    "    mov cr0, eax",
    "    push {code16}",
    "    push {low} + 0x40",
    "    retf",
    "rm_back32:",
    "    mov ax, {data}",
    "    mov ds, ax",
    "    mov es, ax",
    "    mov ss, ax",
    "    mov fs, ax",
    "    mov gs, ax",
    "    mov eax, cr0",
    "    or eax, 0x80000000",
    "    mov cr0, eax",
    "    push {code64}",
    "    mov eax, offset rm_back64",
    "    push eax",
    "    retf",
    ".code64",
    "rm_back64:",
    "    mov rsp, [rip + rm_saved_rsp]",
    "    lidt [rip + rm_saved_idtr]",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop rbx",
    "    pop rbp",
    "    ret",
    ".section .data.realmode, \"aw\"",
    ".balign 16",
    "rm_saved_rsp:",
    "    .quad 0",
    "rm_saved_idtr:",
    "    .quad 0",
    "    .quad 0",
    ".text",
    low = const LOW,
    data16 = const rt::DATA16,
    data = const rt::DATA,
    code16 = const rt::CODE16,
    code32 = const rt::CODE32,
    code64 = const rt::CODE64,
);

/// The offset of `symbol` in the 16-bit part.
fn offset(symbol: *const u8) -> u64 {
    symbol as u64 - (&raw const __rm_start) as u64
}

/// Makes the trip (interrupts off; this vCPU only) and returns what it
/// observed. CR4.OSXSAVE, if the caller set it, stays set.
pub(crate) fn run() -> Results {
    rt::load_gdt();
    let start = (&raw const __rm_start) as u64;
    let len = (&raw const __rm_end) as u64 - start;
    let flags_were_on = {
        let flags: u64;
        // SAFETY: reads RFLAGS through the stack.
        unsafe { core::arch::asm!("pushfq", "pop {}", out(reg) flags) };
        flags & (1 << 9) != 0
    };
    rt::disable_interrupts();
    // SAFETY: LOW.. LOW + len (about 400 bytes) and the real-mode stack and
    // vector table below it are this cell's RAM, unused by the image
    // (which starts at 2 MiB).
    unsafe {
        core::ptr::copy_nonoverlapping(start as *const u8, LOW as *mut u8, len as usize);
    }
    #[repr(C, packed)]
    struct Gdtr {
        limit: u16,
        base: u64,
    }
    let mut gdtr = Gdtr { limit: 0, base: 0 };
    // SAFETY: SGDT stores 10 bytes into `gdtr`.
    unsafe { core::arch::asm!("sgdt [{}]", in(reg) &raw mut gdtr, options(nostack)) };
    let at = LOW + offset(&raw const __rm_gdtr);
    // SAFETY: the copied 16-bit part's GDTR slot (6 bytes): the runtime's
    // GDT, whose base is below 16 MiB (a 16-bit LGDT loads 24 bits).
    unsafe {
        (at as *mut u16).write_unaligned(gdtr.limit);
        ((at + 2) as *mut u32).write_unaligned(gdtr.base as u32);
    }
    // SAFETY: the trip above: it returns here with every callee-saved
    // register, the stack pointer, GDT and IDT as they were; it writes
    // only low memory (LOW and below) and its own saved-state words.
    unsafe { __rm_enter() };
    let results = LOW + offset(&raw const __rm_results);
    // SAFETY: the copied part's results (16 bytes), written by the trip.
    let results = unsafe {
        Results {
            vectors: (results as *const [u8; 4]).read_unaligned(),
            vmcall_real: ((results + 4) as *const u32).read_unaligned(),
            vmcall_compat: ((results + 8) as *const u32).read_unaligned(),
        }
    };
    if flags_were_on {
        // SAFETY: interrupts were on before; the IDT is back.
        unsafe { core::arch::asm!("sti", options(nomem, nostack)) };
    }
    results
}
