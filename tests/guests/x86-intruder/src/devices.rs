//! Group 2, devices and interrupts: catalogue items 12 (devices the cell
//! does not own), 19 (string I/O), 20 (ports that reset, power off or
//! reach the PCI configuration space or SMM), 31 (IPIs the x2APIC policy
//! refuses), 32 (the local APIC's own registers) and, last because its
//! refusals use up the report budget, 18 (every I/O port). The cell owns
//! no device; the victim runs on the x2APIC id 0 core, the witness on 2.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rt::{Fault, println};

use crate::common::{Outcome, attempt, counter, counters, done, raised};

/// The victim's and the witness's x2APIC ids.
const VICTIM: u64 = 0;
const WITNESS: u64 = 2;
/// The vector this cell counts.
const OWN_VECTOR: u8 = 0x42;

static OWN: AtomicU64 = AtomicU64::new(0);

fn on_own(_vector: u8) {
    OWN.fetch_add(1, Relaxed);
}

pub(crate) fn run() -> ! {
    println!("intruder: group devices (ports, string i/o, ipis, local apic, every port)");
    rt::set_handler(OWN_VECTOR, on_own);
    rt::enable_interrupts();
    unowned_devices();
    string_io();
    dangerous_ports();
    ipis();
    local_apic();
    rt::disable_interrupts();
    every_port();
    done("devices")
}

fn inw(port: u16) -> u16 {
    let value: u16;
    // SAFETY: port input; under Bulkhead a port the cell does not own
    // exits and reads all ones.
    unsafe { asm!("in ax, dx", out("ax") value, in("dx") port, options(nomem, nostack)) };
    value
}

fn ind(port: u16) -> u32 {
    let value: u32;
    // SAFETY: as for `inw`.
    unsafe { asm!("in eax, dx", out("eax") value, in("dx") port, options(nomem, nostack)) };
    value
}

fn outd(port: u16, value: u32) {
    // SAFETY: port output to ports the cell does not own: dropped.
    unsafe { asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack)) };
}

fn unowned_devices() {
    let io = counter(counters::IO_REFUSED).unwrap_or(0);
    for (id, what, port) in [
        ("12.1", "cmos index", 0x70u16),
        ("12.2", "ps/2 data", 0x60),
        ("12.3", "pit counter 0", 0x40),
        (
            "12.4",
            "the debug console (another cell's in the demo)",
            0xe9,
        ),
    ] {
        let value = rt::inb(port);
        attempt(
            id,
            format_args!("read {what} port {port:#x}"),
            value == 0xff,
            format_args!("{value:#x}"),
        );
    }
    rt::outb(0x64, 0xfe);
    let after = counter(counters::IO_REFUSED).unwrap_or(0);
    attempt(
        "12.5",
        format_args!("write 0xfe (pulse reset) to ps/2 port 0x64"),
        after == io + 5,
        format_args!("dropped, still running; io-refused {io} -> {after}"),
    );
}

fn string_io() {
    let mut buffer = [0x5au8; 8];
    let start = buffer.as_mut_ptr() as u64;
    let (rdi, rcx): (u64, u64);
    // SAFETY: INS into this program's buffer (if it were emulated); the
    // hypervisor skips it, so nothing is written.
    unsafe {
        asm!("rep insb", inout("rdi") start => rdi, inout("rcx") 4u64 => rcx, in("dx") 0x70u16, options(nostack))
    };
    attempt(
        "19.1",
        format_args!("rep insb x4 from port 0x70"),
        buffer == [0x5a; 8] && rdi == start && rcx == 4,
        format_args!("skipped, buffer untouched, rdi and rcx unchanged"),
    );
    let source = *b"#bad#\n";
    let (rsi, rcx): (u64, u64);
    // SAFETY: OUTS from this program's bytes to the console port: skipped.
    unsafe {
        asm!("rep outsb", inout("rsi") source.as_ptr() as u64 => rsi, inout("rcx") 6u64 => rcx, in("dx") 0x3f8u16, options(nostack))
    };
    attempt(
        "19.2",
        format_args!("rep outsb x6 to the console port 0x3f8"),
        rsi == source.as_ptr() as u64 && rcx == 6,
        format_args!("skipped, rsi and rcx unchanged"),
    );
    let mut words = [0x5a5au16; 2];
    let start = words.as_mut_ptr() as u64;
    let rdi: u64;
    // SAFETY: as for 19.1.
    unsafe { asm!("insw", inout("rdi") start => rdi, in("dx") 0xffffu16, options(nostack)) };
    attempt(
        "19.3",
        format_args!("insw from port 0xffff"),
        words == [0x5a5a; 2] && rdi == start,
        format_args!("skipped, buffer untouched"),
    );
}

