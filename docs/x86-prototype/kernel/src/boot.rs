//! 32-bit multiboot2 entry, identity page tables, long-mode switch, AP trampoline.
//!
//! GRUB (multiboot2 spec, i386 arch) enters `_start` in 32-bit protected mode:
//! EAX = 0x36d76289, EBX = physical address of the MBI, CS/DS/ES/FS/GS/SS flat
//! 4 GiB, A20 on, CR0.PG = 0, EFLAGS.IF = 0, ESP and GDTR/IDTR undefined.

use core::arch::global_asm;

/// Physical address the 16-bit AP trampoline is copied to (SIPI vector 0x08).
pub const TRAMPOLINE_PHYS: usize = 0x8000;

global_asm!(
    r#"
    .set MB2_MAGIC, 0xe85250d6
    .set MB2_ARCH,  0
    .set MB2_LEN,   mb2_end - mb2_start

    .section .multiboot2, "a"
    .balign 8
mb2_start:
    .long MB2_MAGIC
    .long MB2_ARCH
    .long MB2_LEN
    .long -(MB2_MAGIC + MB2_ARCH + MB2_LEN)
    .balign 8
    .short 0, 0                      /* end tag */
    .long 8
mb2_end:

    .section .bss.boot, "aw", @nobits
    .balign 4096
    .globl boot_pml4
boot_pml4:  .skip 4096
boot_pdpt:  .skip 4096
boot_pd:    .skip 4096 * 4          /* 4 PDs x 512 x 2 MiB = 4 GiB */
    .balign 16
boot_stack: .skip 65536
boot_stack_top:
ap_stack:   .skip 65536
ap_stack_top:

    .section .rodata.boot, "a"
    .balign 16
    .globl gdt64
gdt64:
    .quad 0                          /* 0x00 null */
    .quad 0x00AF9A000000FFFF         /* 0x08 64-bit code, DPL0 */
    .quad 0x00CF92000000FFFF         /* 0x10 data, flat */
    .quad 0x00CF9A000000FFFF         /* 0x18 32-bit code, flat (AP trampoline) */
gdt64_end:
    .balign 8
gdt64_ptr:
    .word gdt64_end - gdt64 - 1
    .quad gdt64

    .section .text.boot, "ax"
    .code32
    .globl _start
_start:
    cli
    cld
    mov     $boot_stack_top, %esp
    mov     %eax, %edi               /* magic -> arg0 */
    mov     %ebx, %esi               /* mbi   -> arg1 */
    xor     %ebp, %ebp               /* 0 = BSP */

    /* PML4[0] -> PDPT */
    mov     $boot_pdpt, %eax
    or      $0x3, %eax
    mov     %eax, boot_pml4
    movl    $0, boot_pml4 + 4
    /* PDPT[0..4] -> PD0..PD3 */
    mov     $boot_pd, %eax
    or      $0x3, %eax
    xor     %ecx, %ecx
1:  mov     %eax, boot_pdpt(,%ecx,8)
    movl    $0, boot_pdpt + 4(,%ecx,8)
    add     $4096, %eax
    inc     %ecx
    cmp     $4, %ecx
    jne     1b
    /* 2048 x 2 MiB identity entries: P|RW|PS; last GiB (MMIO: APIC, IOAPIC) also PCD|PWT */
    xor     %ecx, %ecx
2:  mov     %ecx, %eax
    shl     $21, %eax
    or      $0x83, %eax
    cmp     $1536, %ecx
    jb      3f
    or      $0x18, %eax
3:  mov     %eax, boot_pd(,%ecx,8)
    movl    $0, boot_pd + 4(,%ecx,8)
    inc     %ecx
    cmp     $2048, %ecx
    jne     2b
    jmp     common32

    /* AP arrives here from the trampoline in 32-bit PM, CS = 0x18, GDT = gdt64 */
    .globl ap_start32
ap_start32:
    mov     $0x10, %ax
    mov     %ax, %ds
    mov     %ax, %es
    mov     %ax, %ss
    mov     $ap_stack_top, %esp
    mov     $1, %ebp                 /* 1 = AP */

common32:
    lgdt    gdt64_ptr                /* 32-bit lgdt reads 6 bytes: limit + base[31:0] */
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
    or      $0x100, %eax             /* LME */
    wrmsr
    mov     %cr0, %eax
    or      $0x80010021, %eax        /* PG | WP | NE | PE */
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
    mov     %edi, %edi               /* GPR upper halves are undefined after the switch */
    mov     %esi, %esi
    test    %ebp, %ebp
    jnz     4f
    mov     $boot_stack_top, %rsp
    call    kmain
    jmp     5f
4:  mov     $ap_stack_top, %rsp
    call    ap_main
5:  cli
    hlt
    jmp     5b

    /* ---- 16-bit AP trampoline: copied to TRAMPOLINE_PHYS, entered at CS=0x0800 IP=0 ---- */
    .section .rodata.trampoline, "a"
    .globl trampoline_start, trampoline_end
    .code16
trampoline_start:
    cli
    cld
    mov     %cs, %ax
    mov     %ax, %ds
    lgdtl   (tramp_gdtr - trampoline_start)   /* DS-relative; 32-bit base */
    mov     %cr0, %eax
    or      $1, %eax
    mov     %eax, %cr0
    ljmpl   $0x18, $ap_start32
    .balign 8
tramp_gdtr:
    .word gdt64_end - gdt64 - 1
    .long gdt64
trampoline_end:

    .code64                          /* back to 64-bit for the rest of the module */
    .text
"#,
    options(att_syntax)
);
