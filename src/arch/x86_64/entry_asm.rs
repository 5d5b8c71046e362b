//! Multiboot2 entry, long-mode switch, per-CPU stacks and the AP trampoline.
//!
//! GRUB (multiboot2, i386 arch) enters `_start` in 32-bit protected mode:
//! EAX = 0x36d7_6289, EBX = the boot information, flat 4 GiB segments,
//! paging off, interrupts off; ESP, GDTR and IDTR are undefined. The entry
//! code zeroes `.bss`, builds identity page tables for the first 4 GiB (2 MiB
//! pages; the top GiB, where the local and I/O APICs live, uncached), loads
//! the hypervisor's GDT, enables PAE and long mode and calls
//! `bulkhead_boot_main` (`cpu_entry`) on the boot stack.
//!
//! Other CPUs are started by the boot CPU with INIT-SIPI-SIPI, one at a
//! time: it copies the 16-bit trampoline to [`TRAMPOLINE`], stores the CPU
//! index and stack top in [`AP_CPU`] and [`AP_STACK_TOP`], and sends the
//! start-up IPI with vector `TRAMPOLINE >> 12`. The trampoline enters
//! protected mode and joins the same long-mode switch, then calls
//! `bulkhead_secondary_main`.

use core::arch::global_asm;
use core::sync::atomic::AtomicU64;

use crate::config::CPU_COUNT;
use crate::sync::PerCpu;

/// Physical address the AP trampoline is copied to (conventional memory
/// below 1 MiB, outside every cell; SIPI vector 0x08).
pub(crate) const TRAMPOLINE: u64 = 0x8000;

/// Stack size of every CPU.
pub(crate) const STACK_SIZE: usize = 32 * 1024;

/// The stack of each CPU other than the boot CPU (which runs on the boot
/// stack in the entry assembly).
#[repr(C, align(4096))]
pub(super) struct Stack([u8; STACK_SIZE]);

/// Per-CPU stacks; CPU i uses element i (the boot CPU's is unused: it runs
/// on `boot_stack`). Rust never reads or writes them.
pub(super) static STACKS: PerCpu<Stack, CPU_COUNT> =
    PerCpu::new([const { Stack([0; STACK_SIZE]) }; CPU_COUNT]);

/// The initial (highest) address of CPU `cpu`'s stack.
pub(super) fn stack_top(cpu: usize) -> u64 {
    STACKS.base_address() + (cpu as u64 + 1) * STACK_SIZE as u64
}

/// CPU index the next AP takes (written by the boot CPU before the SIPI).
#[unsafe(no_mangle)]
pub(crate) static AP_CPU: AtomicU64 = AtomicU64::new(0);
/// Stack top the next AP takes (written by the boot CPU before the SIPI).
#[unsafe(no_mangle)]
pub(crate) static AP_STACK_TOP: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" {
    static trampoline_start: u8;
    static trampoline_end: u8;
    /// The hypervisor's GDT (null, 64-bit code 0x08, data 0x10, 32-bit code
    /// 0x18).
    pub(crate) static gdt64: u8;
}

/// The trampoline's bytes (to copy to [`TRAMPOLINE`]).
pub(crate) fn trampoline() -> &'static [u8] {
    // SAFETY: both symbols delimit the trampoline in `.rodata.trampoline`,
    // which the linker keeps in one piece; the bytes are never written.
    unsafe {
        let start = &raw const trampoline_start;
        let end = &raw const trampoline_end;
        core::slice::from_raw_parts(start, end as usize - start as usize)
    }
}

/// Selector of the hypervisor's 64-bit code segment.
pub(crate) const CODE_SELECTOR: u16 = 0x08;
/// Selector of the hypervisor's data segment.
pub(crate) const DATA_SELECTOR: u16 = 0x10;
/// Selector VM exits load into TR (the descriptor is never used: the
/// hypervisor takes no privilege-changing interrupts).
pub(crate) const TSS_SELECTOR: u16 = 0x20;

