//! GICv3: the system-register CPU interface (`ICC_*_EL1`), affinity
//! routing through GICD_IROUTER, per-core redistributors, and the virtual
//! CPU interface's list registers (`ICH_*_EL2`). A guest's `ICC_*_EL1`
//! accesses go to the virtual interface (`ICV_*`) because HCR_EL2.IMO/FMO
//! are set; hardware interrupts are injected with the HW bit, so the
//! guest's EOI deactivates the physical interrupt without an exit.

use core::arch::asm;

use aarch64_cpu::asm::barrier;
use tock_registers::interfaces::{Readable, Writeable};

use super::distributor;
use super::interface::{GicOps, INJECT_SGI, KICK_SGI, SPURIOUS};
use super::registers::{RedistributorRegisters, RedistributorSgiRegisters, frame};
use crate::arch::aarch64::cpu;
use crate::arch::aarch64::model::vgic::intid::GicVersion;
use crate::arch::aarch64::model::vgic::list::{LrState, VirtualIrq, decode_v3_state, encode_v3};
use crate::config::{CPUS, PLATFORM};

/// GICv3 (a type only: the version is chosen at compile time).
pub(crate) enum GicV3 {}

const REDISTRIBUTOR_STRIDE: u64 = 0x2_0000;
/// The SGI_base frame, above RD_base.
const SGI_FRAME: u64 = 0x1_0000;
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
const TYPER_LAST: u64 = 1 << 4;
/// ICH_HCR_EL2: the virtual CPU interface on; UIE, the underflow interrupt.
const HCR_EN: u64 = 1;
const HCR_UIE: u64 = 1 << 1;

/// The redistributor of the core with `mpidr` (matched by affinity).
fn redistributor(mpidr: u64) -> Option<u64> {
    let region = PLATFORM.intc.redistributor;
    let affinity = ((mpidr >> 32) & 0xff) << 24 | (mpidr & 0xff_ffff);
    let mut rd = region.base.as_u64();
    while rd + REDISTRIBUTOR_STRIDE <= region.end().as_u64() {
        // SAFETY: an RD_base frame inside the platform's GICR region,
        // mapped as Device memory at EL2.
        let typer = unsafe { frame::<RedistributorRegisters>(rd) }.typer.get();
        if typer >> 32 == affinity {
            return Some(rd);
        }
        if typer & TYPER_LAST != 0 {
            return None;
        }
        rd += REDISTRIBUTOR_STRIDE;
    }
    None
}

/// This core's SGI_base frame.
fn sgi_frame() -> Option<&'static RedistributorSgiRegisters> {
    // SAFETY: the SGI_base frame of this core's redistributor, mapped as
    // Device memory at EL2.
    redistributor(cpu::mpidr()).map(|rd| unsafe { frame(rd + SGI_FRAME) })
}

