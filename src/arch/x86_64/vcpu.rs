//! A vCPU: its general registers, entering the guest, and its VMCS.
//!
//! [`enter`] runs the guest until the next VM exit. The VMCS keeps
//! everything else the guest owns (segment state, control registers, RIP,
//! RSP, RFLAGS, EFER, PAT); the hypervisor never touches the x87/SSE state
//! (it is built soft-float), so the guest's stays in the registers.

use core::arch::{asm, global_asm};

use super::entry_asm::{CODE_SELECTOR, DATA_SELECTOR, TSS_SELECTOR};
use super::model::boot_area;
use super::vmx::{self, Controls, field};

/// The guest's general registers while it is not running.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct GuestRegs {
    /// RAX.
    pub(crate) rax: u64,
    /// RBX.
    pub(crate) rbx: u64,
    /// RCX.
    pub(crate) rcx: u64,
    /// RDX.
    pub(crate) rdx: u64,
    /// RSI.
    pub(crate) rsi: u64,
    /// RDI.
    pub(crate) rdi: u64,
    /// RBP.
    pub(crate) rbp: u64,
    /// R8 ..= R15.
    pub(crate) r: [u64; 8],
}

unsafe extern "C" {
    fn bulkhead_vmx_run(regs: *mut GuestRegs, launched: u64) -> u64;
    fn bulkhead_vmx_exit();
}

/// Why the guest stopped running.
pub(crate) enum Entry {
    /// A VM exit: read the reason from the VMCS.
    Exited,
    /// VMLAUNCH/VMRESUME failed; the VM-instruction error number.
    Failed(u64),
}

/// Runs the guest of the current VMCS until its next VM exit.
pub(crate) fn enter(regs: &mut GuestRegs, launched: bool) -> Entry {
    // SAFETY: the current VMCS is fully set up (`setup`); the assembly saves
    // the callee-saved registers, records RSP as the host RSP and returns
    // here on exit (HOST_RIP) or on failure.
    let failed = unsafe { bulkhead_vmx_run(regs, u64::from(launched)) };
    if failed == 0 {
        Entry::Exited
    } else {
        Entry::Failed(vmx::read(field::VM_INSTRUCTION_ERROR))
    }
}

global_asm!(
    r#"
    .section .text
    .globl bulkhead_vmx_run
bulkhead_vmx_run:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    push rdi
    mov rax, {host_rsp}
    vmwrite rax, rsp
    test rsi, rsi
    mov rax, [rdi + 0]
    mov rbx, [rdi + 8]
    mov rcx, [rdi + 16]
    mov rdx, [rdi + 24]
    mov rsi, [rdi + 32]
    mov rbp, [rdi + 48]
    mov r8, [rdi + 56]
    mov r9, [rdi + 64]
    mov r10, [rdi + 72]
    mov r11, [rdi + 80]
    mov r12, [rdi + 88]
    mov r13, [rdi + 96]
    mov r14, [rdi + 104]
    mov r15, [rdi + 112]
    mov rdi, [rdi + 40]
    jnz 1f
    vmlaunch
    jmp 2f
1:  vmresume
2:  pop rdi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    mov eax, 1
    ret

    .globl bulkhead_vmx_exit
bulkhead_vmx_exit:
    push rdi
    mov rdi, [rsp + 8]
    mov [rdi + 0], rax
    mov [rdi + 8], rbx
    mov [rdi + 16], rcx
    mov [rdi + 24], rdx
    mov [rdi + 32], rsi
    mov [rdi + 48], rbp
    mov [rdi + 56], r8
    mov [rdi + 64], r9
    mov [rdi + 72], r10
    mov [rdi + 80], r11
    mov [rdi + 88], r12
    mov [rdi + 96], r13
    mov [rdi + 104], r14
    mov [rdi + 112], r15
    pop rax
    mov [rdi + 40], rax
    pop rdi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    xor eax, eax
    ret
"#,
    host_rsp = const vmx::field::HOST_RSP,
);

