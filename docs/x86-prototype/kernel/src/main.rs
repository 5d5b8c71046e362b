#![no_std]
#![no_main]

mod boot;

use core::arch::asm;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

// ---------------------------------------------------------------- port I/O
#[inline]
unsafe fn outb(port: u16, v: u8) {
    asm!("out dx, al", in("dx") port, in("al") v, options(nomem, nostack, preserves_flags));
}
#[inline]
unsafe fn inb(port: u16) -> u8 {
    let v: u8;
    asm!("in al, dx", out("al") v, in("dx") port, options(nomem, nostack, preserves_flags));
    v
}

// ---------------------------------------------------------------- COM1, polled
const COM1: u16 = 0x3F8;
static SERIAL_LOCK: AtomicBool = AtomicBool::new(false);

fn serial_init() {
    unsafe {
        outb(COM1 + 1, 0x00); // no IRQs
        outb(COM1 + 3, 0x80); // DLAB
        outb(COM1, 0x01); // 115200
        outb(COM1 + 1, 0x00);
        outb(COM1 + 3, 0x03); // 8N1
        outb(COM1 + 2, 0xC7); // FIFO
        outb(COM1 + 4, 0x0B);
    }
}

struct Serial;
impl Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                putc(b'\r');
            }
            putc(b);
        }
        Ok(())
    }
}
fn putc(b: u8) {
    unsafe {
        while inb(COM1 + 5) & 0x20 == 0 {
            core::hint::spin_loop();
        }
        outb(COM1, b);
    }
}

fn print(args: fmt::Arguments) {
    while SERIAL_LOCK
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        core::hint::spin_loop();
    }
    let _ = Serial.write_fmt(args);
    SERIAL_LOCK.store(false, Ordering::Release);
}
macro_rules! println {
    ($($t:tt)*) => { print(format_args!("{}\n", format_args!($($t)*))) };
}

// ---------------------------------------------------------------- CPU helpers
unsafe fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack));
    ((hi as u64) << 32) | lo as u64
}
unsafe fn wrmsr(msr: u32, v: u64) {
    asm!("wrmsr", in("ecx") msr, in("eax") v as u32, in("edx") (v >> 32) as u32, options(nostack));
}
unsafe fn read_cr0() -> u64 { let v; asm!("mov {}, cr0", out(reg) v); v }
unsafe fn write_cr0(v: u64) { asm!("mov cr0, {}", in(reg) v); }
unsafe fn read_cr4() -> u64 { let v; asm!("mov {}, cr4", out(reg) v); v }
unsafe fn write_cr4(v: u64) { asm!("mov cr4, {}", in(reg) v); }

fn rdtsc() -> u64 {
    unsafe { core::arch::x86_64::_rdtsc() }
}

fn halt_forever() -> ! {
    loop {
        unsafe { asm!("cli; hlt", options(nomem, nostack)) };
    }
}

/// Bochs power-off: write "Shutdown" to port 0x8900 (Bochs then exits, status 1).
fn bochs_shutdown() -> ! {
    // wait for LSR.TEMT (transmitter fully empty): THRE alone leaves the last bytes
    // in Bochs' simulated shift register/FIFO and they are lost at power-off
    unsafe {
        while inb(COM1 + 5) & 0x40 == 0 {
            core::hint::spin_loop();
        }
    }
    for b in b"Shutdown" {
        unsafe { outb(0x8900, *b) };
    }
    // QEMU isa-debug-exit, if present
    unsafe { outb(0xF4, 0x10) };
    halt_forever()
}

// ---------------------------------------------------------------- VMX
const IA32_FEATURE_CONTROL: u32 = 0x3A;
const IA32_VMX_BASIC: u32 = 0x480;
const IA32_VMX_PROCBASED_CTLS: u32 = 0x482;
const IA32_VMX_CR0_FIXED0: u32 = 0x486;
const IA32_VMX_CR0_FIXED1: u32 = 0x487;
const IA32_VMX_CR4_FIXED0: u32 = 0x488;
const IA32_VMX_CR4_FIXED1: u32 = 0x489;
const IA32_VMX_PROCBASED_CTLS2: u32 = 0x48B;
const IA32_VMX_EPT_VPID_CAP: u32 = 0x48C;

