//! Catalogue 4.2: devices and MMIO (attempts 12-17).

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rt::{Fault, gic, probe, probe_read32, probe_write32};

use crate::attempt::{Id, expect_external_abort, expect_ok, expect_write_fault, report};
use crate::memory::{GICD, GPIO, UART};

/// QEMU virt's devices not given to this cell.
const RTC: u64 = 0x0901_0000;
const FW_CFG: u64 = 0x0902_0000;
const VIRTIO: u64 = 0x0a00_0000;
/// GIC frames no guest gets: GICv2 GICH and GICV (physical), the GICv2m
/// MSI frame, the GICv3 ITS translator.
const GICH: u64 = 0x0803_0000;
const GICV: u64 = 0x0804_0000;
const V2M: u64 = 0x0802_0000;
const ITS_TRANSLATER: u64 = 0x0809_0040;
/// The GICv3 redistributors (one 128 KiB pair per vCPU; this cell has 2).
const GICR: u64 = 0x080a_0000;

pub(crate) fn run() {
    unassigned();
    interrupt_controller_frames();
    physical_console();
    uart_sweep();
    uart_interrupt();
    gic_sweep();
}

/// 12: devices of no one or of other cells; the own GPIO as the control.
fn unassigned() {
    expect_external_abort(
        Id(12, 1),
        format_args!("read rtc {RTC:#x}"),
        probe_read32(RTC),
    );
    // SAFETY: a device register, not this program's memory.
    let result = unsafe { probe_write32(RTC + 0x08, 0) };
    expect_write_fault(
        Id(12, 2),
        format_args!("write rtc load {:#x}", RTC + 8),
        result,
    );
    expect_external_abort(
        Id(12, 3),
        format_args!("read virtio-mmio {VIRTIO:#x}"),
        probe_read32(VIRTIO),
    );
    expect_ok(
        Id(12, 4),
        format_args!("read own gpio {GPIO:#x} (control)"),
        probe_read32(GPIO + 0x400),
    );
}

/// 13: interrupt controller frames no guest gets, and fw_cfg: no MSI, no
/// SPI, a fault.
fn interrupt_controller_frames() {
    let mut k = 0;
    for (what, addr) in [
        ("gich", GICH),
        ("gicv (physical)", GICV),
        ("gicv2m", V2M),
        ("fw_cfg", FW_CFG),
    ] {
        k += 1;
        expect_external_abort(
            Id(13, k),
            format_args!("read {what} {addr:#x}"),
            probe_read32(addr),
        );
    }
    // An MSI write to the ITS translator: INTID 8192 for device 0.
    // SAFETY: a device register, not this program's memory.
    let result = unsafe { probe_write32(ITS_TRANSLATER, 8192) };
    expect_write_fault(
        Id(13, k + 1),
        format_args!("msi write to gits_translater"),
        result,
    );
}

/// 14: the console's address holds this cell's virtual UART: disabling it,
/// changing its baud rate and line control reaches no physical UART (the
/// harness sees every later line, tagged).
fn physical_console() {
    // SAFETY: the virtual UART's registers (UARTIBRD, UARTLCR_H, UARTCR).
    let result = unsafe {
        probe_write32(UART + 0x24, 1)
            .and_then(|()| probe_write32(UART + 0x2c, 0))
            .and_then(|()| probe_write32(UART + 0x30, 0))
    };
    // Enabled again, as the runtime expects it.
    // SAFETY: as above.
    let _ = unsafe { probe_write32(UART + 0x30, 0x301) };
    report(
        Id(14, 1),
        format_args!("disable the console uart, change its baud rate and format"),
        result.is_ok(),
        format_args!(
            "{}",
            if result.is_ok() {
                "virtual uart only"
            } else {
                "fault"
            }
        ),
    );
}

/// One access of `size` bytes at `addr`, its fault caught.
fn access(addr: u64, size: u8, write: Option<u64>) -> Result<u64, Fault> {
    // SAFETY: an emulated device register; lone loads and stores in asm
    // blocks clobbering the C ABI; faults are skipped.
    unsafe {
        probe(|| {
            let mut value = write.unwrap_or(0);
            match (size, write.is_some()) {
                (1, false) => {
                    asm!("ldrb w0, [x1]", out("x0") value, in("x1") addr, options(nostack), clobber_abi("C"))
                }
                (2, false) => {
                    asm!("ldrh w0, [x1]", out("x0") value, in("x1") addr, options(nostack), clobber_abi("C"))
                }
                (4, false) => {
                    asm!("ldr w0, [x1]", out("x0") value, in("x1") addr, options(nostack), clobber_abi("C"))
                }
                (_, false) => {
                    asm!("ldr x0, [x1]", out("x0") value, in("x1") addr, options(nostack), clobber_abi("C"))
                }
                (1, true) => {
                    asm!("strb w0, [x1]", in("x0") value, in("x1") addr, options(nostack), clobber_abi("C"))
                }
                (2, true) => {
                    asm!("strh w0, [x1]", in("x0") value, in("x1") addr, options(nostack), clobber_abi("C"))
                }
                (4, true) => {
                    asm!("str w0, [x1]", in("x0") value, in("x1") addr, options(nostack), clobber_abi("C"))
                }
                (_, true) => {
                    asm!("str x0, [x1]", in("x0") value, in("x1") addr, options(nostack), clobber_abi("C"))
                }
            }
            value
        })
    }
}