/// Reads `ICH_LR<n>_EL2`.
fn read_lr_raw(n: usize) -> u64 {
    let value: u64;
    macro_rules! read {
        ($($i:literal),*) => {
            match n {
                $($i => {
                    // SAFETY: reading a list register has no side effects.
                    unsafe { asm!(concat!("mrs {}, ich_lr", $i, "_el2"), out(reg) value, options(nomem, nostack, preserves_flags)) };
                })*
                _ => value = 0,
            }
        };
    }
    read!(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    value
}

/// Writes `ICH_LR<n>_EL2`.
fn write_lr_raw(n: usize, value: u64) {
    macro_rules! write {
        ($($i:literal),*) => {
            match n {
                $($i => {
                    // SAFETY: a list register only affects what the guest
                    // on this core sees through its virtual CPU interface.
                    unsafe { asm!(concat!("msr ich_lr", $i, "_el2, {}"), in(reg) value, options(nomem, nostack, preserves_flags)) };
                })*
                _ => {}
            }
        };
    }
    write!(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

impl GicOps for GicV3 {
    const TRAPS_WFI: bool = false;
    const VERSION: GicVersion = GicVersion::V3;

    /// Every shared interrupt in group 1 (the hypervisor takes group 1 as
    /// IRQs at EL2; group 0 would arrive as FIQs); single security state
    /// (QEMU virt without secure=on): ARE (4), EnableGrp1 (1).
    fn init_distributor() {
        let gicd = distributor::registers();
        distributor::disable_all_spis();
        let words = (PLATFORM.intc.irq_count / 32) as usize;
        for word in 1..words.min(32) {
            gicd.igroupr[word].set(u32::MAX);
        }
        gicd.ctlr.set((1 << 4) | (1 << 1));
        barrier::dsb(barrier::SY);
    }

    fn init_cpu() {
        let mpidr = cpu::mpidr();
        let Some(rd) = redistributor(mpidr) else {
            panic!("no GICv3 redistributor for MPIDR {mpidr:#x}");
        };
        // SAFETY: this core's RD_base frame, mapped as Device memory.
        let rd_base = unsafe { frame::<RedistributorRegisters>(rd) };
        rd_base
            .waker
            .set(rd_base.waker.get() & !WAKER_PROCESSOR_SLEEP);
        while rd_base.waker.get() & WAKER_CHILDREN_ASLEEP != 0 {
            core::hint::spin_loop();
        }
        // SAFETY: this core's SGI_base frame, mapped as Device memory.
        let sgi = unsafe { frame::<RedistributorSgiRegisters>(rd + SGI_FRAME) };
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
        barrier::dsb(barrier::SY);
    }

    /// Nothing to do: the system-register interface re-evaluates by itself.
    fn refresh() {}

    fn send_sgi(intid: u32, cpu: usize) {
        let Some(desc) = CPUS.get(cpu) else {
            return;
        };
        let mpidr = desc.hw_id;
        let aff0 = mpidr & 0xf;
        let value = ((mpidr >> 32) & 0xff) << 48
            | ((mpidr >> 16) & 0xff) << 32
            | u64::from(intid) << 24
            | ((mpidr >> 8) & 0xff) << 16
            | 1 << aff0;
        barrier::dsb(barrier::ISH);
        // SAFETY: ICC_SGI1R_EL1 only raises an SGI at the target core.
        unsafe {
            asm!("msr icc_sgi1r_el1, {}", "isb", in(reg) value, options(nostack, preserves_flags))
        };
    }

    fn acknowledge() -> Option<u32> {
        let iar: u64;
        // SAFETY: reading ICC_IAR1_EL1 acknowledges the highest-priority
        // pending group-1 interrupt of this core.
        unsafe { asm!("mrs {}, icc_iar1_el1", out(reg) iar, options(nostack, preserves_flags)) };
        let intid = (iar & 0xff_ffff) as u32;
        (intid < SPURIOUS).then_some(intid)
    }

    fn end_of_interrupt(intid: u32) {
        // SAFETY: ends (priority drop) the interrupt this core acknowledged.
        unsafe {
            asm!("msr icc_eoir1_el1, {}", "isb", in(reg) u64::from(intid), options(nostack, preserves_flags))
        };
    }

    fn deactivate(intid: u32) {
        // SAFETY: deactivates an interrupt this core acknowledged.
        unsafe {
            asm!("msr icc_dir_el1, {}", "isb", in(reg) u64::from(intid), options(nostack, preserves_flags))
        };
    }

    fn spi_route(intid: u32, cpu: usize) {
        let Some(desc) = CPUS.get(cpu) else {
            return;
        };
        let mpidr = desc.hw_id;
        let affinity = (mpidr & 0xff_ffff) | ((mpidr >> 32) & 0xff) << 32;
        if let Some(register) = distributor::registers().irouter.get(intid as usize) {
            register.set(affinity);
        }
    }

    fn clear_pending_sgi(intid: u32) {
        if let (true, Some(sgi)) = (intid < 16, sgi_frame()) {
            sgi.icpendr0.set(1 << intid);
        }
    }

    fn ppi_reset_state(intid: u32) {
        if let (true, Some(sgi)) = ((16..32).contains(&intid), sgi_frame()) {
            sgi.icactiver0.set(1 << intid);
            sgi.icpendr0.set(1 << intid);
        }
    }

    fn ppi_enable(intid: u32, on: bool) {
        let Some(sgi) = sgi_frame().filter(|_| intid < 32) else {
            return;
        };
        if on {
            sgi.igroupr0.set(sgi.igroupr0.get() | 1 << intid);
            sgi.ipriorityr[intid as usize].set(0x80);
            sgi.isenabler0.set(1 << intid);
        } else {
            sgi.icenabler0.set(1 << intid);
        }
    }

    /// ICH_VTR_EL2.ListRegs + 1.
    fn list_register_count() -> usize {
        let vtr: u64;
        // SAFETY: reading ICH_VTR_EL2 has no side effects.
        unsafe {
            asm!("mrs {}, ich_vtr_el2", out(reg) vtr, options(nomem, nostack, preserves_flags))
        };
        ((vtr & 0x1f) + 1) as usize
    }

    fn read_lr(n: usize) -> LrState {
        decode_v3_state(read_lr_raw(n))
    }

    fn write_lr(n: usize, irq: &VirtualIrq, state: LrState) {
        write_lr_raw(n, encode_v3(irq, state));
    }

    fn reset_virtual_interface() {
        for n in 0..Self::list_register_count() {
            write_lr_raw(n, 0);
        }
        clear_active_priorities();
        // SAFETY: ICH_VMCR_EL2 and ICH_HCR_EL2 configure only this core's
        // virtual CPU interface, which belongs to the vCPU being started.
        unsafe {
            asm!(
                "msr ich_vmcr_el2, xzr",
                "msr ich_hcr_el2, {}",
                "isb",
                in(reg) HCR_EN,
                options(nostack, preserves_flags)
            );
        }
    }

    fn set_underflow_maintenance(on: bool) {
        let value = if on { HCR_EN | HCR_UIE } else { HCR_EN };
        // SAFETY: as in `reset_virtual_interface`.
        unsafe {
            asm!("msr ich_hcr_el2, {}", "isb", in(reg) value, options(nostack, preserves_flags))
        };
    }
}

/// Zeroes the virtual interface's active-priority registers
/// (`ICH_AP0R<n>_EL2`, `ICH_AP1R<n>_EL2`; 1, 2 or 4 of each for 5, 6 or 7
/// preemption bits): a vCPU stopped inside an interrupt handler (acknowledged,
/// never ended) must not leave its next life deaf at that priority and
/// below (finding F13).
fn clear_active_priorities() {
    let vtr: u64;
    // SAFETY: reading ICH_VTR_EL2 has no side effects.
    unsafe { asm!("mrs {}, ich_vtr_el2", out(reg) vtr, options(nomem, nostack, preserves_flags)) };
    // PREbits (28:26): preemption bits - 1.
    let priority_bits = ((vtr >> 26) & 0x7) + 1;
    // SAFETY: the active-priority registers belong to this core's virtual
    // CPU interface, reset for the vCPU being started; registers beyond
    // the implemented count are not touched.
    unsafe {
        asm!(
            "msr ich_ap0r0_el2, xzr",
            "msr ich_ap1r0_el2, xzr",
            options(nostack, preserves_flags)
        );
        if priority_bits >= 6 {
            asm!(
                "msr ich_ap0r1_el2, xzr",
                "msr ich_ap1r1_el2, xzr",
                options(nostack, preserves_flags)
            );
        }
        if priority_bits >= 7 {
            asm!(
                "msr ich_ap0r2_el2, xzr",
                "msr ich_ap1r2_el2, xzr",
                "msr ich_ap0r3_el2, xzr",
                "msr ich_ap1r3_el2, xzr",
                options(nostack, preserves_flags)
            );
        }
    }
}
