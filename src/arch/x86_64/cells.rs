//! The cells at run time on x86_64: EPT, I/O bitmaps, images and boot
//! areas, vCPU power, stop and restart.
//!
//! As on AArch64, each physical CPU has a vCPU slot (off, on, starting);
//! a CPU whose vCPU is off waits in the hypervisor until a start request
//! (PSCI `CPU_ON`, a cell start) turns its slot "starting", then sets up
//! its VMCS and enters the guest. A cell's epoch counts its stops; a vCPU
//! that exits after its cell was stopped parks instead of resuming. Other
//! CPUs of a stopping cell are sent an NMI, which exits their guest.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use super::console::println;
use super::model::boot_area;
use super::model::ept::{self, Ept};
use super::model::io_bitmap::IoBitmaps;
use super::model::msr_bitmap::MsrBitmap;
use super::vcpu::{self, GuestRegs, Wiring};
use super::vmx::{self, Controls, Region};
use super::{cpu, exits, idt, panic};
use crate::cell::lifecycle::{Lifecycle, Stopped};
use crate::cell::stage2;
use crate::config::{
    CELL_COUNT, CELLS, CPU_COUNT, CPUS, CellDesc, RegionKind, STAGE2_TABLES_PER_CELL, TABLES,
};
use crate::mm::{Table, TablePool};

pub use crate::cell::lifecycle::power;

/// vCPU slots, epochs and stopped cells (shared logic, `cell::lifecycle`).
static LIFE: Lifecycle<CPU_COUNT, CELL_COUNT> = Lifecycle::new();

static EPTPS: [AtomicU64; CELL_COUNT] = [const { AtomicU64::new(0) }; CELL_COUNT];

/// Per-cell static state built once at boot and then only read (by the CPU
/// through the VMCS pointers).
struct Boot<T>(UnsafeCell<T>);
// SAFETY: written only by the boot CPU in `build`, before any other CPU or
// guest uses it; read-only afterwards.
unsafe impl<T> Sync for Boot<T> {}

static EPT_POOLS: Boot<[[Table; STAGE2_TABLES_PER_CELL]; CELL_COUNT]> = Boot(UnsafeCell::new(
    [const { [Table::ZEROED; STAGE2_TABLES_PER_CELL] }; CELL_COUNT],
));
static IO_BITMAPS: Boot<[IoBitmaps; CELL_COUNT]> = Boot(UnsafeCell::new(
    [const { IoBitmaps::trap_all() }; CELL_COUNT],
));
static MSR_BITMAP: Boot<MsrBitmap> = Boot(UnsafeCell::new(MsrBitmap::trap_all()));

/// Per-CPU VMXON and VMCS regions.
struct PerCpu<T>(UnsafeCell<T>);
// SAFETY: CPU i only ever touches element i.
unsafe impl<T> Sync for PerCpu<T> {}
static VMXON: PerCpu<[Region; CPU_COUNT]> =
    PerCpu(UnsafeCell::new([const { Region([0; 4096]) }; CPU_COUNT]));
static VMCS: PerCpu<[Region; CPU_COUNT]> =
    PerCpu(UnsafeCell::new([const { Region([0; 4096]) }; CPU_COUNT]));

/// The VMX controls (computed on the boot CPU).
static CONTROLS: spin::Once<Controls> = spin::Once::new();

/// Records the controls `vmx::check` computed. Boot CPU.
pub fn set_controls(controls: Controls) {
    CONTROLS.call_once(|| controls);
}

fn controls() -> &'static Controls {
    CONTROLS.get().expect("VMX controls are set at boot")
}

/// VMXON on this CPU.
pub fn vmx_on(cpu: usize) -> Result<(), vmx::Missing> {
    // SAFETY: element `cpu` is this CPU's own VMXON region.
    unsafe { vmx::enable(controls(), (*VMXON.0.get()).as_mut_ptr().add(cpu)) }
}