fn dangerous_ports() {
    rt::outb(0xcf9, 0x06);
    attempt(
        "20.1",
        format_args!("write 0x6 (hard reset) to port 0xcf9"),
        true,
        format_args!("dropped, the machine still runs"),
    );
    rt::outb(0x92, 0x01);
    attempt(
        "20.2",
        format_args!("write 0x1 (fast reset) to port 0x92"),
        true,
        format_args!("dropped, the machine still runs"),
    );
    rt::outb(0xb2, 0x00);
    attempt(
        "20.3",
        format_args!("write 0x0 (apm smi) to port 0xb2"),
        true,
        format_args!("dropped"),
    );
    outd(0xcf8, 0x8000_0000);
    let config = ind(0xcfc);
    attempt(
        "20.4",
        format_args!("pci configuration 0:0.0 register 0 via 0xcf8/0xcfc"),
        config == 0xffff_ffff,
        format_args!("{config:#x}"),
    );
    for &byte in b"Shutdown" {
        rt::outb(0x8900, byte);
    }
    attempt(
        "20.5",
        format_args!("\"Shutdown\" to the bochs power-off port 0x8900"),
        true,
        format_args!("dropped, the machine still runs"),
    );
}

/// Writes the ICR; the guest sees no #GP either way (refused IPIs are
/// dropped silently).
fn icr(value: u64) -> Result<(), rt::Gp> {
    rt::send_icr(value)
}

fn ipis() {
    let own = u64::from(rt::apic_id());
    let refused = counter(6).unwrap_or(0);
    let cases: [(&str, &str, u64); 13] = [
        ("31.1", "nmi to the victim", VICTIM << 32 | 4 << 8),
        ("31.2", "smi to the victim", VICTIM << 32 | 2 << 8),
        (
            "31.3",
            "init to the victim",
            VICTIM << 32 | 5 << 8 | 1 << 14,
        ),
        ("31.4", "sipi to the victim", VICTIM << 32 | 6 << 8 | 0x10),
        (
            "31.5",
            "lowest priority to the victim",
            VICTIM << 32 | 1 << 8 | 0x40,
        ),
        (
            "31.6",
            "logical destination 0x10001",
            0x1_0001 << 32 | 1 << 11 | 0x40,
        ),
        ("31.7", "broadcast 0xffffffff", 0xffff_ffff << 32 | 0x40),
        ("31.8", "fixed vector 5 to itself", own << 32 | 0x05),
        (
            "31.9",
            "fixed vector 0x40 to the victim",
            VICTIM << 32 | 0x40,
        ),
        ("31.10", "nmi to itself", own << 32 | 4 << 8),
        ("31.11", "init to itself", own << 32 | 5 << 8 | 1 << 14),
        (
            "31.12",
            "fixed vector 0x40 to the witness",
            WITNESS << 32 | 0x40,
        ),
        ("31.13", "nmi to all excluding self", 3 << 18 | 4 << 8),
    ];
    for (id, what, value) in cases {
        let result = icr(value);
        attempt(
            id,
            format_args!("{what} (icr {value:#x})"),
            result.is_ok(),
            format_args!("dropped, nothing arrived here"),
        );
    }
    let after = counter(6).unwrap_or(0);
    // All excluding self in a one-CPU cell: nobody; all including self:
    // this CPU only, once.
    let before = OWN.load(Relaxed);
    let none = icr(3 << 18 | u64::from(OWN_VECTOR));
    let all = icr(2 << 18 | u64::from(OWN_VECTOR));
    rt::delay_spins(100_000);
    let got = OWN.load(Relaxed) - before;
    attempt(
        "31.14",
        format_args!("fixed to all excluding self, then to all including self"),
        none.is_ok() && all.is_ok() && got == 1 && after == refused + 13,
        format_args!("{got} arrived here; ipi-refused {refused} -> {after}"),
    );
}

/// WRMSR as a probe on an x2APIC register.
fn apic_write(msr: u32, value: u64) -> Result<(), Fault> {
    // SAFETY: local APIC registers of this core only: the hypervisor
    // either passes the write to this core's APIC or refuses it.
    unsafe {
        rt::try_insn!(
            "wrmsr";
            in("ecx") msr,
            in("eax") value as u32,
            in("edx") (value >> 32) as u32,
            options(nostack)
        )
    }
}

