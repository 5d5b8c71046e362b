//! The guest's (virtual) GIC, as a bare-metal OS drives it: GICv3 or GICv2.
//!
//! Addresses are QEMU virt's: GICD at 0x0800_0000; on GICv3 one
//! redistributor frame pair per vCPU from 0x080a_0000 (stride 0x2_0000) and
//! the system-register CPU interface (ICC_*); on GICv2 the memory-mapped
//! CPU interface at 0x0801_0000 and SGIs through GICD_SGIR. The version is
//! read from GICD_PIDR2 (ArchRev), where a GICv3 has it.

use core::arch::asm;
use core::sync::atomic::{AtomicU8, Ordering};

const GICD: u64 = 0x0800_0000;
const GICR: u64 = 0x080a_0000;
const GICR_STRIDE: u64 = 0x2_0000;
const SGI_FRAME: u64 = 0x1_0000;
const GICC: u64 = 0x0801_0000;

fn read32(address: u64) -> u32 {
    // SAFETY: a GIC register; a 32-bit load is a valid access.
    unsafe { (address as *const u32).read_volatile() }
}

/// Whether the GIC is a GICv3 (GICD_PIDR2.ArchRev at the GICv3 offset).
/// Read once: the distributor is trapped, so every read costs an exit.
/// The read is a probe: QEMU's own GICv2 distributor (no hypervisor) is
/// 4 KiB and aborts it, which means GICv2.
pub fn is_v3() -> bool {
    const UNKNOWN: u8 = 0;
    const V3: u8 = 3;
    const V2: u8 = 2;
    static VERSION: AtomicU8 = AtomicU8::new(UNKNOWN);
    let mut version = VERSION.load(Ordering::Relaxed);
    if version == UNKNOWN {
        let pidr2 = crate::probe_read32(GICD + 0xffe8).unwrap_or(0);
        version = if (pidr2 >> 4) & 0xf == 3 { V3 } else { V2 };
        VERSION.store(version, Ordering::Relaxed);
    }
    version == V3
}

fn write32(address: u64, value: u32) {
    // SAFETY: a GIC register (the hypervisor traps and emulates it); a
    // 32-bit store is a valid access.
    unsafe { (address as *mut u32).write_volatile(value) };
}

fn write8(address: u64, value: u8) {
    // SAFETY: a byte-accessible GIC priority register.
    unsafe { (address as *mut u8).write_volatile(value) };
}

/// Enables the distributor (ARE, group 1). Once, on any vCPU.
pub fn init_distributor() {
    if is_v3() {
        write32(GICD, (1 << 4) | (1 << 1));
    } else {
        write32(GICD, 1);
    }
}

/// Wakes this vCPU's redistributor, enables the private interrupts in
/// `mask` (INTIDs 0..31) at priority 0x80 and turns on the CPU interface.
pub fn init_cpu(mask: u32) {
    if !is_v3() {
        // GICv2: banked SGI/PPI registers in the distributor, the CPU
        // interface in memory.
        for intid in 0..32 {
            if mask & (1 << intid) != 0 {
                write8(GICD + 0x400 + intid, 0x80);
            }
        }
        write32(GICD + 0x100, mask);
        write32(GICC + 0x4, 0xff);
        write32(GICC, 1);
        return;
    }
    let rd = GICR + crate::vcpu_index() as u64 * GICR_STRIDE;
    write32(rd + 0x14, 0);
    for intid in 0..32 {
        if mask & (1 << intid) != 0 {
            write8(rd + SGI_FRAME + 0x400 + intid, 0x80);
        }
    }
    write32(rd + SGI_FRAME + 0x100, mask);
    // SAFETY: the (virtual) CPU interface: system registers on, all
    // priorities unmasked, group 1 on.
    unsafe {
        asm!(
            "mrs {t}, icc_sre_el1",
            "orr {t}, {t}, #1",
            "msr icc_sre_el1, {t}",
            "isb",
            "msr icc_pmr_el1, {pmr}",
            "msr icc_igrpen1_el1, {one}",
            "isb",
            t = out(reg) _,
            pmr = in(reg) 0xffu64,
            one = in(reg) 1u64,
            options(nostack)
        );
    }
}

