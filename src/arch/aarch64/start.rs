//! The boot flow after the entry assembly: from `_start` to a running system.
//!
//! Boot core ([`boot_main`]): vectors, the EL2 map and MMU, console, banner
//! and partition table, PSCI CPU_ON for every other CPU, wait until they are
//! online, build every cell's stage-2 tables, load the images and start each
//! cell's first vCPU. Secondaries ([`secondary_main`]): vectors, report
//! online. Then every core runs its vCPU (`cells::run`).

use core::fmt::Write;

use super::console::{emergency_println, println};
use super::{cells, cpu, exception, gic, mmu, psci, smp};
use crate::config::{CPUS, TABLES};
use crate::partition_table::{write_banner, write_partition_table};

/// How long the boot core waits for the secondaries it started.
const SECONDARY_BOOT_TIMEOUT_US: u64 = 2_000_000;

/// The console as a `fmt::Write` (line-locked printing).
struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        super::console::_print(format_args!("{s}"));
        Ok(())
    }
}

/// Rust entry of the boot core (from `_start`: MMU off, `.bss` zeroed,
/// SP_EL2 on this core's stack, TPIDR_EL2 = `cpu`).
pub(super) extern "C" fn boot_main(cpu: usize) -> ! {
    exception::install();
    let map = match mmu::build_el2_map() {
        Ok(map) => map,
        Err(error) => panic!("cannot build the EL2 map: {error:?}"),
    };
    // SAFETY: the map covers everything the hypervisor touches from now on
    // (code RX, rodata R, data/.bss/page tables/stacks RW, console and GIC as
    // Device) except the stack guards, which nothing may touch; the MMU is
    // off and no other core has been started yet.
    unsafe { mmu::enable_mmu(map.root) };
    cpu::enable_event_stream();
    if let Err(error) = super::console::init() {
        emergency_println!("console init failed: {error:?}; using the firmware's UART settings");
    }
    crate::log::info!(
        "EL2 MMU on: root {=u64:#x}, {=usize} tables, {=usize} 2 MiB blocks, {=usize} pages",
        map.root,
        map.tables,
        map.blocks_2m,
        map.pages
    );

    let _ = write_banner(&mut Console);
    println!(
        "boot cpu {cpu} (MPIDR {:#x}) at EL{}, PSCI {}, EL2 MMU on ({} tables)",
        cpu::mpidr() & cpu::MPIDR_AFFINITY_MASK,
        cpu::current_el(),
        psci::version(),
        map.tables
    );
    let _ = write_partition_table(&mut Console, &TABLES);
    gic::init_distributor();
    gic::init_cpu();
    smp::mark_online(cpu);

    let started = smp::start_secondaries(cpu);
    if let smp::WaitOnline::TimedOut { missing } =
        smp::wait_online(started, SECONDARY_BOOT_TIMEOUT_US)
    {
        for (index, desc) in CPUS.iter().enumerate() {
            if missing & (1 << index) != 0 {
                println!("cpu {index} (MPIDR {:#x}) did not come online", desc.hw_id);
                crate::log::error!("cpu {=usize} did not come online", index);
            }
        }
    }
    let online = smp::online_mask().count_ones();
    println!("all {online} CPUs online");
    crate::log::info!("{=u32} of {=usize} CPUs online", online, CPUS.len());

    if cfg!(feature = "panic-selftest") {
        panic!("panic-selftest: deliberate panic after boot");
    }

    super::calls::probe_firmware();
    cells::build_stage2();
    cells::start_all();
    super::vconsole::route_input();
    cells::run(cpu)
}

/// Rust entry of a secondary core (from `secondary_entry`: MMU on, SP_EL2
/// on this core's stack, TPIDR_EL2 = `cpu`).
pub(super) extern "C" fn secondary_main(cpu: usize) -> ! {
    exception::install();
    cpu::enable_event_stream();
    // Do not announce ourselves into a system that is being stopped.
    smp::stop_if_requested();
    println!(
        "cpu {cpu} online (MPIDR {:#x})",
        cpu::mpidr() & cpu::MPIDR_AFFINITY_MASK
    );
    gic::init_cpu();
    crate::log::info!("cpu {=usize} online", cpu);
    smp::mark_online(cpu);
    cells::run(cpu)
}
