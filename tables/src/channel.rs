//! Shared-memory channels between cells.

use crate::addr::{CellId, GuestPhysAddr};
use crate::perm::Perm;
use crate::range::MemRange;

/// One side of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelEndDesc {
    /// Cell.
    pub cell: CellId,
    /// Where it sees the channel.
    pub gpa: GuestPhysAddr,
    /// Its access.
    pub perm: Perm,
}

/// A shared-memory channel.
#[derive(Debug, Clone, Copy)]
pub struct ChannelDesc {
    /// Name.
    pub name: &'static str,
    /// Host memory.
    pub memory: MemRange,
    /// Ends.
    pub ends: &'static [ChannelEndDesc],
}
