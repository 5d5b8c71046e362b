//! The physical GIC, as far as the hypervisor uses it today: one software
//! interrupt (SGI 15, the "kick") that pulls a core out of its guest.
//!
//! When a cell is stopped or restarted, its other vCPUs must come back to
//! the hypervisor even if they never trap by themselves; the core doing the
//! stop sends them the kick. HCR_EL2.IMO routes physical IRQs to EL2 while a
//! guest runs, so the kick always lands in the hypervisor, which
//! acknowledges it and parks the vCPU. Both GIC versions the platforms name
//! are driven: GICv3 through its system registers and redistributors, GICv2
//! through GICD/GICC. Interrupt virtualisation for guests builds on this.

use core::arch::asm;
use core::sync::atomic::{AtomicU8, Ordering};

use aarch64_cpu::asm::barrier;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

use super::cpu;
use super::platform::MAX_CPUS;
use crate::config::{CPUS, PLATFORM};

/// The SGI the hypervisor uses to kick a core.
pub(crate) const KICK_SGI: u32 = 15;
/// The SGI telling a core it has virtual interrupts to inject.
pub(crate) const INJECT_SGI: u32 = 14;
/// INTIDs at or above this are special (spurious).
const SPURIOUS: u32 = 1020;

register_structs! {
    /// GIC distributor (the registers used here).
    DistributorRegisters {
        (0x0000 => ctlr: ReadWrite<u32>),
        (0x0004 => typer: ReadOnly<u32>),
        (0x0008 => _reserved0),
        (0x0080 => igroupr: [ReadWrite<u32>; 32]),
        (0x0100 => isenabler: [ReadWrite<u32>; 32]),
        (0x0180 => icenabler: [ReadWrite<u32>; 32]),
        (0x0200 => ispendr: [ReadWrite<u32>; 32]),
        (0x0280 => icpendr: [ReadWrite<u32>; 32]),
        (0x0300 => isactiver: [ReadWrite<u32>; 32]),
        (0x0380 => icactiver: [ReadWrite<u32>; 32]),
        (0x0400 => ipriorityr: [ReadWrite<u8>; 1024]),
        (0x0800 => itargetsr: [ReadWrite<u8>; 1024]),
        (0x0c00 => icfgr: [ReadWrite<u32>; 64]),
        (0x0d00 => _reserved1),
        (0x0f00 => sgir: WriteOnly<u32>),
        (0x0f04 => _reserved2),
        (0x0f10 => cpendsgir: [ReadWrite<u8>; 16]),
        (0x0f20 => _reserved4),
        (0x6000 => irouter: [ReadWrite<u64>; 1020]),
        (0x7fe0 => _reserved3),
        (0x8000 => @END),
    }
}

register_structs! {
    /// GICv3 redistributor, RD_base frame (the registers used here).
    RedistributorRegisters {
        (0x000 => ctlr: ReadWrite<u32>),
        (0x004 => iidr: ReadOnly<u32>),
        (0x008 => typer: ReadOnly<u64>),
        (0x010 => _reserved0),
        (0x014 => waker: ReadWrite<u32>),
        (0x018 => _reserved1),
        (0x1000 => @END),
    }
}

register_structs! {
    /// GICv3 redistributor, SGI_base frame (64 KiB above RD_base).
    RedistributorSgiRegisters {
        (0x000 => _reserved0),
        (0x080 => igroupr0: ReadWrite<u32>),
        (0x084 => _reserved1),
        (0x100 => isenabler0: ReadWrite<u32>),
        (0x104 => _reserved2),
        (0x180 => icenabler0: ReadWrite<u32>),
        (0x184 => _reserved3),
        (0x280 => icpendr0: ReadWrite<u32>),
        (0x284 => _reserved5),
        (0x380 => icactiver0: ReadWrite<u32>),
        (0x384 => _reserved6),
        (0x400 => ipriorityr: [ReadWrite<u8>; 32]),
        (0x420 => _reserved4),
        (0x1000 => @END),
    }
}

register_structs! {
    /// GICv2 CPU interface (the registers used here).
    CpuInterfaceRegisters {
        (0x000 => ctlr: ReadWrite<u32>),
        (0x004 => pmr: ReadWrite<u32>),
        (0x008 => _reserved0),
        (0x00c => iar: ReadOnly<u32>),
        (0x010 => eoir: WriteOnly<u32>),
        (0x014 => _reserved1),
        (0x1000 => dir: WriteOnly<u32>),
        (0x1004 => _reserved2),
        (0x2000 => @END),
    }
}