fn local_apic() {
    let svr = rt::rdmsr(0x80f);
    let eoi_suppression = apic_write(0x80f, svr | 1 << 12);
    let back = rt::rdmsr(0x80f);
    let _ = apic_write(0x80f, svr);
    attempt(
        "32.1",
        format_args!("svr with eoi-broadcast suppression"),
        eoi_suppression.is_ok() || raised(eoi_suppression, Fault::GP),
        format_args!(
            "{}, svr read {back:#x} (own core only)",
            Outcome(eoi_suppression)
        ),
    );
    // A one-shot timer with vector 2: an illegal vector, never an NMI.
    let lvt = apic_write(0x832, 0x02);
    let count = apic_write(0x838, 1000);
    rt::delay_spins(100_000);
    let esr = rt::rdmsr(0x828);
    let _ = apic_write(0x832, 1 << 16);
    attempt(
        "32.2",
        format_args!("lvt timer with vector 2"),
        lvt.is_ok() && count.is_ok(),
        format_args!("no interrupt arrived, esr {esr:#x}"),
    );
    let self_ipi = apic_write(0x83f, 0x03);
    rt::delay_spins(10_000);
    attempt(
        "32.3",
        format_args!("self ipi with vector 3"),
        self_ipi.is_ok(),
        format_args!("{}, nothing arrived", Outcome(self_ipi)),
    );
    for (id, what, msr) in [
        ("32.4", "lvt lint0", 0x835u32),
        ("32.5", "lvt lint1", 0x836),
        ("32.6", "lvt performance", 0x834),
        ("32.7", "lvt thermal", 0x833),
        ("32.8", "lvt cmci", 0x82f),
    ] {
        // NMI delivery: what a guest could aim at its core's pins.
        let result = apic_write(msr, 4 << 8);
        attempt(
            id,
            format_args!("write {what} ({msr:#x}) with nmi delivery"),
            raised(result, Fault::GP),
            format_args!("{}", Outcome(result)),
        );
    }
    let tpr = apic_write(0x808, 0xff);
    let tpr_back = rt::rdmsr(0x808);
    let _ = apic_write(0x808, 0);
    attempt(
        "32.9",
        format_args!("tpr 0xff"),
        tpr.is_ok() && tpr_back == 0xff,
        format_args!("read back {tpr_back:#x} (own priority only)"),
    );
    let disable = apic_write(0x80f, svr & !(1 << 8));
    let _ = apic_write(0x80f, svr);
    attempt(
        "32.10",
        format_args!("software-disable the local apic, then enable it"),
        disable.is_ok(),
        format_args!("{} (own core only)", Outcome(disable)),
    );
}

/// The console's ports: emulated, not refused.
fn console(port: u16) -> bool {
    (0x3f8..=0x3ff).contains(&port)
}

fn every_port() {
    let io = counter(counters::IO_REFUSED).unwrap_or(0);
    let mut wrong = 0u32;
    let mut first_wrong = None;
    for port in 0..=u16::MAX {
        let value = rt::inb(port);
        if !console(port) && value != 0xff {
            wrong += 1;
            first_wrong.get_or_insert(port);
        }
    }
    let after_in = counter(counters::IO_REFUSED).unwrap_or(0);
    attempt(
        "18.1",
        format_args!("inb from every port"),
        wrong == 0 && after_in == io + 0x1_0000 - 8,
        format_args!(
            "{wrong} not 0xff outside the console (first {:#x}); io-refused {io} -> {after_in}",
            first_wrong.unwrap_or(0)
        ),
    );
    let mut odd = 0u32;
    for port in (0..=u16::MAX).step_by(17).chain(0xfff0..=0xffff) {
        let spans_console = (0x3f5..=0x3ff).contains(&port);
        if !spans_console && (inw(port) != 0xffff || ind(port) != 0xffff_ffff) {
            odd += 1;
        }
    }
    // Across the console's first port: refused bytes read 0xff, the
    // console's its registers (RBR, IER: 0 here).
    let span = ind(0x3f6);
    attempt(
        "18.2",
        format_args!("inw and ind across the port space, wrapping at 0xffff"),
        odd == 0 && span & 0xffff == 0xffff,
        format_args!("{odd} not all ones; ind 0x3f6 {span:#x}"),
    );
    let before = counter(counters::IO_REFUSED).unwrap_or(0);
    let mut writes = 0u64;
    for port in 0..=u16::MAX {
        if !console(port) {
            rt::outb(port, 0);
            writes += 1;
        }
    }
    let after = counter(counters::IO_REFUSED).unwrap_or(0);
    attempt(
        "18.3",
        format_args!("outb 0 to every port but the console"),
        after == before + writes,
        format_args!("{writes} writes, all refused (io-refused {before} -> {after})"),
    );
}
