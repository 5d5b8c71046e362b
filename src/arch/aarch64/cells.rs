//! The cells at run time: stage-2 tables, images, vCPU power, stop/restart.
//!
//! Per physical CPU a vCPU slot says whether the vCPU is off, on or
//! starting (PSCI CPU_ON). A core with an off vCPU waits in WFE; when its
//! slot turns "starting" it programs its EL2 controls and enters the guest.
//! A cell's epoch counts its stops; a vCPU that traps into the hypervisor
//! after its cell was stopped or restarted parks instead of going back.

use core::arch::asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

use aarch64_cpu::asm::barrier;

use super::console::println;
use super::model::descriptors::Stage2;
use super::{cpu, smp, vcpu};
use crate::addr::CellId;
use crate::cell::lifecycle::{Lifecycle, Stopped};
use crate::cell::stage2;
use crate::config::{CELL_COUNT, CELLS, CPU_COUNT, CPUS, CellDesc, STAGE2_TABLES_PER_CELL, TABLES};
use crate::mm::{Table, TablePool};

pub use crate::cell::lifecycle::power;

/// vCPU slots, epochs and stopped cells (shared logic, `cell::lifecycle`).
static LIFE: Lifecycle<CPU_COUNT, CELL_COUNT> = Lifecycle::new();

/// Stage-2 roots (physical addresses), per cell.
static STAGE2_ROOTS: [AtomicU64; CELL_COUNT] = [const { AtomicU64::new(0) }; CELL_COUNT];

struct Stage2Pools(UnsafeCell<[[Table; STAGE2_TABLES_PER_CELL]; CELL_COUNT]>);
// SAFETY: each cell's pool is borrowed once, by `build_stage2`, on the boot
// core before any guest runs; afterwards only the MMU reads the tables.
unsafe impl Sync for Stage2Pools {}

#[unsafe(link_section = ".page_tables")]
static STAGE2_POOLS: Stage2Pools = Stage2Pools(UnsafeCell::new(
    [const { [Table::ZEROED; STAGE2_TABLES_PER_CELL] }; CELL_COUNT],
));

/// Physical address bits the core implements (ID_AA64MMFR0_EL1.PARange).
fn physical_address_bits() -> u32 {
    use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, Readable};
    match ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange) {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        5 => 48,
        _ => 52,
    }
}

/// Builds every cell's stage-2 tables. Boot core, once, before any guest.
pub fn build_stage2() {
    let pa_bits = physical_address_bits();
    if pa_bits < stage2::IPA_BITS {
        // Platform data (or the core) does not fit the stage-2 layout.
        panic!(
            "the cores implement {pa_bits}-bit physical addresses, less than the {}-bit IPA space cells use",
            stage2::IPA_BITS
        );
    }
    crate::log::info!(
        "{=u32}-bit physical addresses, {=u32}-bit IPA",
        pa_bits,
        stage2::IPA_BITS
    );
    for cell in &CELLS {
        // SAFETY: called once on the boot core before any other user of the
        // pools exists (see `Stage2Pools`); each cell borrows its own row.
        let tables = unsafe { &mut (*STAGE2_POOLS.0.get())[cell.id.index()] };
        let pool = match TablePool::identity(tables) {
            Ok(pool) => pool,
            Err(error) => panic!("cell {}: stage-2 pool: {error:?}", cell.name),
        };
        match stage2::build::<Stage2>(&TABLES, cell, pool) {
            Ok(map) => {
                STAGE2_ROOTS[cell.id.index()].store(map.root().as_u64(), Ordering::Release);
                crate::log::info!(
                    "cell {=str}: stage-2 root {=u64:#x}, {=usize} of {=usize} tables, {=usize} 1 GiB blocks, {=usize} 2 MiB blocks, {=usize} pages",
                    cell.name,
                    map.root().as_u64(),
                    map.tables_used(),
                    STAGE2_TABLES_PER_CELL,
                    map.blocks_at(crate::mm::Level::One),
                    map.blocks_at(crate::mm::Level::Two),
                    map.blocks_at(crate::mm::Level::Three)
                );
            }
            Err(error) => panic!("cell {}: stage-2 mapping failed: {error:?}", cell.name),
        }
    }
}

pub use crate::cell::{cpu_of, ram_host_address};