/// Per-vCPU addresses the VMCS points at.
pub(crate) struct Wiring {
    /// VPID (cell id + 1).
    pub(crate) vpid: u16,
    /// EPT pointer.
    pub(crate) eptp: u64,
    /// I/O bitmap A and B (physical).
    pub(crate) io_bitmaps: (u64, u64),
    /// MSR bitmap (physical).
    pub(crate) msr_bitmap: u64,
    /// Host GDT, IDT and TR bases.
    pub(crate) gdt: u64,
    /// Host IDT base.
    pub(crate) idt: u64,
    /// This CPU's index (host GS base).
    pub(crate) cpu: u64,
}

fn read_cr(n: u8) -> u64 {
    let value: u64;
    // SAFETY: reading a control register has no side effects.
    unsafe {
        match n {
            0 => asm!("mov {}, cr0", out(reg) value, options(nomem, nostack)),
            3 => asm!("mov {}, cr3", out(reg) value, options(nomem, nostack)),
            _ => asm!("mov {}, cr4", out(reg) value, options(nomem, nostack)),
        }
    }
    value
}

/// Fills the controls and host state of the current VMCS.
pub(crate) fn setup_controls(controls: &Controls, wiring: &Wiring) {
    use vmx::write;
    write(field::PIN_BASED_CONTROLS, u64::from(controls.pin));
    write(field::PROC_BASED_CONTROLS, u64::from(controls.proc1));
    write(field::PROC_BASED_CONTROLS2, u64::from(controls.proc2));
    write(field::EXIT_CONTROLS, u64::from(controls.exit));
    write(field::ENTRY_CONTROLS, u64::from(controls.entry));
    write(field::EXCEPTION_BITMAP, 0);
    write(field::CR3_TARGET_COUNT, 0);
    write(field::EXIT_MSR_STORE_COUNT, 0);
    write(field::EXIT_MSR_LOAD_COUNT, 0);
    write(field::ENTRY_MSR_LOAD_COUNT, 0);
    write(field::ENTRY_INTERRUPTION_INFO, 0);
    write(field::VPID, u64::from(wiring.vpid));
    write(field::EPT_POINTER, wiring.eptp);
    write(field::IO_BITMAP_A, wiring.io_bitmaps.0);
    write(field::IO_BITMAP_B, wiring.io_bitmaps.1);
    write(field::MSR_BITMAP, wiring.msr_bitmap);
    write(field::VMCS_LINK_POINTER, u64::MAX);
    // The guest sees CR4.VMXE clear; its writes to that bit exit.
    write(field::CR0_GUEST_HOST_MASK, 0);
    write(field::CR0_READ_SHADOW, 0);
    write(field::CR4_GUEST_HOST_MASK, 1 << 13);
    write(field::CR4_READ_SHADOW, 0);

    write(field::HOST_CR0, read_cr(0));
    write(field::HOST_CR3, read_cr(3));
    write(field::HOST_CR4, read_cr(4));
    write(field::HOST_CS_SELECTOR, u64::from(CODE_SELECTOR));
    for selector in [
        field::HOST_SS_SELECTOR,
        field::HOST_DS_SELECTOR,
        field::HOST_ES_SELECTOR,
    ] {
        write(selector, u64::from(DATA_SELECTOR));
    }
    write(field::HOST_FS_SELECTOR, 0);
    write(field::HOST_GS_SELECTOR, 0);
    write(field::HOST_TR_SELECTOR, u64::from(TSS_SELECTOR));
    write(field::HOST_FS_BASE, 0);
    write(field::HOST_GS_BASE, wiring.cpu);
    write(field::HOST_TR_BASE, 0);
    write(field::HOST_GDTR_BASE, wiring.gdt);
    write(field::HOST_IDTR_BASE, wiring.idt);
    write(field::HOST_SYSENTER_CS, 0);
    write(field::HOST_SYSENTER_ESP, 0);
    write(field::HOST_SYSENTER_EIP, 0);
    write(field::HOST_IA32_PAT, super::cpu::rdmsr(0x277));
    write(field::HOST_IA32_EFER, super::cpu::rdmsr(0xc000_0080));
    write(field::HOST_RIP, bulkhead_vmx_exit as *const () as u64);
}