#[repr(C, align(4096))]
struct Page([u8; 4096]);
static mut VMXON_REGION: [Page; 2] = [Page([0; 4096]), Page([0; 4096])];

/// Enable VMX on the current CPU and execute VMXON with region `idx`.
/// Returns Err(reason) on failure.
unsafe fn vmx_on(idx: usize, verbose: bool) -> Result<(), &'static str> {
    let ecx1 = core::arch::x86_64::__cpuid(1).ecx;
    if verbose {
        println!("x86proto: cpuid.1:ecx={:#010x} vmx={}", ecx1, (ecx1 >> 5) & 1);
    }
    if ecx1 & (1 << 5) == 0 {
        return Err("no VMX in CPUID");
    }
    let fc = rdmsr(IA32_FEATURE_CONTROL);
    let basic = rdmsr(IA32_VMX_BASIC);
    let proc1 = rdmsr(IA32_VMX_PROCBASED_CTLS);
    let proc2 = rdmsr(IA32_VMX_PROCBASED_CTLS2);
    let ept = rdmsr(IA32_VMX_EPT_VPID_CAP);
    if verbose {
        println!("x86proto: IA32_FEATURE_CONTROL={:#018x}", fc);
        println!(
            "x86proto: IA32_VMX_BASIC={:#018x} (rev {:#x}, region {} bytes)",
            basic, basic & 0x7fff_ffff, (basic >> 32) & 0x1fff
        );
        println!(
            "x86proto: IA32_VMX_PROCBASED_CTLS={:#018x} (secondary allowed={})",
            proc1, (proc1 >> 63) & 1
        );
        println!(
            "x86proto: IA32_VMX_PROCBASED_CTLS2={:#018x} (ept={} unrestricted_guest={} vpid={})",
            proc2, (proc2 >> 33) & 1, (proc2 >> 39) & 1, (proc2 >> 37) & 1
        );
        println!("x86proto: IA32_VMX_EPT_VPID_CAP={:#018x}", ept);
        println!(
            "x86proto: cr0_fixed0={:#x} cr0_fixed1={:#x} cr4_fixed0={:#x} cr4_fixed1={:#x}",
            rdmsr(IA32_VMX_CR0_FIXED0), rdmsr(IA32_VMX_CR0_FIXED1),
            rdmsr(IA32_VMX_CR4_FIXED0), rdmsr(IA32_VMX_CR4_FIXED1)
        );
    }
    // bit0 lock, bit2 VMX outside SMX. If the firmware left it unlocked, enable + lock.
    if fc & 1 == 0 {
        wrmsr(IA32_FEATURE_CONTROL, fc | 0b101);
    } else if fc & 0b100 == 0 {
        return Err("IA32_FEATURE_CONTROL locked with VMX disabled");
    }
    let cr0 = (read_cr0() | rdmsr(IA32_VMX_CR0_FIXED0)) & rdmsr(IA32_VMX_CR0_FIXED1);
    write_cr0(cr0);
    let cr4 = ((read_cr4() | (1 << 13)) | rdmsr(IA32_VMX_CR4_FIXED0)) & rdmsr(IA32_VMX_CR4_FIXED1);
    write_cr4(cr4);

    let region = core::ptr::addr_of_mut!(VMXON_REGION[idx]);
    // identity mapping: virtual == physical
    let phys: u64 = region as u64;
    core::ptr::write_volatile(region as *mut u32, (basic & 0x7fff_ffff) as u32);
    let fail: u8;
    asm!("vmxon qword ptr [{p}]", "setna {f}", p = in(reg) &phys, f = out(reg_byte) fail);
    if fail != 0 {
        return Err("VMXON failed (CF/ZF set)");
    }
    Ok(())
}

// ---------------------------------------------------------------- local APIC / SMP
const LAPIC_BASE: usize = 0xFEE0_0000;
const LAPIC_ID: usize = 0x20;
const LAPIC_SVR: usize = 0xF0;
const LAPIC_ICR_LO: usize = 0x300;
const LAPIC_ICR_HI: usize = 0x310;

