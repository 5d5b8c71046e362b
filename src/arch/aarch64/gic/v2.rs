//! GICv2: the memory-mapped CPU interface (GICC), ITARGETSR routing, SGIs
//! through GICD_SGIR, and the virtual CPU interface's control frame
//! (GICH); the guest drives the GICV frame, which its stage 2 maps where it
//! expects its GICC.

use core::sync::atomic::{AtomicU8, Ordering};

use aarch64_cpu::asm::barrier;
use tock_registers::interfaces::{Readable, Writeable};

use super::distributor;
use super::interface::{GicOps, INJECT_SGI, KICK_SGI, SPURIOUS};
use super::registers::{CpuInterfaceRegisters, VirtualControlRegisters, frame};
use crate::arch::aarch64::cpu;
use crate::arch::aarch64::model::vgic::intid::GicVersion;
use crate::arch::aarch64::model::vgic::list::{LrState, VirtualIrq, decode_v2_state, encode_v2};
use crate::arch::aarch64::platform::MAX_CPUS;
use crate::config::PLATFORM;

/// GICv2 (a type only: the version is chosen at compile time).
pub(crate) enum GicV2 {}

/// GICv2 CPU interface number of each core (read from ITARGETSR0 by the
/// core itself).
static CPU_INTERFACE: [AtomicU8; MAX_CPUS] = [const { AtomicU8::new(0) }; MAX_CPUS];

/// GICC_CTLR: Enable, EOImodeNS (9): EOIR only drops priority; GICC_DIR (or
/// a guest's EOI of a HW-linked interrupt) deactivates.
const GICC_CTLR_ENABLE_EOIMODE: u32 = 1 | 1 << 9;
/// GICH_HCR: the virtual CPU interface on; UIE, the underflow interrupt.
const HCR_EN: u32 = 1;
const HCR_UIE: u32 = 1 << 1;

fn cpu_interface() -> &'static CpuInterfaceRegisters {
    // SAFETY: the GICC frame of the generated platform table, mapped as
    // Device memory at EL2.
    unsafe { frame(PLATFORM.intc.cpu_interface.base.as_u64()) }
}

fn virtual_control() -> &'static VirtualControlRegisters {
    // SAFETY: the GICH frame of the generated platform table, mapped as
    // Device memory at EL2.
    unsafe { frame(PLATFORM.intc.virtual_control.base.as_u64()) }
}

impl GicOps for GicV2 {
    const TRAPS_WFI: bool = true;
    const VERSION: GicVersion = GicVersion::V2;

    /// No security extensions on the platforms named (one group).
    fn init_distributor() {
        distributor::disable_all_spis();
        distributor::registers().ctlr.set(1);
        barrier::dsb(barrier::SY);
    }

    fn init_cpu() {
        let gicd = distributor::registers();
        CPU_INTERFACE[cpu::current_index()].store(gicd.itargetsr[0].get(), Ordering::Relaxed);
        for intid in [KICK_SGI, INJECT_SGI] {
            gicd.ipriorityr[intid as usize].set(0x80);
            gicd.isenabler[0].set(1 << intid);
        }
        let gicc = cpu_interface();
        gicc.pmr.set(0xff);
        gicc.ctlr.set(GICC_CTLR_ENABLE_EOIMODE);
        barrier::dsb(barrier::SY);
    }

    /// A guest's EOI of a hardware-linked interrupt deactivates the physical
    /// interrupt through GICV. QEMU's GICv2 model (7.2 and later) then
    /// updates only the virtual CPU interfaces: if the interrupt is still
    /// asserted (a level-triggered timer whose next deadline has already
    /// passed), it stays pending without being signalled until some other
    /// GIC event. Rewriting GICC_PMR with its value makes QEMU re-evaluate;
    /// on hardware it is a harmless write. Called before the hypervisor
    /// waits for an interrupt on a guest's behalf (trapped WFI).
    fn refresh() {
        cpu_interface().pmr.set(0xff);
    }

    fn send_sgi(intid: u32, cpu: usize) {
        let target = u32::from(
            CPU_INTERFACE
                .get(cpu)
                .map_or(0, |c| c.load(Ordering::Relaxed)),
        );
        barrier::dsb(barrier::ISH);
        distributor::registers().sgir.set(target << 16 | intid);
    }

    fn acknowledge() -> Option<u32> {
        let intid = cpu_interface().iar.get() & 0x3ff;
        (intid < SPURIOUS).then_some(intid)
    }

    fn end_of_interrupt(intid: u32) {
        cpu_interface().eoir.set(intid);
    }

    fn deactivate(intid: u32) {
        cpu_interface().dir.set(intid);
    }

    fn spi_route(intid: u32, cpu: usize) {
        if let (Some(register), Some(interface)) = (
            distributor::registers().itargetsr.get(intid as usize),
            CPU_INTERFACE.get(cpu),
        ) {
            register.set(interface.load(Ordering::Relaxed));
        }
    }

    fn clear_pending_sgi(intid: u32) {
        if let Some(register) = distributor::registers().cpendsgir.get(intid as usize) {
            register.set(0xff);
        }
    }

    fn ppi_reset_state(intid: u32) {
        if (16..32).contains(&intid) {
            distributor::registers().icactiver[0].set(1 << intid);
            distributor::registers().icpendr[0].set(1 << intid);
        }
    }

    fn ppi_enable(intid: u32, on: bool) {
        if intid >= 32 {
            return;
        }
        let gicd = distributor::registers();
        if on {
            gicd.ipriorityr[intid as usize].set(0x80);
            gicd.isenabler[0].set(1 << intid);
        } else {
            gicd.icenabler[0].set(1 << intid);
        }
    }

    /// GICH_VTR.ListRegs + 1.
    fn list_register_count() -> usize {
        ((virtual_control().vtr.get() & 0x3f) + 1) as usize
    }

    fn read_lr(n: usize) -> LrState {
        decode_v2_state(virtual_control().lr.get(n).map_or(0, Readable::get))
    }

    fn write_lr(n: usize, irq: &VirtualIrq, state: LrState) {
        if let Some(lr) = virtual_control().lr.get(n) {
            lr.set(encode_v2(irq, state));
        }
    }

    fn reset_virtual_interface() {
        for lr in &virtual_control().lr[..Self::list_register_count()] {
            lr.set(0);
        }
        virtual_control().vmcr.set(0);
        // Active priorities: a vCPU stopped inside an interrupt handler
        // (acknowledged, never ended) must not leave its next life deaf at
        // that priority (finding F13).
        virtual_control().apr.set(0);
        virtual_control().hcr.set(HCR_EN);
    }

    fn set_underflow_maintenance(on: bool) {
        virtual_control()
            .hcr
            .set(if on { HCR_EN | HCR_UIE } else { HCR_EN });
    }
}