/// Puts the guest of the current VMCS in the documented boot state
/// (docs/x86.md): 64-bit mode, paging through the boot area at `area`,
/// `rip`, `rsp` = `area`.
pub(crate) fn setup_guest(controls: &Controls, area: u64, rip: u64) {
    use vmx::write;
    let cr0 = (0x8001_0033 | controls.cr0_fixed.0) & controls.cr0_fixed.1;
    let cr4 = ((1 << 5) | controls.cr4_fixed.0) & controls.cr4_fixed.1;
    write(field::GUEST_CR0, cr0);
    write(field::CR0_READ_SHADOW, cr0);
    write(field::GUEST_CR3, area + boot_area::PML4_OFFSET);
    write(field::GUEST_CR4, cr4);
    write(field::CR4_READ_SHADOW, cr4 & !(1 << 13));
    write(field::GUEST_DR7, 0x400);
    write(field::GUEST_IA32_DEBUGCTL, 0);
    write(field::GUEST_RSP, area);
    write(field::GUEST_RIP, rip);
    write(field::GUEST_RFLAGS, 0x2);
    write(field::GUEST_PENDING_DEBUG, 0);
    write(field::GUEST_INTERRUPTIBILITY, 0);
    write(field::GUEST_ACTIVITY_STATE, 0);
    write(field::GUEST_SYSENTER_CS, 0);
    write(field::GUEST_SYSENTER_ESP, 0);
    write(field::GUEST_SYSENTER_EIP, 0);
    write(field::GUEST_IA32_PAT, 0x0007_0406_0007_0406);
    write(field::GUEST_IA32_EFER, 0xd00); // LME | LMA | NXE

    write(field::GUEST_CS_SELECTOR, u64::from(boot_area::CODE64));
    write(field::GUEST_CS_BASE, 0);
    write(field::GUEST_CS_LIMIT, 0xffff_ffff);
    write(
        field::GUEST_CS_AR,
        u64::from(boot_area::CODE64_ACCESS_RIGHTS),
    );
    for (selector, base, limit, ar) in [
        (
            field::GUEST_DS_SELECTOR,
            field::GUEST_DS_BASE,
            field::GUEST_DS_LIMIT,
            field::GUEST_DS_AR,
        ),
        (
            field::GUEST_ES_SELECTOR,
            field::GUEST_ES_BASE,
            field::GUEST_ES_LIMIT,
            field::GUEST_ES_AR,
        ),
        (
            field::GUEST_SS_SELECTOR,
            field::GUEST_SS_BASE,
            field::GUEST_SS_LIMIT,
            field::GUEST_SS_AR,
        ),
        (
            field::GUEST_FS_SELECTOR,
            field::GUEST_FS_BASE,
            field::GUEST_FS_LIMIT,
            field::GUEST_FS_AR,
        ),
        (
            field::GUEST_GS_SELECTOR,
            field::GUEST_GS_BASE,
            field::GUEST_GS_LIMIT,
            field::GUEST_GS_AR,
        ),
    ] {
        write(selector, u64::from(boot_area::DATA));
        write(base, 0);
        write(limit, 0xffff_ffff);
        write(ar, u64::from(boot_area::DATA_ACCESS_RIGHTS));
    }
    write(field::GUEST_LDTR_SELECTOR, 0);
    write(field::GUEST_LDTR_BASE, 0);
    write(field::GUEST_LDTR_LIMIT, 0);
    write(field::GUEST_LDTR_AR, 1 << 16); // unusable
    write(field::GUEST_TR_SELECTOR, u64::from(boot_area::TSS));
    write(field::GUEST_TR_BASE, area + boot_area::TSS_OFFSET);
    write(field::GUEST_TR_LIMIT, u64::from(boot_area::TSS_LIMIT));
    write(field::GUEST_TR_AR, u64::from(boot_area::TSS_ACCESS_RIGHTS));
    write(field::GUEST_GDTR_BASE, area);
    write(field::GUEST_GDTR_LIMIT, u64::from(boot_area::GDT_LIMIT));
    write(field::GUEST_IDTR_BASE, 0);
    write(field::GUEST_IDTR_LIMIT, 0);
}
