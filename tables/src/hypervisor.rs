//! The hypervisor's own resources: memory, console, log transport.

use crate::platform::UartDesc;
use crate::range::MemRange;

/// Where hypervisor `defmt` log records go (`log = "ring"` or `"none"`).
///
/// There is no semihosting transport: a guest at EL1 can make the same
/// semihosting calls the hypervisor would (host files, host commands, exit
/// QEMU), so no configuration that runs guests may enable it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum LogTransport {
    /// An in-memory ring buffer (`BULKHEAD_LOG_RING`): QEMU runs read it
    /// from the machine's RAM file, a debugger from the board.
    #[default]
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
