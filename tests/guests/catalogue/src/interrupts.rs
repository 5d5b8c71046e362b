//! Catalogue 4.3: interrupts and the virtual GIC (attempts 21-25, 27, 29,
//! 30) and 4.5 item 46 (the guest's own CPU interface).
//!
//! The cell owns SPI 39 (the GPIO); 34 (the RTC) and 48 (virtio-mmio) are
//! nobody's in this config.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rt::{counters, gic};

use crate::attempt::{Id, report};
use crate::cpus;

/// Interrupts this vCPU took, by INTID (0..1023), counted by `irq`.
pub(crate) static RECEIVED: [AtomicU64; 96] = [const { AtomicU64::new(0) }; 96];

/// SPIs of nobody here.
const FOREIGN_SPIS: [u64; 2] = [34, 48];
/// The own SPI.
const OWN_SPI: u64 = 39;

fn received(intid: u64) -> u64 {
    RECEIVED.get(intid as usize).map_or(0, |c| c.load(Relaxed))
}

/// Lets pending interrupts in for `ms` milliseconds.
fn take_interrupts(ms: u64) {
    gic::unmask_irqs();
    rt::delay_ms(ms);
    gic::mask_irqs();
}

pub(crate) fn run() {
    foreign_spis();
    out_of_range_intids();
    sgi_targets();
    group0_and_alias_sgis();
    sgi_storm();
    own_spi_active();
    private_pending();
    queue_overflow();
    own_cpu_interface();
}

/// The bit of `intid` in a one-bit-per-interrupt bank at `base`.
fn bit(base: u64, intid: u64) -> (u64, u32) {
    (base + (intid / 32) * 4, 1 << (intid % 32))
}

/// 21: SPIs of nobody, through every distributor register: they read as
/// zero afterwards, and no interrupt arrives.
fn foreign_spis() {
    for (k, intid) in FOREIGN_SPIS.into_iter().enumerate() {
        for base in [0x100u64, 0x200, 0x300] {
            let (offset, mask) = bit(base, intid);
            gic::write_distributor(offset, mask); // set enable / pending / active
        }
        gic::write_distributor(0x400 + (intid & !3), 0); // priority 0 (4 at once)
        gic::write_distributor(0xc00 + (intid / 16) * 4, 0xaaaa_aaaa); // all edge
        if gic::is_v3() {
            gic::write_distributor64(0x6000 + 8 * intid, 1 << 31); // IRM
        } else {
            gic::write_distributor(0x800 + (intid & !3), 0xffff_ffff); // targets
        }
        take_interrupts(2);
        let read = |base: u64| {
            let (offset, mask) = bit(base, intid);
            gic::read_distributor(offset) & mask
        };
        let state = (read(0x100), read(0x200), read(0x300));
        let priority = gic::read_distributor(0x400 + (intid & !3)) >> (8 * (intid % 4)) & 0xff;
        report(
            Id(21, k + 1),
            format_args!("every gicd register on spi {intid}"),
            state == (0, 0, 0) && priority == 0 && received(intid) == 0,
            format_args!(
                "enable/pending/active {state:?}, priority {priority}, {} taken",
                received(intid)
            ),
        );
        // And clearing them does nothing either (the owner keeps its state).
        for base in [0x180u64, 0x280, 0x380] {
            let (offset, mask) = bit(base, intid);
            gic::write_distributor(offset, mask);
        }
    }
}

/// 22: INTIDs 1020-1023, those beyond the GIC's count, and the private
/// ones' routing: read as zero, writes ignored.
fn out_of_range_intids() {
    // GICD_TYPER.ITLinesNumber: 32 * (N + 1) INTIDs.
    let count = 32 * ((u64::from(gic::read_distributor(0x4)) & 0x1f) + 1);
    let mut nonzero = 0;
    for word in (count / 32)..32 {
        for base in [0x100u64, 0x200, 0x300] {
            gic::write_distributor(base + word * 4, 0xffff_ffff);
            nonzero += u32::from(gic::read_distributor(base + word * 4) != 0);
        }
    }
    report(
        Id(22, 1),
        format_args!("enable/pending/active of intids {count}..=1023"),
        nonzero == 0,
        format_args!("{nonzero} non-zero words"),
    );
    if gic::is_v3() {
        gic::write_distributor64(0x6000 + 8 * 20, 0x3);
        let low = gic::read_distributor(0x6000 + 8 * 20);
        report(
            Id(22, 2),
            format_args!("irouter of ppi 20"),
            low == 0,
            format_args!("{low:#x}"),
        );
    } else {
        let before = gic::read_distributor(0x800 + 20);
        gic::write_distributor(0x800 + 20, 0xffff_ffff);
        let after = gic::read_distributor(0x800 + 20);
        report(
            Id(22, 2),
            format_args!("itargetsr of ppi 20"),
            before == after,
            format_args!("{before:#x} -> {after:#x}"),
        );
    }
}