/// Builds every cell's EPT and I/O bitmap and the MSR bitmap. Boot CPU,
/// once, before any guest.
pub fn build() {
    // SAFETY: boot CPU, before any user (see `Boot`).
    unsafe { *MSR_BITMAP.0.get() = MsrBitmap::cell_policy() };
    for cell in &CELLS {
        let i = cell.id.index();
        // SAFETY: boot CPU, before any user; each cell borrows its own row.
        let tables = unsafe { &mut (*EPT_POOLS.0.get())[i] };
        let pool = TablePool::identity(tables)
            .unwrap_or_else(|e| panic!("cell {}: EPT pool: {e:?}", cell.name));
        match stage2::build_at::<Ept>(&TABLES, cell, pool, ept::START_LEVEL, ept::INPUT_BITS) {
            Ok(map) => {
                if map.blocks_at(crate::mm::Level::One) > 0 && !controls().ept_1g {
                    panic!(
                        "cell {}: its memory maps with 1 GiB EPT pages, which this CPU lacks (IA32_VMX_EPT_VPID_CAP bit 17): split the region or misalign it by 2 MiB",
                        cell.name
                    );
                }
                EPTPS[i].store(ept::eptp(map.root()), Ordering::Release);
                crate::log::info!(
                    "cell {=str}: EPT root {=u64:#x}, {=usize} tables, {=usize} 2 MiB pages, {=usize} 4 KiB pages",
                    cell.name,
                    map.root().as_u64(),
                    map.tables_used(),
                    map.blocks_at(crate::mm::Level::Two),
                    map.blocks_at(crate::mm::Level::Three)
                );
            }
            Err(error) => panic!("cell {}: EPT mapping failed: {error:?}", cell.name),
        }
        // SAFETY: as above.
        unsafe { (*IO_BITMAPS.0.get())[i] = IoBitmaps::for_cell(&TABLES, cell) };
    }
}

pub use crate::cell::{cpu_of, ram_host_address};

/// Guest-physical address of `cell`'s boot area.
pub fn boot_area_gpa(cell: &CellDesc) -> u64 {
    let ram = cell
        .memory
        .iter()
        .find(|r| r.kind == RegionKind::Ram)
        .expect("the config checker requires RAM in every cell");
    boot_area::base(ram.gpa.as_u64(), ram.size)
        .expect("the config checker sizes the first RAM region")
}

/// Copies the cell's pristine image into its RAM and writes its boot area.
pub fn load_image(cell: &CellDesc) {
    for segment in cell.image.segments {
        let gpa = segment.gpa.as_u64();
        let Some(host) = ram_host_address(cell, gpa, segment.memory_size) else {
            panic!(
                "cell {}: image segment at {gpa:#x} is not in its RAM",
                cell.name
            );
        };
        let copied = segment.data.len().min(segment.memory_size as usize);
        // SAFETY: `host..host + memory_size` is the cell's RAM (checked),
        // identity-mapped; none of the cell's vCPUs runs.
        unsafe {
            core::ptr::copy_nonoverlapping(segment.data.as_ptr(), host as *mut u8, copied);
            core::ptr::write_bytes(
                (host + copied as u64) as *mut u8,
                0,
                segment.memory_size as usize - copied,
            );
        }
    }
    let area = boot_area_gpa(cell);
    let host = ram_host_address(cell, area, boot_area::SIZE as u64)
        .expect("the boot area lies in the first RAM region");
    // SAFETY: the boot area is the cell's RAM (checked), 4 KiB aligned,
    // identity-mapped; none of the cell's vCPUs runs.
    let bytes = unsafe { &mut *(host as *mut [u8; boot_area::SIZE]) };
    boot_area::write(bytes, area);
}

/// The cell and vCPU index of physical CPU `cpu`, if a cell owns it.
pub fn vcpu_of(cpu: usize) -> Option<(&'static CellDesc, usize)> {
    crate::cell::vcpu_of(&TABLES, cpu)
}

/// Power state of vCPU `index` of `cell`.
pub fn vcpu_power(cell: &CellDesc, index: usize) -> u8 {
    cpu_of(cell, index).map_or(power::OFF, |cpu| LIFE.power(cpu))
}

