//! The hypervisor's own translation tables, the same plan on every
//! architecture: an identity map of exactly what the hypervisor touches.
//!
//! | range | access |
//! | --- | --- |
//! | its code | read, execute |
//! | its read-only data | read |
//! | its data, `.bss`, page tables, stacks (minus each stack's guard page) | read, write |
//! | every cell's RAM and every channel (images are loaded and hypercall buffers read there) | read, write |
//! | the devices it drives itself (console UART, interrupt controller) | device, read, write |
//!
//! Nothing is both writable and executable, no cell memory is executable,
//! and nothing else is mapped (not page 0, not other RAM, not other
//! devices). Each architecture supplies its descriptor format, the image's
//! section boundaries and its device windows; [`build`] does the rest.

use core::ops::Range;

use super::page_table::{
    DescriptorFormat, Level, MapError, MemAttrs, PageTable, Perm, SetupError, TablePool,
};
use crate::addr::{PhysAddr, VirtAddr};
use crate::config::{RegionKind, Tables};

/// Where the hypervisor image's sections are (linker symbols).
#[derive(Debug, Clone)]
pub(crate) struct ImageLayout {
    /// Code.
    pub(crate) text: Range<u64>,
    /// Read-only data.
    pub(crate) rodata: Range<u64>,
    /// Data, `.bss`, page tables and stacks.
    pub(crate) writable: Range<u64>,
}

/// A device window the hypervisor drives itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeviceWindow {
    /// Name, for errors.
    pub(crate) name: &'static str,
    /// Page-aligned physical range (empty: absent).
    pub(crate) range: (u64, u64),
}

impl DeviceWindow {
    /// `size` bytes at `base`, widened to whole pages (a frame smaller than
    /// a page still takes one).
    pub(crate) const fn pages(name: &'static str, base: u64, size: u64) -> Self {
        let start = base & !0xfff;
        let end = if size == 0 {
            start
        } else {
            (base + size + 0xfff) & !0xfff
        };
        Self {
            name,
            range: (start, end),
        }
    }
}

/// Why the map could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BuildError {
    /// The pool or the geometry is unusable.
    Setup(SetupError),
    /// A range failed.
    Map {
        /// What was being mapped.
        what: &'static str,
        /// Why.
        error: MapError,
    },
}

/// The built map: its root, and statistics for the boot log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Built {
    /// Physical address of the root table.
    pub(crate) root: u64,
    /// Tables used from the pool.
    pub(crate) tables: usize,
    /// 2 MiB blocks.
    pub(crate) blocks_2m: usize,
    /// 4 KiB pages.
    pub(crate) pages: usize,
}