/// 23: SGIs to vCPUs the cell does not have, to another cluster, with
/// RS != 0 (GICv3), and with GICv2's filters: nobody here receives them
/// except by the cell's own rules (the harness checks other cells got
/// none).
fn sgi_targets() {
    let before = received(5);
    let requests: &[(&str, u64)] = if gic::is_v3() {
        &[
            ("target list 0xfffc", 5 << 24 | 0xfffc),
            ("aff1 1", 5 << 24 | 1 << 16 | 0x3),
            ("rs 1", 5 << 24 | 1 << 44 | 0x3),
            ("aff3 1", 5 << 24 | 1 << 48 | 0x3),
        ]
    } else {
        &[
            ("target list 0xfc", 0xfc << 16 | 5),
            ("filter 3 (reserved)", 3 << 24 | 0xff << 16 | 5),
        ]
    };
    for (k, (what, value)) in requests.iter().enumerate() {
        gic::write_sgi1r(*value);
        take_interrupts(1);
        let got = received(5) - before;
        report(
            Id(23, k + 1),
            format_args!("sgi 5 with {what}"),
            got == 0,
            format_args!("{got} received here"),
        );
    }
}

/// 24: SGIs by ICC_SGI0R_EL1 and ICC_ASGI1R_EL1 (GICv3) are dropped; an
/// SGI to itself by ICC_SGI1R_EL1 arrives (the control).
fn group0_and_alias_sgis() {
    // GICv2 has neither register: only the control runs there.
    if gic::is_v3() {
        for (k, (what, intid)) in [("icc_sgi0r_el1", 6u64), ("icc_asgi1r_el1", 7)]
            .into_iter()
            .enumerate()
        {
            let before = received(intid);
            let value = intid << 24 | 0xffff | 1 << 40; // IRM: everyone else too
            // SAFETY: an SGI request (trapped, IMO/FMO set).
            unsafe {
                match k {
                    0 => asm!("msr icc_sgi0r_el1, {}", "isb", in(reg) value, options(nostack)),
                    _ => asm!("msr icc_asgi1r_el1, {}", "isb", in(reg) value, options(nostack)),
                }
            }
            take_interrupts(1);
            let got = received(intid) - before;
            report(
                Id(24, k + 1),
                format_args!("{what} to everyone"),
                got == 0,
                format_args!("{got} received"),
            );
        }
    }
    let before = received(8);
    gic::send_sgi(8, 0);
    take_interrupts(1);
    let got = received(8) - before;
    report(
        Id(24, 3),
        format_args!("sgi 8 to itself (control)"),
        got == 1,
        format_args!("{got} received"),
    );
}

/// 25: vCPU 1 sends vCPU 0 SGIs as fast as it can: the cell's own
/// business (the witness's ticks stay within 1 %, checked by the harness).
fn sgi_storm() {
    let before = received(9);
    gic::unmask_irqs();
    let finished = cpus::give(crate::jobs::SGI_STORM, 60_000);
    rt::delay_ms(2);
    gic::mask_irqs();
    let got = received(9) - before;
    report(
        Id(25, 1),
        format_args!("{} sgis from vcpu 1", crate::jobs::STORM_SGIS),
        finished && got > 0,
        format_args!("{got} taken (coalesced)"),
    );
}

/// 27: the own SPI made active, priority 0 and pending: delivered to this
/// cell only; once ended, delivery goes on.
fn own_spi_active() {
    gic::write_distributor(0x400 + (OWN_SPI & !3), 0);
    let (offset, mask) = bit(0x300, OWN_SPI);
    gic::write_distributor(offset, mask); // active
    let (offset, mask) = bit(0x200, OWN_SPI);
    gic::write_distributor(offset, mask); // pending
    gic::enable_spi(OWN_SPI, 0);
    take_interrupts(2);
    let while_active = received(OWN_SPI);
    let (offset, mask) = bit(0x380, OWN_SPI);
    gic::write_distributor(offset, mask); // clear active
    take_interrupts(2);
    let after = received(OWN_SPI);
    report(
        Id(27, 1),
        format_args!("own spi {OWN_SPI} active, priority 0, pending"),
        while_active == 0 && after >= 1,
        format_args!("{while_active} while active, {after} once inactive"),
    );
}