/// 15: every offset of the virtual UART's page, 1, 2, 4 and 8 bytes,
/// aligned or not; writes to its identification, flag and raw interrupt
/// registers: the hypervisor answers all, and the identification stays.
fn uart_sweep() {
    let mut accesses = 0u64;
    let mut faults = 0u64;
    for offset in 0..0x1000u64 {
        for size in [1u8, 2, 4, 8] {
            accesses += 1;
            faults += u64::from(access(UART + offset, size, None).is_err());
        }
    }
    // SAFETY: read-only registers of the virtual UART (PeriphID0, UARTFR,
    // UARTRIS): writes must change nothing.
    unsafe {
        for offset in [0xfe0u64, 0x18, 0x3c] {
            let _ = probe_write32(UART + offset, 0xffff_ffff);
        }
    }
    let id = probe_read32(UART + 0xfe0).unwrap_or(0);
    report(
        Id(15, 1),
        format_args!("virtual uart sweep, {accesses} reads and writes to read-only registers"),
        id == 0x11,
        format_args!("{faults} faults, periphid0 {id:#x}"),
    );
}

/// Virtual UART interrupts this vCPU took.
pub(crate) static UART_IRQS: AtomicU64 = AtomicU64::new(0);
/// The virtual UART's interrupt (the console's SPI).
pub(crate) const UART_INTID: u64 = 33;

/// 16: the virtual UART's transmit interrupt unmasked (always pending),
/// then masked again: interrupts for this cell only, and they stop.
fn uart_interrupt() {
    gic::enable_spi(UART_INTID, 0x80);
    UART_IRQS.store(0, Relaxed);
    // SAFETY: UARTIMSC of the virtual UART: TXIM.
    let _ = unsafe { probe_write32(UART + 0x38, 1 << 5) };
    gic::unmask_irqs();
    rt::delay_ms(5);
    gic::mask_irqs();
    // SAFETY: as above: everything masked.
    let _ = unsafe { probe_write32(UART + 0x38, 0) };
    let during = UART_IRQS.load(Relaxed);
    gic::unmask_irqs();
    rt::delay_ms(5);
    gic::mask_irqs();
    let after = UART_IRQS.load(Relaxed) - during;
    report(
        Id(16, 1),
        format_args!("virtual uart tx interrupt unmasked, then masked"),
        during > 0 && after == 0,
        format_args!("{during} interrupts, {after} after masking"),
    );
}

/// 17: every 4-byte register of the distributor (64 KiB on GICv3, 4 KiB
/// on GICv2) read and written with ones, every size read, and the
/// redistributor frames beyond this cell's two vCPUs: the hypervisor
/// answers all; frames beyond read as zero; the distributor's identity
/// stays. Other cells' interrupts keep arriving (the witness).
fn gic_sweep() {
    let v3 = gic::is_v3();
    let size = if v3 { 0x1_0000 } else { 0x1000 };
    let ctlr = probe_read32(GICD).unwrap_or(0);
    let mut faults = 0u64;
    for offset in (0..size).step_by(4) {
        for width in [1u8, 2, 4, 8] {
            faults += u64::from(access(GICD + offset, width, None).is_err());
        }
        faults += u64::from(access(GICD + offset, 4, Some(0xffff_ffff)).is_err());
    }
    // Put the distributor back as the runtime left it.
    // SAFETY: GICD_CTLR.
    let _ = unsafe { probe_write32(GICD, ctlr) };
    let pidr2 = probe_read32(GICD + if v3 { 0xffe8 } else { 0xfe8 }).unwrap_or(0);
    let arch_rev = (pidr2 >> 4) & 0xf;
    report(
        Id(17, 1),
        format_args!("distributor sweep ({size:#x} bytes)"),
        faults == 0 && (arch_rev == 3) == v3,
        format_args!("{faults} faults, pidr2 {pidr2:#x}"),
    );
    if v3 {
        let mut nonzero = 0u64;
        for frame in 2..4u64 {
            for offset in (0..0x2_0000u64).step_by(0x40) {
                let value = access(GICR + frame * 0x2_0000 + offset, 4, None).unwrap_or(1);
                nonzero += u64::from(value != 0);
            }
        }
        report(
            Id(17, 2),
            format_args!("redistributor frames 2 and 3 (beyond the cell)"),
            nonzero == 0,
            format_args!("{nonzero} non-zero words"),
        );
    } else {
        report(
            Id(17, 2),
            format_args!("redistributor frames (gicv2: none)"),
            probe_read32(GICR).is_err(),
            format_args!("fault"),
        );
    }
}