global_asm!(
    r#"
    .set MB2_MAGIC, 0xe85250d6
    .set MB2_LEN,   mb2_end - mb2_start

    .section .multiboot2, "a"
    .balign 8
mb2_start:
    .long MB2_MAGIC
    .long 0                          /* i386 */
    .long MB2_LEN
    .long -(MB2_MAGIC + MB2_LEN)
    .balign 8
    .short 0, 0                      /* end tag */
    .long 8
mb2_end:

    .section .bss.boot, "aw", @nobits
    .balign 4096
boot_pml4:  .skip 4096
boot_pdpt:  .skip 4096
boot_pd:    .skip 4096 * 4
    .balign 16
boot_stack: .skip 65536
boot_stack_top:

    .section .rodata.gdt, "a"
    .balign 16
    .globl gdt64
gdt64:
    .quad 0
    /* accessed bits preset: the GDT is read-only once the hypervisor runs
     * on its own page tables, and the CPU would set them on a load */
    .quad 0x00AF9B000000FFFF         /* 0x08 64-bit code */
    .quad 0x00CF93000000FFFF         /* 0x10 data */
    .quad 0x00CF9B000000FFFF         /* 0x18 32-bit code (trampoline) */
    .quad 0, 0                       /* 0x20 TSS (selector only) */
gdt64_end:
    .balign 8
    .globl gdt64_ptr
gdt64_ptr:
    .word gdt64_end - gdt64 - 1
    .quad gdt64

    .section .text.boot, "ax"
    .code32
    .globl _start
_start:
    cli
    cld
    mov     %eax, %esi               /* keep the magic */
    /* zero .bss (page tables and the boot stack included) */
    mov     $__bss_start, %edi
    mov     $__bss_end, %ecx
    sub     %edi, %ecx
    xor     %eax, %eax
    rep stosb
    mov     %esi, %eax
    mov     $boot_stack_top, %esp

    mov     $boot_pdpt, %eax
    or      $0x3, %eax
    mov     %eax, boot_pml4
    mov     $boot_pd, %eax
    or      $0x3, %eax
    xor     %ecx, %ecx
1:  mov     %eax, boot_pdpt(,%ecx,8)
    add     $4096, %eax
    inc     %ecx
    cmp     $4, %ecx
    jne     1b
    xor     %ecx, %ecx
2:  mov     %ecx, %eax
    shl     $21, %eax
    or      $0x83, %eax              /* P | RW | PS */
    cmp     $1536, %ecx
    jb      3f
    or      $0x18, %eax              /* top GiB: PCD | PWT */
3:  mov     %eax, boot_pd(,%ecx,8)
    inc     %ecx
    cmp     $2048, %ecx
    jne     2b
    xor     %ebp, %ebp               /* boot CPU */
    jmp     common32

    .globl ap_start32
ap_start32:
    mov     $0x10, %ax
    mov     %ax, %ds
    mov     %ax, %es
    mov     %ax, %ss
    mov     $1, %ebp                 /* AP */

common32:
    lgdt    gdt64_ptr
    mov     $0x10, %ax
    mov     %ax, %ds
    mov     %ax, %es
    mov     %ax, %fs
    mov     %ax, %gs
    mov     %ax, %ss
    mov     %cr4, %eax
    or      $0x20, %eax              /* PAE */
    mov     %eax, %cr4
    mov     $boot_pml4, %eax
    mov     %eax, %cr3
    mov     $0xC0000080, %ecx        /* IA32_EFER */
    rdmsr
    or      $0x900, %eax             /* LME | NXE */
    wrmsr
    mov     %cr0, %eax
    or      $0x80010023, %eax        /* PG | WP | NE | PE */
    and     $0x9fffffff, %eax        /* caches on: CD = NW = 0 */
    mov     %eax, %cr0
    ljmpl   $0x08, $long64

    .code64
long64:
    mov     $0x10, %ax
    mov     %ax, %ds
    mov     %ax, %es
    mov     %ax, %ss
    xor     %eax, %eax
    mov     %ax, %fs
    mov     %ax, %gs
    test    %ebp, %ebp
    jnz     4f
    mov     $boot_stack_top, %rsp
    xor     %edi, %edi
    call    bulkhead_boot_main
    jmp     5f
4:  mov     AP_STACK_TOP(%rip), %rsp
    mov     AP_CPU(%rip), %rdi
    call    bulkhead_secondary_main
5:  cli
    hlt
    jmp     5b

    /* 16-bit AP trampoline: copied to 0x8000, entered at CS=0x0800 IP=0 */
    .section .rodata.trampoline, "a"
    .globl trampoline_start, trampoline_end
    .code16
trampoline_start:
    cli
    cld
    mov     %cs, %ax
    mov     %ax, %ds
    lgdtl   (tramp_gdtr - trampoline_start)
    mov     %cr0, %eax
    or      $1, %eax
    mov     %eax, %cr0
    ljmpl   $0x18, $ap_start32
    .balign 8
tramp_gdtr:
    .word gdt64_end - gdt64 - 1
    .long gdt64
trampoline_end:

    .code64
    .text
"#,
    options(att_syntax)
);