/// Asks vCPU `index` of `cell` to start at `entry` with `RDI = context`.
/// Fails with the current state if it is not off.
pub fn request_start(cell: &CellDesc, index: usize, entry: u64, context: u64) -> Result<(), u8> {
    LIFE.request_start(cpu_of(cell, index).ok_or(power::OFF)?, entry, context)
}

/// Starts every cell: image, boot area, vCPU 0. Boot CPU.
pub fn start_all() {
    for cell in &CELLS {
        load_image(cell);
        let _ = request_start(cell, 0, cell.entry.as_u64(), cell.boot_arg);
        println!(
            "bulkhead: cell {} ({}) starting on cpu {}",
            cell.name,
            cell.id,
            cell.cpus.first().map_or(0, |c| c.index())
        );
    }
}

/// Whether this CPU's vCPU belongs to a cell stopped or restarted since it
/// started.
pub fn stale(cpu: usize) -> bool {
    // Hot path (every exit): the owning cell straight from the CPU table.
    CPUS.get(cpu)
        .and_then(|c| c.cell)
        .is_none_or(|cell| LIFE.stale(cpu, cell.index()))
}

/// Stops every vCPU of `cell`; the others running guest code get an NMI.
fn stop_cell(cell: &CellDesc) {
    LIFE.stop(
        cell.id.index(),
        cell.cpus.iter().map(|c| c.index()),
        cpu::current_index(),
        |other| cpu::send_nmi(CPUS[other].hw_id as u32),
    );
}

/// Whether `cell` is stopped for good.
pub fn is_stopped(cell: &CellDesc) -> bool {
    LIFE.is_stopped(cell.id.index())
}

/// Stops `cell` for good (SYSTEM_OFF, fault policy `halt`); the caller
/// parks its own CPU afterwards. When no cell is left the machine powers
/// off.
pub fn halt(cell: &CellDesc) {
    stop_cell(cell);
    super::vconsole::flush(cell.id.index());
    match LIFE.mark_stopped(cell.id.index()) {
        Stopped::Already => {}
        Stopped::Now => super::vconsole::route_input(),
        Stopped::Last => {
            super::vconsole::route_input();
            super::vconsole::print_counters();
            println!("bulkhead: every cell has stopped; powering off");
            crate::log::info!("every cell stopped, powering off");
            panic::power_off();
        }
    }
}

/// Restarts `cell` from its pristine image: waits until its other vCPUs
/// parked, reloads it and starts vCPU 0.
pub fn restart(cell: &'static CellDesc, caller_cpu: usize) {
    stop_cell(cell);
    super::vconsole::flush(cell.id.index());
    LIFE.set_off(caller_cpu);
    for c in cell.cpus.iter().filter(|c| c.index() != caller_cpu) {
        while LIFE.power(c.index()) != power::OFF {
            panic::stop_if_requested();
            core::hint::spin_loop();
        }
    }
    super::vconsole::reset(cell.id.index());
    load_image(cell);
    let _ = request_start(cell, 0, cell.entry.as_u64(), cell.boot_arg);
}

/// CPUs whose VMCS is loaded and set up (their NMI handler may write it).
static VMCS_READY: [AtomicU8; CPU_COUNT] = [const { AtomicU8::new(0) }; CPU_COUNT];

/// An NMI (a stop kick) reached `cpu` while it ran in the hypervisor: the
/// next VM entry exits at once (NMI-window exiting), so the vCPU loop
/// looks at its cell again before running guest code. Called from the NMI
/// handler; the only VMCS access the loop makes concurrently is to other
/// fields, and a VMWRITE is one instruction.
pub fn kick_in_root(cpu: usize) {
    if VMCS_READY
        .get(cpu)
        .is_some_and(|r| r.load(Ordering::Acquire) == 1)
    {
        let controls = vmx::read(vmx::field::PROC_BASED_CONTROLS);
        vmx::write(
            vmx::field::PROC_BASED_CONTROLS,
            controls | u64::from(vmx::proc1::NMI_WINDOW_EXITING),
        );
    }
}

