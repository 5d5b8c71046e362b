//! A cell's stage-2 translation: what guest-physical addresses it may reach.
//!
//! Built once per cell from the generated tables: its RAM regions with their
//! permissions, its device windows and passed-through devices as Device
//! memory (never executable), and its ends of shared-memory channels with
//! each end's permissions. Nothing else is mapped: the hypervisor's memory,
//! other cells' memory and unassigned devices (including the UART behind a
//! virtual console, whose accesses must trap) are unreachable.
//! Arch-neutral: the descriptor format and the walk geometry are parameters,
//! so the same code builds AArch64 stage-2 tables and x86 EPTs on the
//! target and fake ones in tests.

use crate::addr::{GuestPhysAddr, PhysAddr};
use crate::config::{CellDesc, RegionKind, Tables};
use crate::mm::{
    DescriptorFormat, Level, MapError, MemAttrs, PAGE_SIZE, PageTable, Perm, SetupError, TablePool,
};

/// What could not be mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(target_os = "none", derive(defmt::Format))]
pub(crate) enum Stage2Error {
    /// The table pool is unusable.
    Setup(SetupError),
    /// A RAM or device-window region failed.
    Region {
        /// Index in the cell's `memory`.
        index: usize,
        /// Why.
        error: MapError,
    },
    /// A passed-through device failed.
    Device {
        /// Index in `DEVICES`.
        device: usize,
        /// Why.
        error: MapError,
    },
    /// The GICv2 virtual CPU interface failed.
    VirtualCpuInterface {
        /// Why.
        error: MapError,
    },
    /// A channel window failed.
    Channel {
        /// Index in `CHANNELS`.
        channel: usize,
        /// Why.
        error: MapError,
    },
}

fn page_round(base: u64, size: u64) -> (u64, u64) {
    let start = base & !(PAGE_SIZE - 1);
    let end = (base + size).next_multiple_of(PAGE_SIZE);
    (start, end - start)
}

/// Builds `cell`'s stage-2 tables from `pool` with the root at `start` and
/// `input_bits` input bits (AArch64 stage 2: level 1, 39 bits, see
/// `arch::aarch64::model::descriptors`; x86 EPT: level 0, 48 bits, see
/// `arch::x86_64::model::ept`).
pub(crate) fn build<'a, F: DescriptorFormat<Input = GuestPhysAddr>>(
    tables: &Tables<'_>,
    cell: &CellDesc,
    pool: TablePool<'a>,
    start: Level,
    input_bits: u32,
) -> Result<PageTable<'a, F>, Stage2Error> {
    let mut map = PageTable::<F>::new(pool, start, input_bits).map_err(Stage2Error::Setup)?;
    for (index, region) in cell.memory.iter().enumerate() {
        let attrs = match region.kind {
            RegionKind::Ram => MemAttrs::normal(region.perm),
            RegionKind::Device(_) => MemAttrs::device(Perm {
                execute: false,
                ..region.perm
            }),
        };
        map.map(region.gpa, region.hpa, region.size, attrs)
            .map_err(|error| Stage2Error::Region { index, error })?;
    }
    for &device in cell.devices {
        for mmio in tables.devices[device].mmio {
            // Passthrough: the cell sees the device where the board has it.
            let (base, size) = page_round(mmio.base.as_u64(), mmio.size);
            map.map(
                GuestPhysAddr::new(base),
                PhysAddr::new(base),
                size,
                MemAttrs::device(Perm::RW),
            )
            .map_err(|error| Stage2Error::Device { device, error })?;
        }
    }
    // GICv2: the guest's GICC is the GICV frame (its virtual CPU interface),
    // so its interrupt acknowledges and EOIs never exit.
    let intc = &tables.platform.intc;
    if intc.version == 2 && !intc.virtual_cpu.is_empty() && !intc.cpu_interface.is_empty() {
        map.map(
            GuestPhysAddr::new(intc.cpu_interface.base.as_u64()),
            intc.virtual_cpu.base,
            intc.cpu_interface.size.min(intc.virtual_cpu.size),
            MemAttrs::device(Perm::RW),
        )
        .map_err(|error| Stage2Error::VirtualCpuInterface { error })?;
    }
    for (channel_index, channel) in tables.channels.iter().enumerate() {
        for end in channel.ends.iter().filter(|e| e.cell == cell.id) {
            map.map(
                end.gpa,
                channel.memory.base,
                channel.memory.size,
                MemAttrs::normal(end.perm),
            )
            .map_err(|error| Stage2Error::Channel {
                channel: channel_index,
                error,
            })?;
        }
    }
    Ok(map)
}

#[cfg(test)]
pub(crate) mod tests;