/// Cleans `[start, end)` to the point of coherency (the guest starts with
/// its caches off) and invalidates the instruction cache.
fn clean_to_poc(start: u64, end: u64) {
    let mut line = start & !63;
    while line < end {
        // SAFETY: DC CVAC writes dirty lines back; it never changes the
        // contents any observer sees. The range is mapped at EL2.
        unsafe { asm!("dc cvac, {}", in(reg) line, options(nostack, preserves_flags)) };
        line += 64;
    }
    barrier::dsb(barrier::SY);
}

/// Copies the cell's pristine image into its RAM: every segment's bytes,
/// and zeros for the rest of each segment (`.bss`), each cleaned to the
/// point of coherency (the guest starts with its caches off). The rest of
/// the cell's RAM is left as it is, as on a warm reset: it only ever held
/// this cell's data (or, at power-on, whatever the board's RAM holds).
/// Clearing all of it cost two thirds of the hypervisor's boot: 1.6 M of
/// 2.7 M instructions for a 16 MiB cell, seconds for a 256 MiB one.
pub fn load_image(cell: &CellDesc) {
    for segment in cell.image.segments {
        let gpa = segment.gpa.as_u64();
        let Some(host) = ram_host_address(cell, gpa, segment.memory_size) else {
            // The config checker proved every segment fits: a hypervisor bug.
            panic!(
                "cell {}: image segment at {gpa:#x} is not in its RAM",
                cell.name
            );
        };
        let copied = segment.data.len().min(segment.memory_size as usize);
        // SAFETY: `host..host + memory_size` lies inside the cell's RAM
        // (checked just now), mapped RW at EL2, and none of the cell's
        // vCPUs runs (boot, or the cell was stopped); `copied` bytes of
        // `data` fit in it, the zero fill covers the rest.
        unsafe {
            core::ptr::copy_nonoverlapping(segment.data.as_ptr(), host as *mut u8, copied);
            core::ptr::write_bytes(
                (host + copied as u64) as *mut u8,
                0,
                segment.memory_size as usize - copied,
            );
        }
        clean_to_poc(host, host + segment.memory_size);
    }
    // SAFETY: invalidating the instruction cache only drops clean lines.
    unsafe {
        asm!(
            "ic ialluis",
            "dsb ish",
            "isb",
            options(nostack, preserves_flags)
        )
    };
}

/// The cell and vCPU index of physical CPU `cpu`, if a cell owns it.
pub fn vcpu_of(cpu: usize) -> Option<(&'static CellDesc, usize)> {
    crate::cell::vcpu_of(&TABLES, cpu)
}

/// Power state of vCPU `index` of `cell`.
pub fn vcpu_power(cell: &CellDesc, index: usize) -> u8 {
    cpu_of(cell, index).map_or(power::OFF, |cpu| LIFE.power(cpu))
}

/// Asks vCPU `index` of `cell` to start at `entry` with `x0 = context`.
/// Fails if it is not off.
pub fn request_start(cell: &CellDesc, index: usize, entry: u64, context: u64) -> Result<(), u8> {
    let cpu = cpu_of(cell, index).ok_or(power::OFF)?;
    LIFE.request_start(cpu, entry, context).map(|()| {
        cpu::publish_and_sev();
        // The core waits in WFI (`wait_for_doorbell`): ring it.
        super::gic::kick(cpu);
    })
}

/// Sleeps until an interrupt arrives for this core (WFI, IRQs masked at
/// EL2), then handles whatever is pending: the doorbell (the kick SGI a
/// start request or a stop rings), console input, a vGIC notification.
/// Long waits use this instead of WFE: QEMU's TCG treats WFE as a yield, so
/// a core waiting in WFE keeps a host thread busy and slows the others.
fn wait_for_doorbell(cpu: usize) {
    aarch64_cpu::asm::wfi();
    super::trap::take_pending_interrupts(cpu);
}

/// Starts every cell: loads its image and starts its first vCPU at the
/// entry point. Boot core, after every CPU is online.
pub fn start_all() {
    super::vgic::init_cells();
    for cell in &CELLS {
        load_image(cell);
        super::timer::cell_starts(cell);
        let _ = request_start(cell, 0, cell.entry.as_u64(), cell.boot_arg);
        println!(
            "bulkhead: cell {} ({}) starting on cpu {}",
            cell.name,
            cell.id,
            cell.cpus.first().map_or(0, |c| c.index())
        );
    }
}