/// Acknowledges the pending interrupt: its `ICC_IAR1_EL1` value (the INTID
/// in bits 23:0; 1023 when none).
pub fn acknowledge() -> u64 {
    if !is_v3() {
        return u64::from(read32(GICC + 0xc));
    }
    let iar: u64;
    // SAFETY: reading ICC_IAR1_EL1 acknowledges an interrupt.
    unsafe { asm!("mrs {}, icc_iar1_el1", out(reg) iar, options(nostack)) };
    iar
}

/// The INTID in an `acknowledge` value: bits 23:0 on GICv3; on GICv2 bits
/// 9:0 (an SGI carries its sender's CPU number in bits 12:10).
pub fn intid(iar: u64) -> u64 {
    if is_v3() {
        iar & 0xff_ffff
    } else {
        iar & 0x3ff
    }
}

/// Ends the interrupt `acknowledge` returned.
pub fn end(iar: u64) {
    if !is_v3() {
        write32(GICC + 0x10, iar as u32);
        return;
    }
    // SAFETY: ends (drops priority and deactivates) that interrupt.
    unsafe { asm!("msr icc_eoir1_el1, {}", "isb", in(reg) iar, options(nostack)) };
}

/// Sends SGI `intid` (0..15) to vCPU `target` (Aff0) of this cell.
pub fn send_sgi(intid: u64, target: u64) {
    if !is_v3() {
        write32(
            GICD + 0xf00,
            (1 << (16 + (target & 7))) as u32 | (intid & 0xf) as u32,
        );
        return;
    }
    let value = (intid & 0xf) << 24 | (1 << (target & 0xf));
    // SAFETY: raises an SGI (the hypervisor traps and delivers it).
    unsafe { asm!("msr icc_sgi1r_el1, {}", "isb", in(reg) value, options(nostack)) };
}

/// Unmasks IRQs at EL1.
pub fn unmask_irqs() {
    // SAFETY: lets interrupts in; the handler is installed first.
    unsafe { asm!("msr daifclr, #2", options(nostack)) };
}

/// Masks IRQs at EL1.
pub fn mask_irqs() {
    // SAFETY: only masks interrupts.
    unsafe { asm!("msr daifset, #2", options(nostack)) };
}

/// Enables shared interrupt `intid` at the distributor with `priority`
/// (routing stays the reset default: vCPU 0).
pub fn enable_spi(intid: u64, priority: u8) {
    write8(GICD + 0x400 + intid, priority);
    write32(GICD + 0x100 + (intid / 32) * 4, 1 << (intid % 32));
}

/// Reads a 32-bit distributor register (for probing what a cell sees).
pub fn read_distributor(offset: u64) -> u32 {
    // SAFETY: a GIC distributor register (trapped and emulated).
    unsafe { ((GICD + offset) as *const u32).read_volatile() }
}

/// Writes a 32-bit distributor register (for probing what a cell may do).
pub fn write_distributor(offset: u64, value: u32) {
    write32(GICD + offset, value);
}

/// Writes a 64-bit distributor register (GICD_IROUTER<n>).
pub fn write_distributor64(offset: u64, value: u64) {
    // SAFETY: a GIC distributor register (trapped and emulated).
    unsafe { ((GICD + offset) as *mut u64).write_volatile(value) };
}

/// Raw SGI request in the GIC's own format: ICC_SGI1R_EL1 on GICv3,
/// GICD_SGIR (low 32 bits) on GICv2.
pub fn write_sgi1r(value: u64) {
    if !is_v3() {
        write32(GICD + 0xf00, value as u32);
        return;
    }
    // SAFETY: raises an SGI; the hypervisor decides whom it reaches.
    unsafe { asm!("msr icc_sgi1r_el1, {}", "isb", in(reg) value, options(nostack)) };
}