/// A register block at a fixed physical address, mapped as Device memory in
/// the EL2 map (`platform::DEVICE_REGIONS` covers every GIC frame).
fn block<T>(address: u64) -> &'static T {
    // SAFETY: the address is a GIC frame from the generated platform table,
    // identity-mapped as Device memory for the hypervisor's whole life; the
    // register structs only allow volatile accesses.
    unsafe { &*(address as *const T) }
}

fn distributor() -> &'static DistributorRegisters {
    block(PLATFORM.intc.distributor.base.as_u64())
}

fn cpu_interface() -> &'static CpuInterfaceRegisters {
    block(PLATFORM.intc.cpu_interface.base.as_u64())
}

const REDISTRIBUTOR_STRIDE: u64 = 0x2_0000;
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
const TYPER_LAST: u64 = 1 << 4;

/// GICv2 CPU interface number of each core (read from ITARGETSR0 by the
/// core itself).
static CPU_INTERFACE: [AtomicU8; MAX_CPUS] = [const { AtomicU8::new(0) }; MAX_CPUS];

fn is_v3() -> bool {
    PLATFORM.intc.version >= 3
}

/// This core's redistributor (matched by MPIDR affinity), if found.
fn redistributor(mpidr: u64) -> Option<u64> {
    let region = PLATFORM.intc.redistributor;
    let affinity = ((mpidr >> 32) & 0xff) << 24 | (mpidr & 0xff_ffff);
    let mut frame = region.base.as_u64();
    while frame + REDISTRIBUTOR_STRIDE <= region.end().as_u64() {
        let typer = block::<RedistributorRegisters>(frame).typer.get();
        if typer >> 32 == affinity {
            return Some(frame);
        }
        if typer & TYPER_LAST != 0 {
            return None;
        }
        frame += REDISTRIBUTOR_STRIDE;
    }
    None
}

/// Distributor set-up, once, on the boot core.
pub(crate) fn init_distributor() {
    if is_v3() {
        // Every shared interrupt in group 1 (the hypervisor takes group 1
        // as IRQs at EL2; group 0 would arrive as FIQs), all disabled until
        // a cell enables its own.
        let words = (PLATFORM.intc.irq_count / 32) as usize;
        for word in 1..words.min(32) {
            distributor().icenabler[word].set(u32::MAX);
            distributor().igroupr[word].set(u32::MAX);
        }
        // Single security state (QEMU virt without secure=on): ARE (4),
        // EnableGrp1 (1).
        distributor().ctlr.set((1 << 4) | (1 << 1));
    } else {
        // No security extensions on the platforms named (one group): all
        // shared interrupts disabled until a cell enables its own.
        let words = (PLATFORM.intc.irq_count / 32) as usize;
        for word in 1..words.min(32) {
            distributor().icenabler[word].set(u32::MAX);
        }
        distributor().ctlr.set(1);
    }
    barrier::dsb(barrier::SY);
}

/// Per-core set-up: the kick SGI enabled in group 1, the CPU interface on.
pub(crate) fn init_cpu() {
    if is_v3() {
        let mpidr = cpu::mpidr();
        let Some(frame) = redistributor(mpidr) else {
            panic!("no GICv3 redistributor for MPIDR {mpidr:#x}");
        };
        let rd = block::<RedistributorRegisters>(frame);
        rd.waker.set(rd.waker.get() & !WAKER_PROCESSOR_SLEEP);
        while rd.waker.get() & WAKER_CHILDREN_ASLEEP != 0 {
            core::hint::spin_loop();
        }
        let sgi = block::<RedistributorSgiRegisters>(frame + 0x1_0000);
        for intid in [KICK_SGI, INJECT_SGI] {
            sgi.igroupr0.set(sgi.igroupr0.get() | 1 << intid);
            sgi.ipriorityr[intid as usize].set(0x80);
            sgi.isenabler0.set(1 << intid);
        }
        // SAFETY: enables the system-register CPU interface at EL2 (SRE,
        // and lets EL1 use it: Enable), unmasks all priorities, splits EOI
        // into priority drop and deactivation (EOImode 1, so a guest's EOI
        // of a HW-linked interrupt deactivates it) and enables group 1;
        // affects only this core's interrupt delivery.
        unsafe {
            asm!(
                "mrs {t}, icc_sre_el2",
                "orr {t}, {t}, {sre}",
                "msr icc_sre_el2, {t}",
                "isb",
                "msr icc_pmr_el1, {pmr}",
                "msr icc_ctlr_el1, {eoimode}",
                "msr icc_igrpen1_el1, {one}",
                "isb",
                t = out(reg) _,
                sre = in(reg) 0x9u64,
                pmr = in(reg) 0xffu64,
                eoimode = in(reg) 2u64,
                one = in(reg) 1u64,
                options(nostack, preserves_flags)
            );
        }
    } else {
        let gicd = distributor();
        CPU_INTERFACE[cpu::current_index()].store(gicd.itargetsr[0].get(), Ordering::Relaxed);
        for intid in [KICK_SGI, INJECT_SGI] {
            gicd.ipriorityr[intid as usize].set(0x80);
            gicd.isenabler[0].set(1 << intid);
        }
        let gicc = cpu_interface();
        gicc.pmr.set(0xff);
        // Enable, EOImodeNS (9): EOIR only drops priority, GICC_DIR (or a
        // guest's EOI of a HW-linked interrupt) deactivates.
        gicc.ctlr.set(1 | 1 << 9);
    }
    barrier::dsb(barrier::SY);
}