/// Clears NMI-window exiting after the exit it caused.
pub fn nmi_window_seen() {
    let controls = vmx::read(vmx::field::PROC_BASED_CONTROLS);
    vmx::write(
        vmx::field::PROC_BASED_CONTROLS,
        controls & !u64::from(vmx::proc1::NMI_WINDOW_EXITING),
    );
}

/// What the exit handler wants next.
pub enum Next {
    /// Re-enter the guest.
    Resume,
    /// Park this vCPU (CPU_OFF, cell stopped or restarted elsewhere).
    Park,
}

/// The vCPU loop of a CPU: wait for a start request, set up the VMCS,
/// run the guest and handle its exits. Never returns.
pub fn run(cpu: usize) -> ! {
    let Some((cell, index)) = vcpu_of(cpu) else {
        // A CPU no cell owns sleeps; only a panic's NMI wakes it, to stop.
        loop {
            panic::stop_if_requested();
            cpu::sleep();
        }
    };
    let i = cell.id.index();
    loop {
        panic::stop_if_requested();
        let Some(start) = LIFE.take_start(cpu, i) else {
            // Console input may come as an NMI to a waiting CPU too.
            if idt::NMI_SEEN[cpu].swap(false, Ordering::AcqRel) {
                super::vconsole::poll_input();
            }
            // Spin (with PAUSE): MONITOR/MWAIT on the slot did not wake on
            // Bochs when another CPU wrote it, and HLT plus an NMI doorbell
            // can lose a wake-up between the check and the HLT.
            core::hint::spin_loop();
            continue;
        };
        let (entry, context) = (start.entry, start.context);
        VMCS_READY[cpu].store(0, Ordering::Release);
        // SAFETY: element `cpu` is this CPU's VMCS region.
        let region = unsafe { (*VMCS.0.get()).as_mut_ptr().add(cpu) };
        // SAFETY: this CPU's own region, not current on any other CPU.
        if let Err(e) = unsafe { vmx::load_vmcs(controls(), region) } {
            panic!("cpu {cpu}: {}", e.0);
        }
        // SAFETY: read-only after boot (`Boot`).
        let io = unsafe { &(*IO_BITMAPS.0.get())[i] };
        let eptp = EPTPS[i].load(Ordering::Acquire);
        vcpu::setup_controls(
            controls(),
            &Wiring {
                vpid: cell.id.0 + 1,
                eptp,
                io_bitmaps: (io.a.as_ptr() as u64, io.b.as_ptr() as u64),
                msr_bitmap: MSR_BITMAP.0.get() as u64,
                gdt: (&raw const super::boot::gdt64) as u64,
                idt: idt::base(),
                cpu: cpu as u64,
            },
        );
        vmx::invept(eptp);
        vcpu::setup_guest(controls(), boot_area_gpa(cell), entry);
        VMCS_READY[cpu].store(1, Ordering::Release);
        let mut regs = GuestRegs {
            rdi: context,
            rsi: index as u64,
            ..GuestRegs::default()
        };
        crate::log::info!(
            "cell {=str} vcpu {=usize} enters at {=u64:#x} on cpu {=usize}",
            cell.name,
            index,
            entry,
            cpu
        );
        let mut launched = false;
        loop {
            panic::stop_if_requested();
            if LIFE.stale(cpu, i) {
                println!(
                    "bulkhead: cell {} vcpu {index} (cpu {cpu}) stopped",
                    cell.name
                );
                break;
            }
            match vcpu::enter(&mut regs, launched) {
                vcpu::Entry::Exited => {}
                vcpu::Entry::Failed(error) => {
                    exits::entry_failed(cell, index, cpu, error);
                    break;
                }
            }
            launched = true;
            match exits::handle(cell, index, cpu, &mut regs) {
                Next::Resume => {}
                Next::Park => break,
            }
        }
        // A restart may already have asked this CPU to start again.
        LIFE.park(cpu);
    }
}

/// Whether the CPU supports the guest HLT activity state.
pub fn hlt_activity() -> bool {
    controls().hlt_activity
}
