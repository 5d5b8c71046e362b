//! `hostile`: tries to take over interrupts it does not own.
//!
//! Against other cells' device interrupts (the RTC's INTID 34, the GPIO's
//! 39, whichever cells own them in a config) and an unassigned one (48) it
//! enables, disables, pends, activates, reroutes, reprioritises and
//! reconfigures (IROUTER on GICv3, ITARGETSR on GICv2); it disables the
//! distributor; it sends SGIs 1 and 2 at every other vCPU number, in every
//! routing mode. It prints what it reads back (a cell sees nothing it does
//! not own), then waits 3 s counting any interrupt that reaches it, and
//! powers off.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use core::arch::asm;
    use core::sync::atomic::{AtomicU64, Ordering};

    use rt::{gic, println};

    rt::entry!(main);

    static RECEIVED: AtomicU64 = AtomicU64::new(0);

    fn irq() {
        let iar = gic::acknowledge();
        if gic::intid(iar) < 1020 {
            rt::bump(&RECEIVED);
        }
        gic::end(iar);
    }

    fn main() -> ! {
        gic::init_distributor();
        gic::init_cpu(0xffff);
        rt::set_irq_handler(irq);
        for intid in [34u64, 39, 48] {
            let word = (intid / 32) * 4;
            let bit = 1u32 << (intid % 32);
            gic::write_distributor(0x100 + word, bit); // ISENABLER
            gic::write_distributor(0x200 + word, bit); // ISPENDR
            gic::write_distributor(0x300 + word, bit); // ISACTIVER
            gic::write_distributor(0x400 + (intid & !3), 0); // IPRIORITYR
            gic::write_distributor(0xc00 + (intid / 16) * 4, 0xffff_ffff); // ICFGR
            gic::write_distributor64(0x6000 + intid * 8, 1 << 31 | 3); // IROUTER (v3)
            gic::write_distributor(0x800 + (intid & !3), 0xffff_ffff); // ITARGETSR (v2)
            let enabled = gic::read_distributor(0x100 + word);
            let pending = gic::read_distributor(0x200 + word);
            let priority = gic::read_distributor(0x400 + (intid & !3));
            println!(
                "hostile: intid {intid}: reads enable {enabled:#x} pending {pending:#x} priority {priority:#x}"
            );
            gic::write_distributor(0x180 + word, bit); // ICENABLER
            gic::write_distributor(0x280 + word, bit); // ICPENDR
        }
        gic::write_distributor(0, 0); // GICD_CTLR: distributor off (for this cell)
        gic::init_distributor();
        // SGIs 1 and 2 at vCPUs 1..15 (this cell has only vCPU 0), at other
        // clusters, and broadcast to all but self.
        for intid in [1u64, 2] {
            if gic::is_v3() {
                gic::write_sgi1r(intid << 24 | 0xfffe);
                gic::write_sgi1r(intid << 24 | 1 << 16 | 0xffff);
                gic::write_sgi1r(intid << 24 | 1 << 40);
            } else {
                // GICD_SGIR: target list 0xfe, then "all but self".
                gic::write_sgi1r(0xfe << 16 | intid);
                gic::write_sgi1r(1 << 24 | intid);
            }
        }
        println!("hostile: attacks done");
        gic::unmask_irqs();
        let end = rt::counter() + rt::counter_freq() * 3;
        while rt::counter() < end {
            // SAFETY: a pause; any interrupt wakes it.
            unsafe { asm!("wfe", options(nostack)) };
        }
        gic::mask_irqs();
        let received = RECEIVED.load(Ordering::Relaxed);
        println!("hostile: received {received} interrupts");
        rt::system_off();
        rt::park()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("guest-hostile is a bare-metal guest: `cargo xtask build` builds it for its cell");
}