/// Makes the GIC re-evaluate which interrupt this core should take (GICv2;
/// nothing to do on GICv3).
///
/// A guest's EOI of a hardware-linked interrupt deactivates the physical
/// interrupt through GICV. QEMU's GICv2 model (7.2 and later) then updates
/// only the virtual CPU interfaces: if the interrupt is still asserted (a
/// level-triggered timer whose next deadline has already passed), it stays
/// pending without being signalled until some other GIC event. Rewriting
/// GICC_PMR with its value makes QEMU re-evaluate; on hardware it is a
/// harmless write. Called before the hypervisor waits for an interrupt on a
/// guest's behalf (trapped WFI).
pub(crate) fn refresh() {
    if !is_v3() {
        cpu_interface().pmr.set(0xff);
    }
}

/// Sends the kick to physical CPU `cpu`.
pub(crate) fn kick(cpu: usize) {
    send_sgi(KICK_SGI, cpu);
}

/// Sends SGI `intid` (the kick, or the vGIC's inject notification) to
/// physical CPU `cpu`.
pub(crate) fn send_sgi(intid: u32, cpu: usize) {
    let Some(desc) = CPUS.get(cpu) else {
        return;
    };
    barrier::dsb(barrier::ISH);
    if is_v3() {
        let mpidr = desc.hw_id;
        let aff0 = mpidr & 0xf;
        let value = ((mpidr >> 32) & 0xff) << 48
            | ((mpidr >> 16) & 0xff) << 32
            | u64::from(intid) << 24
            | ((mpidr >> 8) & 0xff) << 16
            | 1 << aff0;
        // SAFETY: ICC_SGI1R_EL1 only raises an SGI at the target core.
        unsafe {
            asm!("msr icc_sgi1r_el1, {}", "isb", in(reg) value, options(nostack, preserves_flags))
        };
    } else {
        let target = u32::from(CPU_INTERFACE[cpu].load(Ordering::Relaxed));
        distributor().sgir.set(target << 16 | intid);
    }
}

/// Acknowledges the highest-priority pending interrupt; returns its INTID,
/// or `None` for a spurious one. The caller ends it with
/// [`end_of_interrupt`] and, unless a guest's EOI will (HW-linked), with
/// [`deactivate`].
pub(crate) fn acknowledge() -> Option<u32> {
    let intid = if is_v3() {
        let iar: u64;
        // SAFETY: reading ICC_IAR1_EL1 acknowledges the highest-priority
        // pending group-1 interrupt of this core.
        unsafe { asm!("mrs {}, icc_iar1_el1", out(reg) iar, options(nostack, preserves_flags)) };
        (iar & 0xff_ffff) as u32
    } else {
        cpu_interface().iar.get() & 0x3ff
    };
    (intid < SPURIOUS).then_some(intid)
}

/// Drops the running priority of `intid` (GICv3: EOImode 1, so the
/// interrupt stays active until [`deactivate`] or a guest's EOI).
pub(crate) fn end_of_interrupt(intid: u32) {
    if is_v3() {
        // SAFETY: ends (priority drop) the interrupt this core acknowledged.
        unsafe {
            asm!("msr icc_eoir1_el1, {}", "isb", in(reg) u64::from(intid), options(nostack, preserves_flags))
        };
    } else {
        cpu_interface().eoir.set(intid);
    }
}

/// Deactivates `intid` (EOImode 1 on both versions).
pub(crate) fn deactivate(intid: u32) {
    if is_v3() {
        // SAFETY: deactivates an interrupt this core acknowledged.
        unsafe {
            asm!("msr icc_dir_el1, {}", "isb", in(reg) u64::from(intid), options(nostack, preserves_flags))
        };
    } else {
        cpu_interface().dir.set(intid);
    }
}

fn bit(intid: u32) -> (usize, u32) {
    ((intid / 32) as usize, 1 << (intid % 32))
}