unsafe fn lapic_r(off: usize) -> u32 {
    core::ptr::read_volatile((LAPIC_BASE + off) as *const u32)
}
unsafe fn lapic_w(off: usize, v: u32) {
    core::ptr::write_volatile((LAPIC_BASE + off) as *mut u32, v)
}
unsafe fn lapic_wait_icr() {
    while lapic_r(LAPIC_ICR_LO) & (1 << 12) != 0 {
        core::hint::spin_loop();
    }
}
/// Crude delay: N reads of port 0x80-ish (emulated I/O is slow and roughly constant).
fn delay(n: u32) {
    for _ in 0..n {
        unsafe { inb(0x80) };
    }
}

static AP_ONLINE: AtomicU32 = AtomicU32::new(0);

unsafe fn start_ap(apic_id: u32) {
    extern "C" {
        static trampoline_start: u8;
        static trampoline_end: u8;
    }
    let src = core::ptr::addr_of!(trampoline_start);
    let len = core::ptr::addr_of!(trampoline_end) as usize - src as usize;
    core::ptr::copy_nonoverlapping(src, boot::TRAMPOLINE_PHYS as *mut u8, len);
    let vector = (boot::TRAMPOLINE_PHYS >> 12) as u32;

    // software-enable the local APIC (SVR bit 8)
    lapic_w(LAPIC_SVR, lapic_r(LAPIC_SVR) | 0x100 | 0xFF);
    // INIT (level assert), then INIT de-assert, then SIPI twice
    lapic_w(LAPIC_ICR_HI, apic_id << 24);
    lapic_w(LAPIC_ICR_LO, 0x0000_C500);
    lapic_wait_icr();
    lapic_w(LAPIC_ICR_HI, apic_id << 24);
    lapic_w(LAPIC_ICR_LO, 0x0000_8500);
    lapic_wait_icr();
    delay(10_000); // ~10 ms on hardware
    for _ in 0..2 {
        lapic_w(LAPIC_ICR_HI, apic_id << 24);
        lapic_w(LAPIC_ICR_LO, 0x0000_0600 | vector);
        lapic_wait_icr();
        delay(200);
    if AP_ONLINE.load(Ordering::Acquire) != 0 {
            break;
        }
    }
}

#[no_mangle]
extern "C" fn ap_main() -> ! {
    let id = unsafe { lapic_r(LAPIC_ID) } >> 24;
    println!("x86proto: ap {} online", id);
    match unsafe { vmx_on(1, false) } {
        Ok(()) => println!("x86proto: ap {} vmxon ok", id),
        Err(e) => println!("x86proto: ap {} vmxon FAIL: {}", id, e),
    }
    AP_ONLINE.store(1, Ordering::Release);
    halt_forever()
}

#[no_mangle]
extern "C" fn kmain(magic: u32, mbi: u64) -> ! {
    serial_init();
    let tsc0 = rdtsc();
    println!("x86proto: hello from long mode");
    println!("x86proto: tsc at kmain entry={}", tsc0);
    println!("x86proto: mb2 magic={:#x} mbi={:#x}", magic, mbi);
    match unsafe { vmx_on(0, true) } {
        Ok(()) => println!("x86proto: vmxon ok"),
        Err(e) => println!("x86proto: vmxon FAIL: {}", e),
    }
    let bsp_id = unsafe { lapic_r(LAPIC_ID) } >> 24;
    let apic_base = unsafe { rdmsr(0x1B) };
    println!("x86proto: bsp apic id {} IA32_APIC_BASE={:#x}", bsp_id, apic_base);
    unsafe { start_ap(1) };
    let mut spins = 0u64;
    while AP_ONLINE.load(Ordering::Acquire) == 0 && spins < 50_000_000 {
        core::hint::spin_loop();
        spins += 1;
    }
    println!("x86proto: tsc now={}", rdtsc());
    if AP_ONLINE.load(Ordering::Acquire) != 0 {
        println!("x86proto: all cpus up, shutting down");
    } else {
        println!("x86proto: AP did not come up");
    }
    unsafe { asm!("vmxoff") };
    bochs_shutdown()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("x86proto: PANIC {}", info);
    halt_forever()
}
