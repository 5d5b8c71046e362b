//! The hypervisor's own resources: memory, console, log transport.

use crate::platform::UartDesc;
use crate::range::MemRange;

/// Where hypervisor `defmt` log records go (`log = "semihosting"`, `"ring"`
/// or `"none"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum LogTransport {
    /// ARM semihosting to a host file (QEMU, or a debugger on a board).
    #[default]
    Semihosting,
    /// An in-memory ring buffer a debugger reads (boards without a probe).
    Ring,
    /// No log records.
    None,
}

/// The hypervisor's own resources.
#[derive(Debug, Clone, Copy)]
pub struct HypervisorDesc {
    /// Host RAM it owns.
    pub memory: MemRange,
    /// UART for the banner, partition table and panics.
    pub console: UartDesc,
    /// defmt transport.
    pub log: LogTransport,
}
