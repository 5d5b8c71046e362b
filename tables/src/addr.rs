//! Address and identifier newtypes, so guest and host values never mix.
//!
//! `PhysAddr` is a host physical address, `GuestPhysAddr` an address in a
//! cell's guest-physical (intermediate physical) space. Neither implements
//! arithmetic operators: callers pick `checked_add`, `align_down`, ... and
//! convert explicitly with `as_u64`.

use core::fmt;

macro_rules! address_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(u64);

        impl $name {
            /// Wraps a raw address.
            pub const fn new(raw: u64) -> Self {
                Self(raw)
            }

            /// The raw address.
            pub const fn as_u64(self) -> u64 {
                self.0
            }

            /// `self + offset`, or `None` on overflow.
            pub const fn checked_add(self, offset: u64) -> Option<Self> {
                match self.0.checked_add(offset) {
                    Some(raw) => Some(Self(raw)),
                    None => None,
                }
            }

            /// Rounds down to a multiple of `align` (a power of two).
            pub const fn align_down(self, align: u64) -> Self {
                Self(self.0 & !(align - 1))
            }

            /// Whether the address is a multiple of `align` (a power of two).
            pub const fn is_aligned(self, align: u64) -> bool {
                self.0 & (align - 1) == 0
            }

            /// Distance from `base` up to `self`, or `None` if `self < base`.
            pub const fn offset_from(self, base: Self) -> Option<u64> {
                self.0.checked_sub(base.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{:#x}"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }

        #[cfg(target_os = "none")]
        impl defmt::Format for $name {
            fn format(&self, f: defmt::Formatter<'_>) {
                defmt::write!(f, "{=u64:#x}", self.0)
            }
        }
    };
}

address_type!(
    /// A host physical address.
    PhysAddr,
    "PA:"
);
address_type!(
    /// A guest-physical address (IPA on AArch64, GPA on x86).
    GuestPhysAddr,
    "GPA:"
);
address_type!(
    /// A virtual address in the hypervisor's own translation regime.
    VirtAddr,
    "VA:"
);

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $repr:ty) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        #[cfg_attr(target_os = "none", derive(defmt::Format))]
        #[repr(transparent)]
        pub struct $name(pub $repr);

        impl $name {
            /// The raw number, for indexing tables.
            pub const fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// Index of a cell in the generated cell table.
    CellId,
    u16
);
id_type!(
    /// Index of a physical CPU in the platform's CPU list (not its MPIDR).
    CpuId,
    u16
);
id_type!(
    /// An interrupt number as the interrupt controller numbers it (GIC INTID).
    IrqNum,
    u32
);

#[cfg(test)]
mod tests {
    use super::*;

    extern crate std;
    use std::format;

    #[test]
    fn alignment_and_offsets() {
        let a = PhysAddr::new(0x4020_1234);
        assert_eq!(a.align_down(0x1000), PhysAddr::new(0x4020_1000));
        assert!(!a.is_aligned(0x1000));
        assert!(PhysAddr::new(0x4020_0000).is_aligned(0x20_0000));
        assert_eq!(a.offset_from(PhysAddr::new(0x4000_0000)), Some(0x20_1234));
        assert_eq!(PhysAddr::new(1).offset_from(PhysAddr::new(2)), None);
        assert_eq!(PhysAddr::new(u64::MAX).checked_add(1), None);
        assert_eq!(format!("{a:?}"), "PA:0x40201234");
        assert_eq!(format!("{:?}", GuestPhysAddr::new(0x10)), "GPA:0x10");
    }
}