/// Whether the vCPU on this core belongs to a cell that was stopped or
/// restarted since it started (it must then park instead of resuming).
pub fn stale(cpu: usize) -> bool {
    // Hot path (every exit): the owning cell straight from the CPU table.
    CPUS.get(cpu)
        .and_then(|c| c.cell)
        .is_none_or(|cell| LIFE.stale(cpu, cell.index()))
}

/// Stops every vCPU of `cell`: the others are kicked into the hypervisor
/// and park.
fn stop_cell(cell: &CellDesc) {
    LIFE.stop(
        cell.id.index(),
        cell.cpus.iter().map(|c| c.index()),
        cpu::current_index(),
        super::gic::kick,
    );
}

/// Whether `cell` is stopped for good.
pub fn is_stopped(cell: &CellDesc) -> bool {
    LIFE.is_stopped(cell.id.index())
}

/// Stops `cell` for good (PSCI SYSTEM_OFF, fault policy `halt`). The
/// caller parks its own core afterwards. When no cell is left running the
/// machine powers off (exactly once, even when the last cells stop at the
/// same moment).
pub fn halt(cell: &CellDesc) {
    stop_cell(cell);
    super::vconsole::flush(cell.id.index());
    match LIFE.mark_stopped(cell.id.index()) {
        Stopped::Already => {}
        Stopped::Now => super::vconsole::route_input(),
        Stopped::Last => {
            super::vconsole::route_input();
            println!("bulkhead: every cell has stopped; powering off");
            crate::log::info!("every cell stopped, PSCI SYSTEM_OFF");
            super::console::flush();
            let error = super::psci::system_off();
            panic!("PSCI SYSTEM_OFF returned: {error}");
        }
    }
}

/// Restarts `cell` from its pristine image (SYSTEM_RESET, policy
/// `restart`): waits until every other vCPU of the cell has parked, reloads
/// the image and starts vCPU 0 again.
pub fn restart(cell: &'static CellDesc, caller_cpu: usize) {
    stop_cell(cell);
    super::vconsole::flush(cell.id.index());
    LIFE.set_off(caller_cpu);
    for c in cell.cpus.iter().filter(|c| c.index() != caller_cpu) {
        // The others were kicked and park at once.
        while LIFE.power(c.index()) != power::OFF {
            smp::stop_if_requested();
            aarch64_cpu::asm::wfe();
        }
    }
    load_image(cell);
    super::timer::cell_starts(cell);
    super::vgic::reset_cell(cell);
    let _ = request_start(cell, 0, cell.entry.as_u64(), cell.boot_arg);
}

/// Parks this core's vCPU (CPU_OFF, cell stopped) and waits until it is
/// started again; then enters the guest. Never returns.
pub fn park_and_run(cpu: usize) -> ! {
    LIFE.park(cpu);
    cpu::publish_and_sev();
    run(cpu)
}

/// The vCPU loop of a core: wait for a start request, then enter the guest.
pub fn run(cpu: usize) -> ! {
    let Some((cell, index)) = vcpu_of(cpu) else {
        // A core no cell owns stays in the hypervisor.
        loop {
            smp::stop_if_requested();
            wait_for_doorbell(cpu);
        }
    };
    loop {
        smp::stop_if_requested();
        if let Some(start) = LIFE.take_start(cpu, cell.id.index()) {
            let root = STAGE2_ROOTS[cell.id.index()].load(Ordering::Acquire);
            let timers = vcpu::TimerControls {
                cntvoff: super::timer::virtual_offset(cell),
                cnthctl: super::timer::cnthctl(cell),
            };
            vcpu::configure(root, cell.id.0 + 1, index, timers);
            super::vgic::reset_vcpu(cpu);
            crate::log::info!(
                "cell {=str} vcpu {=usize} enters at {=u64:#x} on cpu {=usize}",
                cell.name,
                index,
                start.entry,
                cpu
            );
            vcpu::enter(start.entry, start.context);
        }
        wait_for_doorbell(cpu);
    }
}

/// The id of the cell running on this core, if any.
pub fn current_cell(cpu: usize) -> Option<CellId> {
    CPUS[cpu].cell
}
