//! The compiled-in configuration: descriptor types and generated tables.
//!
//! `build.rs` checks the product TOML on the host and writes
//! `$OUT_DIR/config.rs`, which fills the `static`s below. The types come
//! from `bulkhead-tables` (`tables/`), shared with the checker and codegen;
//! they are const-constructible, so nothing here parses or allocates.

#[allow(unused_imports, reason = "not every back end uses every type")]
pub(crate) use bulkhead_tables::{
    Arch, CellConsole, CellDesc, ChannelDesc, ChannelEndDesc, CpuDesc, DeviceDesc, FaultPolicy,
    HypervisorDesc, ImageDesc, ImageKind, IntcDesc, LogTransport, MemRange, Perm, PhysicalTimer,
    PlatformDesc, PortRange, RegionDesc, RegionKind, SegmentDesc, Tables, UartDesc, UartKind,
    VirtualCounter,
};

#[allow(
    unused_imports,
    reason = "host builds use none of the generated tables"
)]
use crate::addr::{CellId, CpuId, GuestPhysAddr, IrqNum, PhysAddr};

/// The tables generated from the product TOML (generated items are `pub`,
/// and not every image uses every one of them).
#[allow(unreachable_pub, dead_code)]
pub(crate) mod generated {
    #[allow(clippy::wildcard_imports)]
    use super::*;
    include!(concat!(env!("OUT_DIR"), "/config.rs"));
}

#[allow(unused_imports, reason = "not every image uses every table")]
pub(crate) use generated::{
    CELL_COUNT, CELL_NAMES, CELLS, CHANNEL_COUNT, CHANNELS, CONFIG_NAME, CPU_COUNT, CPUS,
    DEVICE_COUNT, DEVICES, HYPERVISOR, MAX_CPUS_PER_CELL, MAX_REGIONS_PER_CELL, PLATFORM,
    STAGE2_TABLES_PER_CELL,
};

/// The tables compiled into this image.
pub(crate) static TABLES: Tables<'static> = Tables {
    name: CONFIG_NAME,
    platform: &PLATFORM,
    hypervisor: &HYPERVISOR,
    cpus: &CPUS,
    devices: &DEVICES,
    cells: &CELLS,
    channels: &CHANNELS,
};
