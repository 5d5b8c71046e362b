//! The types of Bulkhead's compiled-in configuration.
//!
//! A product TOML is checked on the host (`bulkhead-config`) and lowered to
//! a [`Tables`] value built from the types here; codegen prints that value as
//! Rust `static`s, which the hypervisor includes from `$OUT_DIR/config.rs`.
//! So the hypervisor, the checker and codegen share one definition of every
//! descriptor, as Hubris's kernel and build system share its `abi` crate: a
//! new config field is added here once.
//!
//! Everything is const-constructible, `no_std` and allocation-free, so the
//! generated tables need no parser and no heap on the target. The optional
//! `serde` feature (host only) derives `Deserialize` for the values the TOML
//! schema spells, in the TOML's spelling.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod addr;
mod cell;
mod channel;
mod hypervisor;
mod perm;
mod platform;
mod range;

pub use addr::{CellId, CpuId, GuestPhysAddr, IrqNum, PhysAddr, VirtAddr};
pub use cell::{
    CellConsole, CellDesc, FaultPolicy, ImageDesc, ImageKind, PhysicalTimer, RegionDesc,
    RegionKind, SegmentDesc, VirtualCounter,
};
pub use channel::{ChannelDesc, ChannelEndDesc};
pub use hypervisor::{HypervisorDesc, LogTransport};
pub use perm::Perm;
pub use platform::{Arch, CpuDesc, DeviceDesc, IntcDesc, PlatformDesc, UartDesc, UartKind};
pub use range::{MemRange, PortRange};

/// The whole compiled-in configuration, as one value to pass around (and to
/// build at run time in host tests, with `bulkhead_config::lower`).
#[derive(Debug, Clone, Copy)]
pub struct Tables<'a> {
    /// Config name.
    pub name: &'a str,
    /// Board.
    pub platform: &'a PlatformDesc,
    /// Hypervisor resources.
    pub hypervisor: &'a HypervisorDesc,
    /// CPUs, indexed by [`CpuId`].
    pub cpus: &'a [CpuDesc],
    /// Devices; cells refer to them by index.
    pub devices: &'a [DeviceDesc],
    /// Cells, indexed by [`CellId`].
    pub cells: &'a [CellDesc],
    /// Channels.
    pub channels: &'a [ChannelDesc],
}