/// Enables or disables shared interrupt `intid` at the distributor.
pub(crate) fn spi_enable(intid: u32, on: bool) {
    let (word, mask) = bit(intid);
    let gicd = distributor();
    if let (Some(set), Some(clear)) = (gicd.isenabler.get(word), gicd.icenabler.get(word)) {
        if on { set.set(mask) } else { clear.set(mask) }
    }
}

/// Sets or clears the pending state of shared interrupt `intid`.
pub(crate) fn spi_pending(intid: u32, on: bool) {
    let (word, mask) = bit(intid);
    let gicd = distributor();
    if let (Some(set), Some(clear)) = (gicd.ispendr.get(word), gicd.icpendr.get(word)) {
        if on { set.set(mask) } else { clear.set(mask) }
    }
}

/// Sets or clears the active state of shared interrupt `intid`.
pub(crate) fn spi_active(intid: u32, on: bool) {
    let (word, mask) = bit(intid);
    let gicd = distributor();
    if let (Some(set), Some(clear)) = (gicd.isactiver.get(word), gicd.icactiver.get(word)) {
        if on { set.set(mask) } else { clear.set(mask) }
    }
}

/// Sets the priority of shared interrupt `intid`.
pub(crate) fn spi_priority(intid: u32, priority: u8) {
    if let Some(register) = distributor().ipriorityr.get(intid as usize) {
        register.set(priority);
    }
}

/// Makes shared interrupt `intid` edge- (true) or level-triggered.
pub(crate) fn spi_config(intid: u32, edge: bool) {
    let gicd = distributor();
    if let Some(register) = gicd.icfgr.get((intid / 16) as usize) {
        let shift = (intid % 16) * 2 + 1;
        let value = (register.get() & !(1 << shift)) | (u32::from(edge) << shift);
        register.set(value);
    }
}

/// Routes shared interrupt `intid` to physical CPU `cpu`.
pub(crate) fn spi_route(intid: u32, cpu: usize) {
    let Some(desc) = CPUS.get(cpu) else {
        return;
    };
    let gicd = distributor();
    if is_v3() {
        let mpidr = desc.hw_id;
        let affinity = (mpidr & 0xff_ffff) | ((mpidr >> 32) & 0xff) << 32;
        if let Some(register) = gicd.irouter.get(intid as usize) {
            register.set(affinity);
        }
    } else if let Some(register) = gicd.itargetsr.get(intid as usize) {
        register.set(CPU_INTERFACE[cpu].load(Ordering::Relaxed));
    }
}

/// Clears software-generated interrupt `intid` (from every sender) if it
/// is pending at this core.
pub(crate) fn clear_pending_sgi(intid: u32) {
    if intid >= 16 {
        return;
    }
    if is_v3() {
        if let Some(frame) = redistributor(cpu::mpidr()) {
            block::<RedistributorSgiRegisters>(frame + 0x1_0000)
                .icpendr0
                .set(1 << intid);
        }
    } else if let Some(register) = distributor().cpendsgir.get(intid as usize) {
        register.set(0xff);
    }
}

/// Clears private interrupt `intid`'s (PPI's) active and pending state on
/// this core: a vCPU stopped while its guest handled a hardware-linked
/// interrupt never deactivated it, and its successor would never get that
/// interrupt again.
pub(crate) fn ppi_reset_state(intid: u32) {
    if !(16..32).contains(&intid) {
        return;
    }
    if is_v3() {
        if let Some(frame) = redistributor(cpu::mpidr()) {
            let sgi = block::<RedistributorSgiRegisters>(frame + 0x1_0000);
            sgi.icactiver0.set(1 << intid);
            sgi.icpendr0.set(1 << intid);
        }
    } else {
        distributor().icactiver[0].set(1 << intid);
        distributor().icpendr[0].set(1 << intid);
    }
}

/// Enables or disables private interrupt `intid` (PPI) on this core.
pub(crate) fn ppi_enable(intid: u32, on: bool) {
    if intid >= 32 {
        return;
    }
    if is_v3() {
        let Some(frame) = redistributor(cpu::mpidr()) else {
            return;
        };
        let sgi = block::<RedistributorSgiRegisters>(frame + 0x1_0000);
        if on {
            sgi.igroupr0.set(sgi.igroupr0.get() | 1 << intid);
            sgi.ipriorityr[intid as usize].set(0x80);
            sgi.isenabler0.set(1 << intid);
        } else {
            sgi.icenabler0.set(1 << intid);
        }
    } else if on {
        distributor().ipriorityr[intid as usize].set(0x80);
        distributor().isenabler[0].set(1 << intid);
    } else {
        distributor().icenabler[0].set(1 << intid);
    }
}
