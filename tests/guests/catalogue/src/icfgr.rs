//! Catalogue 4.3 item 26: the trigger mode of the own SPI 39 toggled
//! without pause, while the `alarm` cell's SPI 34 (same ICFGR word in the
//! physical distributor) delivers its alarms (the harness checks them).

use crate::attempt::{Id, report};

/// GICD_ICFGR2: INTIDs 32..47.
const ICFGR2: u64 = 0xc08;
/// SPI 39's trigger bit in ICFGR2.
const EDGE_39: u32 = 1 << ((39 % 16) * 2 + 1);

pub(crate) fn run() {
    // For 6 s: the alarm cell's three alarms, a second apart, fall inside.
    let end = rt::counter() + 6 * rt::counter_freq();
    let mut rounds = 0u32;
    let mut mismatches = 0;
    while rt::counter() < end {
        let round = rounds;
        rounds += 1;
        let edge = round % 2 == 1;
        let value = if edge { EDGE_39 } else { 0 };
        rt::gic::write_distributor(ICFGR2, value);
        let seen = rt::gic::read_distributor(ICFGR2) & EDGE_39;
        mismatches += u32::from(seen != value);
    }
    rt::gic::write_distributor(ICFGR2, 0);
    report(
        Id(26, 1),
        format_args!("icfgr of own spi 39 toggled {rounds} times beside spi 34"),
        mismatches == 0,
        format_args!("{mismatches} read-back mismatches"),
    );
    rt::println!("catalogue: done");
    rt::system_off();
}