/// Calls `visit` for every range of the plan (see the module docs), in
/// order, with its access; empty ranges are skipped. `guards` are the
/// unmapped stack guard pages inside `image.writable`, ascending.
pub(crate) fn for_each_region<E>(
    image: &ImageLayout,
    guards: impl Iterator<Item = Range<u64>>,
    tables: &Tables<'_>,
    devices: &[DeviceWindow],
    mut visit: impl FnMut(&'static str, Range<u64>, MemAttrs) -> Result<(), E>,
) -> Result<(), E> {
    let mut region = |what, range: Range<u64>, attrs| {
        if range.is_empty() {
            Ok(())
        } else {
            visit(what, range, attrs)
        }
    };
    region("text", image.text.clone(), MemAttrs::normal(Perm::RX))?;
    region("rodata", image.rodata.clone(), MemAttrs::normal(Perm::R))?;
    let mut next = image.writable.start;
    for guard in guards {
        region(
            "data and stacks",
            next..guard.start,
            MemAttrs::normal(Perm::RW),
        )?;
        next = guard.end;
    }
    region(
        "data and stacks",
        next..image.writable.end,
        MemAttrs::normal(Perm::RW),
    )?;
    for cell in tables.cells {
        for ram in cell.memory.iter().filter(|r| r.kind == RegionKind::Ram) {
            let base = ram.hpa.as_u64();
            region(
                "cell memory",
                base..base + ram.size,
                MemAttrs::normal(Perm::RW),
            )?;
        }
    }
    for channel in tables.channels {
        let base = channel.memory.base.as_u64();
        let range = base..base + channel.memory.size;
        region("channel", range, MemAttrs::normal(Perm::RW))?;
    }
    for device in devices {
        let (start, end) = device.range;
        region(device.name, start..end, MemAttrs::device(Perm::RW))?;
    }
    Ok(())
}

/// Builds the plan in format `F` from `pool`, rooted at `start_level`,
/// translating `va_bits` of virtual address.
pub(crate) fn build<F: DescriptorFormat<Input = VirtAddr>>(
    pool: TablePool<'_>,
    start_level: Level,
    va_bits: u32,
    image: &ImageLayout,
    guards: impl Iterator<Item = Range<u64>>,
    tables: &Tables<'_>,
    devices: &[DeviceWindow],
) -> Result<Built, BuildError> {
    let mut map = PageTable::<F>::new(pool, start_level, va_bits).map_err(BuildError::Setup)?;
    for_each_region(image, guards, tables, devices, |what, range, attrs| {
        map.map(
            VirtAddr::new(range.start),
            PhysAddr::new(range.start),
            range.end - range.start,
            attrs,
        )
        .map_err(|error| BuildError::Map { what, error })
    })?;
    Ok(Built {
        root: map.root().as_u64(),
        tables: map.tables_used(),
        blocks_2m: map.blocks_at(Level::Two),
        pages: map.blocks_at(Level::Three),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulkhead_config::lower;

    use crate::cell::stage2::tests::{config_files, load_config};
    use crate::mm::Table;
    use crate::mm::fake::FakeFormat;
    use crate::mm::page_table::MemKind;

    /// A plausible image: 64 KiB code, 16 KiB read-only data, 2 MiB of
    /// data and stacks with two guard pages.
    fn image() -> (ImageLayout, Vec<Range<u64>>) {
        let base = 0x4020_0000;
        let layout = ImageLayout {
            text: base..base + 0x1_0000,
            rodata: base + 0x1_0000..base + 0x1_4000,
            writable: base + 0x1_4000..base + 0x21_4000,
        };
        let guards = vec![
            base + 0x2_0000..base + 0x2_1000,
            base + 0x3_0000..base + 0x3_1000,
        ];
        (layout, guards)
    }

    fn every_config() -> Vec<bulkhead_config::Config> {
        config_files()
            .iter()
            .map(|path| load_config(path))
            .collect()
    }

    #[test]
    fn nothing_is_writable_and_executable_and_cell_memory_never_executes() {
        let (layout, guards) = image();
        for config in every_config() {
            let tables = lower(&config);
            let devices = [DeviceWindow::pages("console", 0x900_0000, 0x1000)];
            let mut executable = Vec::new();
            for_each_region(
                &layout,
                guards.iter().cloned(),
                &tables,
                &devices,
                |what, range, attrs| {
                    let perm = attrs.perm;
                    assert!(!(perm.write && perm.execute), "{what} {range:#x?} is W+X");
                    if perm.execute {
                        executable.push(range.clone());
                    }
                    if attrs.kind == MemKind::Device {
                        assert!(!perm.execute, "device {what} is executable");
                    }
                    for guard in &guards {
                        assert!(
                            range.end <= guard.start || range.start >= guard.end,
                            "{what} maps a guard"
                        );
                    }
                    Ok::<(), ()>(())
                },
            )
            .unwrap();
            assert_eq!(
                executable,
                core::slice::from_ref(&layout.text),
                "{}: only code executes",
                config.name
            );
        }
    }

    #[test]
    fn the_plan_builds_in_the_adversarial_fake_format_and_leaves_guards_unmapped() {
        let (layout, guards) = image();
        let config = every_config().remove(0);
        let tables = lower(&config);
        let mut pool: Vec<Table> = (0..64).map(|_| Table::ZEROED).collect();
        let pool = TablePool::new(&mut pool, PhysAddr::new(0x8000_0000)).unwrap();
        let built = build::<FakeFormat<VirtAddr, true>>(
            pool,
            Level::One,
            39,
            &layout,
            guards.iter().cloned(),
            &tables,
            &[],
        )
        .unwrap();
        assert!(built.tables >= 2 && built.pages > 0);
    }

    #[test]
    fn device_windows_cover_whole_pages() {
        assert_eq!(
            DeviceWindow::pages("a", 0x1234, 0x10).range,
            (0x1000, 0x2000)
        );
        assert_eq!(
            DeviceWindow::pages("b", 0x1000, 0x1001).range,
            (0x1000, 0x3000)
        );
        assert_eq!(DeviceWindow::pages("c", 0x5000, 0).range, (0x5000, 0x5000));
    }
}
