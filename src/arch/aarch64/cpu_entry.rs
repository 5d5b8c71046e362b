//! The Rust entries of the boot assembly: what each core does before the
//! core's boot sequence takes over.
//!
//! Boot core ([`boot_main`]): the vectors, the EL2 map and MMU, the event
//! stream, the console UART; then `Hypervisor::boot`. Secondaries
//! ([`secondary_main`]): the vectors, the event stream, their GIC CPU
//! interface; then `Hypervisor::secondary`.

use super::gic::{Gic, GicOps};
use super::{HV, cpu, el2_mmu, pl011, secondaries, vectors};
use crate::{hv_emergency_println, hv_println};

/// Rust entry of the boot core (from `_start`: MMU off, `.bss` zeroed,
/// SP_EL2 on this core's stack, TPIDR_EL2 = `cpu`).
pub(super) extern "C" fn boot_main(cpu: usize) -> ! {
    vectors::install();
    let map = match el2_mmu::build_el2_map() {
        Ok(map) => map,
        Err(error) => panic!("cannot build the EL2 map: {error:?}"),
    };
    // SAFETY: the map covers everything the hypervisor touches from now on
    // (code RX, rodata R, data/.bss/page tables/stacks RW, console and GIC as
    // Device) except the stack guards, which nothing may touch; the MMU is
    // off and no other core has been started yet.
    unsafe { el2_mmu::enable_mmu(map.root) };
    cpu::enable_event_stream();
    if let Err(error) = pl011::init_console() {
        hv_emergency_println!(
            HV,
            "console init failed: {error:?}; using the firmware's UART settings"
        );
    }
    crate::log::info!(
        "EL2 MMU on: root {=u64:#x}, {=usize} tables, {=usize} 2 MiB blocks, {=usize} pages",
        map.root,
        map.tables,
        map.blocks_2m,
        map.pages
    );
    HV.boot(cpu)
}

/// Rust entry of a secondary core (from `secondary_entry`: MMU on, SP_EL2
/// on this core's stack, TPIDR_EL2 = `cpu`).
pub(super) extern "C" fn secondary_main(cpu: usize) -> ! {
    vectors::install();
    cpu::enable_event_stream();
    // Do not announce ourselves into a system that is being stopped.
    HV.stop_if_requested();
    hv_println!(
        HV,
        "cpu {cpu} online (MPIDR {:#x})",
        cpu::mpidr() & cpu::MPIDR_AFFINITY_MASK
    );
    Gic::init_cpu();
    crate::log::info!("cpu {=usize} online", cpu);
    secondaries::mark_online(cpu);
    HV.secondary(cpu)
}