/// 29: the maintenance, hypervisor timer and physical timer PPIs made
/// pending: at most the cell's own virtual interrupt, never a storm.
fn private_pending() {
    let pend = |mask: u32| {
        if gic::is_v3() {
            let rd = 0x080a_0000u64 + rt::vcpu_index() as u64 * 0x2_0000 + 0x1_0000;
            // SAFETY: this vCPU's (virtual) redistributor, ISENABLER0 and
            // ISPENDR0.
            unsafe {
                let _ = rt::probe_write32(rd + 0x100, mask);
                let _ = rt::probe_write32(rd + 0x200, mask);
            }
        } else {
            gic::write_distributor(0x100, mask);
            gic::write_distributor(0x200, mask);
        }
    };
    let ppis = [25u64, 26, 30];
    let before = ppis.map(received);
    pend(1 << 25 | 1 << 26 | 1 << 30);
    take_interrupts(5);
    let got = [0, 1, 2].map(|i| received(ppis[i]) - before[i]);
    report(
        Id(29, 1),
        format_args!("pending ppis 25, 26, 30"),
        got.iter().all(|&n| n <= 1),
        format_args!("{got:?} taken"),
    );
}

/// 30: more interrupts pending than list registers hold (the own SPI, all
/// 16 SGIs, the virtual UART's), taken with the CPU interface's group
/// turned off and on: the maintenance exits stay bounded.
fn queue_overflow() {
    let maintenance = || rt::cell_counter(counters::MAINTENANCE).unwrap_or(u64::MAX);
    let before = maintenance();
    for intid in 0..16 {
        gic::send_sgi(intid, 0);
    }
    let (offset, mask) = bit(0x200, OWN_SPI);
    gic::write_distributor(offset, mask);
    set_group1(false);
    take_interrupts(5);
    set_group1(true);
    take_interrupts(5);
    let exits = maintenance().saturating_sub(before);
    report(
        Id(30, 1),
        format_args!("19 pending with group 1 off, then on"),
        exits < 100,
        format_args!("{exits} maintenance exits"),
    );
}

/// Turns the own CPU interface's group 1 off or on.
fn set_group1(on: bool) {
    if gic::is_v3() {
        // SAFETY: the virtual CPU interface's group enable.
        unsafe { asm!("msr icc_igrpen1_el1, {}", "isb", in(reg) u64::from(on), options(nostack)) };
    } else {
        // SAFETY: GICC_CTLR of the virtual CPU interface.
        let _ = unsafe { rt::probe_write32(0x0801_0000, u32::from(on)) };
    }
}

/// 46: the own CPU interface: system-register enable off, EOI mode, the
/// priority mask at 0 (nothing in): its own interrupts only; put back, an
/// SGI to itself arrives again.
fn own_cpu_interface() {
    let before = received(10);
    if gic::is_v3() {
        // SAFETY: the virtual CPU interface's own registers.
        unsafe {
            asm!(
                "mrs {t}, icc_sre_el1",
                "bic {t}, {t}, #1",
                "msr icc_sre_el1, {t}",
                "mrs {t}, icc_ctlr_el1",
                "orr {t}, {t}, #2",
                "msr icc_ctlr_el1, {t}",
                "bic {t}, {t}, #2",
                "msr icc_ctlr_el1, {t}",
                "msr icc_pmr_el1, xzr",
                "isb",
                t = out(reg) _,
                options(nostack)
            )
        };
    } else {
        // SAFETY: GICC_PMR of the virtual CPU interface.
        let _ = unsafe { rt::probe_write32(0x0801_0004, 0) };
    }
    gic::send_sgi(10, 0);
    take_interrupts(2);
    let masked = received(10) - before;
    if gic::is_v3() {
        // SAFETY: as above.
        unsafe { asm!("msr icc_pmr_el1, {}", "isb", in(reg) 0xffu64, options(nostack)) };
    } else {
        // SAFETY: as above.
        let _ = unsafe { rt::probe_write32(0x0801_0004, 0xff) };
    }
    take_interrupts(2);
    let after = received(10) - before;
    report(
        Id(46, 1),
        format_args!("own cpu interface: sre off, eoi mode, pmr 0"),
        masked == 0 && after == 1,
        format_args!("{masked} taken while masked, {after} after"),
    );
}
