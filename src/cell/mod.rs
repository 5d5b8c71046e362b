//! Cells: the partitions Bulkhead runs, and what each may reach.

#![forbid(unsafe_code)]

pub(crate) mod access;
pub(crate) mod counters;
pub(crate) mod fault;
pub(crate) mod lifecycle;
mod runtime;
pub(crate) mod stage2;

use crate::addr::GuestPhysAddr;
use crate::config::{CellDesc, RegionKind, Tables};

/// Host address of guest address `gpa` in `cell`'s RAM, if it is RAM the
/// cell owns with at least `len` bytes from there.
pub(crate) fn ram_host_address(cell: &CellDesc, gpa: u64, len: u64) -> Option<u64> {
    cell.memory
        .iter()
        .filter(|r| r.kind == RegionKind::Ram)
        .find_map(|r| {
            let offset = gpa.checked_sub(r.gpa.as_u64())?;
            (offset.checked_add(len)? <= r.size).then(|| r.hpa.as_u64() + offset)
        })
}

/// Whether `entry` lies in `cell`'s executable RAM (a valid `CPU_ON`
/// entry point).
pub(crate) fn entry_is_valid(cell: &CellDesc, entry: GuestPhysAddr) -> bool {
    cell.memory.iter().any(|r| {
        r.kind == RegionKind::Ram
            && r.perm.execute
            && entry
                .offset_from(r.gpa)
                .is_some_and(|offset| offset < r.size)
    })
}

/// The cell and vCPU index of physical CPU `cpu`, if a cell owns it.
pub(crate) fn vcpu_of<'a>(tables: &Tables<'a>, cpu: usize) -> Option<(&'a CellDesc, usize)> {
    let cell = tables.cells.get(tables.cpus.get(cpu)?.cell?.index())?;
    let index = cell.cpus.iter().position(|c| c.index() == cpu)?;
    Some((cell, index))
}

/// The physical CPU running vCPU `index` of `cell`.
pub(crate) fn cpu_of(cell: &CellDesc, index: usize) -> Option<usize> {
    cell.cpus.get(index).map(|c| c.index())
}
