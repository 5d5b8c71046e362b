//! Ranges: host-physical memory and x86 I/O ports.

use core::fmt;

use crate::addr::PhysAddr;

/// A physical range `base..base + size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemRange {
    /// First byte.
    pub base: PhysAddr,
    /// Length in bytes (0 for an absent frame).
    pub size: u64,
}

impl MemRange {
    /// A range.
    pub const fn new(base: PhysAddr, size: u64) -> Self {
        MemRange { base, size }
    }

    /// One past the last byte.
    pub const fn end(&self) -> PhysAddr {
        PhysAddr::new(self.base.as_u64() + self.size)
    }

    /// Whether the range is absent (size 0).
    pub const fn is_empty(&self) -> bool {
        self.size == 0
    }
}

/// A range of x86 I/O ports `base..base + size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub base: u16,
    /// Number of ports (at least 1; `base + size <= 0x10000`).
    pub size: u16,
}

impl PortRange {
    /// A range.
    pub const fn new(base: u16, size: u16) -> Self {
        PortRange { base, size }
    }

    /// Whether `port` lies in the range.
    pub const fn contains(&self, port: u16) -> bool {
        port >= self.base && (port - self.base) < self.size
    }

    /// One past the last port (0x10000 for a range that ends at the top).
    pub const fn end(&self) -> u32 {
        self.base as u32 + self.size as u32
    }

    /// Whether the two ranges share a port.
    pub const fn overlaps(&self, other: &PortRange) -> bool {
        self.size > 0
            && other.size > 0
            && (self.base as u32) < other.end()
            && (other.base as u32) < self.end()
    }
}

/// `0x3f8..=0x3ff`, or `0xe9` for a single port.
impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.size == 1 {
            write!(f, "{:#x}", self.base)
        } else {
            write!(f, "{:#x}..={:#x}", self.base, self.end() - 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern crate std;
    use std::string::ToString;

    #[test]
    fn port_ranges_overlap_contain_and_print() {
        let com1 = PortRange::new(0x3f8, 8);
        assert!(com1.contains(0x3ff) && !com1.contains(0x400) && !com1.contains(0x3f7));
        assert!(com1.overlaps(&PortRange::new(0x3ff, 1)));
        assert!(!com1.overlaps(&PortRange::new(0x400, 4)));
        assert!(!com1.overlaps(&PortRange::new(0x3f8, 0)));
        assert_eq!(PortRange::new(0xffff, 1).end(), 0x1_0000);
        assert_eq!(com1.to_string(), "0x3f8..=0x3ff");
        assert_eq!(PortRange::new(0xe9, 1).to_string(), "0xe9");
    }

    #[test]
    fn memory_ranges_end_where_their_size_says() {
        let r = MemRange::new(PhysAddr::new(0x4000_0000), 0x1000);
        assert_eq!(r.end(), PhysAddr::new(0x4000_1000));
        assert!(!r.is_empty() && MemRange::new(PhysAddr::new(0), 0).is_empty());
    }
}
