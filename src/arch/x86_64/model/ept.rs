//! Intel EPT (extended page table) entry encodings, 4-level walk.
//!
//! Pure bit manipulation for [`crate::mm::PageTable`]: a cell's
//! guest-physical ([`GuestPhysAddr`]) to host-physical translation, built by
//! the arch-neutral [`crate::cell::stage2::build`] from
//! [`START_LEVEL`] (level 0 = PML4, level 3 = PT) over [`INPUT_BITS`] bits.
//! Layout (Intel SDM Vol. 3C, 29.3.2 "EPT Translation Mechanism", tables
//! 29-1 to 29-6):
//!
//! | bits     | meaning                                                      |
//! |----------|--------------------------------------------------------------|
//! | 0        | R: reads allowed                                             |
//! | 1        | W: writes allowed                                            |
//! | 2        | X: instruction fetches allowed (supervisor fetches with mode-based execute control, which Bulkhead leaves off) |
//! | 5:3      | leaves: EPT memory type (0 UC, 6 WB); reserved in tables     |
//! | 6        | leaves: ignore PAT, always 0 (the guest's PAT still combines) |
//! | 7        | levels 1 and 2: 1 = leaf (1 GiB / 2 MiB page); reserved at level 0; ignored at level 3 |
//! | 45:12    | next-table / output address ([`Ept::OUTPUT_BITS`] = 46)      |
//!
//! An entry with bits 2:0 all clear is not present. Accessed/dirty flags
//! (bits 8, 9) are not enabled ([`eptp`] leaves bit 6 clear) and table
//! entries always grant R, W and X, so leaves alone decide the permissions.
//!
//! Output addresses: 46 bits, the MAXPHYADDR of the Skylake-SP class CPUs
//! Bochs emulates (`corei7_skylake_x`: CPUID.80000008H:EAX\[7:0\] = 46).
//! Address bits at or above the CPU's MAXPHYADDR are reserved (an EPT
//! misconfiguration), so the target code must still check that the
//! addresses it maps lie below the running CPU's MAXPHYADDR if it is less.
//!
//! Permissions: EPT cannot express write-without-read (a misconfiguration),
//! and execute-only needs a capability (IA32_VMX_EPT_VPID_CAP bit 0) that
//! Bulkhead does not rely on, so every mapping must be readable.

use crate::addr::{GuestPhysAddr, PhysAddr};
use crate::mm::page_table::{Decoded, DescriptorFormat, Level, MemAttrs, MemKind, Perm};

/// Root level of the walk: the PML4.
pub(crate) const START_LEVEL: Level = Level::Zero;

/// Guest-physical address bits translated by a 4-level walk.
pub(crate) const INPUT_BITS: u32 = 48;

/// Bit 0: reads allowed.
const READ: u64 = 1 << 0;
/// Bit 1: writes allowed.
const WRITE: u64 = 1 << 1;
/// Bit 2: instruction fetches allowed.
const EXECUTE: u64 = 1 << 2;
/// Bits 2:0: the access bits; all clear means not present.
const ACCESS_MASK: u64 = READ | WRITE | EXECUTE;
/// Bits 5:3 of a leaf: EPT memory type.
const MEMORY_TYPE_SHIFT: u32 = 3;
/// Mask of the memory type.
const MEMORY_TYPE_MASK: u64 = 0b111 << MEMORY_TYPE_SHIFT;
/// Bit 6 of a leaf: ignore the guest's PAT.
const IGNORE_PAT: u64 = 1 << 6;
/// Bit 7: leaf at levels 1 and 2 ("large page"); reserved at level 0.
const LARGE_PAGE: u64 = 1 << 7;
/// Bits 45:12: next-table or output address.
const ADDRESS_MASK: u64 = ((1 << OUTPUT_BITS) - 1) & !0xfff;
/// Bits 51:46: reserved above MAXPHYADDR (must be zero).
const RESERVED_HIGH: u64 = ((1 << 52) - 1) & !((1 << OUTPUT_BITS) - 1);

/// Output-address bits (see the module documentation).
const OUTPUT_BITS: u32 = 46;

/// EPT memory type 0: uncacheable.
pub(crate) const MEMORY_TYPE_UC: u64 = 0;
/// EPT memory type 6: write-back.
pub(crate) const MEMORY_TYPE_WB: u64 = 6;

/// EPTP bits 5:3: page-walk length minus one (4 levels).
const EPTP_WALK_LENGTH_4: u64 = 3 << 3;

/// EPT descriptors: a cell's guest-physical to host-physical translation.
///
/// RAM ([`MemKind::Normal`]) is write-back, device memory uncacheable;
/// mappings without `read` are refused (see the module documentation).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ept;

/// The EPT pointer (VMCS field `EPT_POINTER`) for the PML4 at `root`:
/// write-back paging-structure accesses (bits 2:0 = 6), a 4-level walk
/// (bits 5:3 = 3), accessed/dirty flags off (bit 6 = 0).
pub(crate) fn eptp(root: PhysAddr) -> u64 {
    (root.as_u64() & ADDRESS_MASK) | EPTP_WALK_LENGTH_4 | MEMORY_TYPE_WB
}

/// The access bits of `perm`.
fn access_bits(perm: Perm) -> u64 {
    let mut bits = 0;
    if perm.read {
        bits |= READ;
    }
    if perm.write {
        bits |= WRITE;
    }
    if perm.execute {
        bits |= EXECUTE;
    }
    bits
}

impl DescriptorFormat for Ept {
    type Input = GuestPhysAddr;
    const OUTPUT_BITS: u32 = OUTPUT_BITS;

    fn invalid(_level: Level) -> u64 {
        0
    }

    fn table(_level: Level, next: PhysAddr) -> u64 {
        (next.as_u64() & ADDRESS_MASK) | READ | WRITE | EXECUTE
    }

    fn block(level: Level, out: PhysAddr, attrs: MemAttrs) -> u64 {
        let memory_type = match attrs.kind {
            MemKind::Normal => MEMORY_TYPE_WB,
            MemKind::Device => MEMORY_TYPE_UC,
        };
        let size_bit = match level {
            Level::One | Level::Two => LARGE_PAGE,
            Level::Zero | Level::Three => 0,
        };
        (out.as_u64() & ADDRESS_MASK)
            | memory_type << MEMORY_TYPE_SHIFT
            | size_bit
            | access_bits(attrs.perm)
    }

    /// Anything the CPU would report as an EPT misconfiguration (write
    /// without read, reserved memory types 2, 3 and 7, reserved bits set,
    /// a large page at level 0, a misaligned large page) decodes as
    /// [`Decoded::Invalid`]: it translates nothing. Write-back leaves decode
    /// as [`MemKind::Normal`], every other memory type as
    /// [`MemKind::Device`]. The ignore-PAT, accessed and dirty bits are
    /// ignored.
    fn decode(entry: u64, level: Level) -> Decoded {
        let access = entry & ACCESS_MASK;
        if access == 0 || (access & WRITE != 0 && access & READ == 0) {
            return Decoded::Invalid;
        }
        if entry & RESERVED_HIGH != 0 {
            return Decoded::Invalid;
        }
        let leaf = match level {
            Level::Zero => {
                if entry & LARGE_PAGE != 0 {
                    return Decoded::Invalid;
                }
                false
            }
            Level::One | Level::Two => entry & LARGE_PAGE != 0,
            Level::Three => true,
        };
        let address = entry & ADDRESS_MASK;
        if !leaf {
            // Bits 7:3 of a non-leaf entry are reserved.
            if entry & (MEMORY_TYPE_MASK | IGNORE_PAT | LARGE_PAGE) != 0 {
                return Decoded::Invalid;
            }
            return Decoded::Table(PhysAddr::new(address));
        }
        if address & (level.entry_size() - 1) != 0 {
            return Decoded::Invalid;
        }
        let kind = match (entry & MEMORY_TYPE_MASK) >> MEMORY_TYPE_SHIFT {
            MEMORY_TYPE_WB => MemKind::Normal,
            2 | 3 | 7 => return Decoded::Invalid,
            _ => MemKind::Device,
        };
        Decoded::Block {
            out: PhysAddr::new(address),
            attrs: MemAttrs {
                kind,
                perm: Perm {
                    read: entry & READ != 0,
                    write: entry & WRITE != 0,
                    execute: entry & EXECUTE != 0,
                },
            },
        }
    }

    fn block_allowed(level: Level) -> bool {
        matches!(level, Level::One | Level::Two | Level::Three)
    }

    /// Every readable mapping is encodable exactly (uncacheable memory may
    /// be executable too); unreadable ones are refused: write-without-read
    /// is a misconfiguration, execute-only needs a capability and no access
    /// at all is no mapping.
    fn attrs_supported(attrs: MemAttrs) -> bool {
        attrs.perm.read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;

    fn all_perms() -> impl Iterator<Item = Perm> {
        (0..8).map(|bits| Perm {
            read: bits & 1 != 0,
            write: bits & 2 != 0,
            execute: bits & 4 != 0,
        })
    }

    #[test]
    fn eptp_is_write_back_four_level_walk() {
        assert_eq!(eptp(PhysAddr::new(0x0123_4000)), 0x0123_401e);
        // Low bits of a misaligned root never leak into the control bits.
        assert_eq!(eptp(PhysAddr::new(0x5fff)), 0x501e);
    }

    #[test]
    fn table_entries_grant_everything() {
        let next = PhysAddr::new(0x12_3456_7000);
        for level in [Level::Zero, Level::One, Level::Two] {
            let entry = Ept::table(level, next);
            assert_eq!(entry, 0x12_3456_7007);
            assert_eq!(Ept::decode(entry, level), Decoded::Table(next));
        }
    }

    #[test]
    fn ram_page_bits() {
        let entry = Ept::block(
            Level::Three,
            PhysAddr::new(0x0100_0000),
            MemAttrs::normal(Perm::RWX),
        );
        let expected = 0x0100_0000 // output address
            | 6 << 3 // memory type WB
            | 0b111; // R, W, X; bit 6 (ignore PAT) and bit 7 clear
        assert_eq!(entry, expected);
        assert_eq!(entry, 0x0100_0037);
        assert_eq!(
            Ept::decode(entry, Level::Three),
            Decoded::Block {
                out: PhysAddr::new(0x0100_0000),
                attrs: MemAttrs::normal(Perm::RWX)
            }
        );
    }

    #[test]
    fn device_page_bits() {
        let entry = Ept::block(
            Level::Three,
            PhysAddr::new(0xfec0_0000),
            MemAttrs::device(Perm::RW),
        );
        assert_eq!(entry, 0xfec0_0003); // UC (type 0), R and W
        assert_eq!(
            Ept::decode(entry, Level::Three),
            Decoded::Block {
                out: PhysAddr::new(0xfec0_0000),
                attrs: MemAttrs::device(Perm::RW)
            }
        );
    }

    #[test]
    fn large_pages_set_bit_7() {
        let two_mib = Ept::block(
            Level::Two,
            PhysAddr::new(2 * MIB),
            MemAttrs::normal(Perm::RX),
        );
        assert_eq!(two_mib, 0x20_0000 | 1 << 7 | 6 << 3 | 0b101);
        let one_gib = Ept::block(Level::One, PhysAddr::new(GIB), MemAttrs::normal(Perm::R));
        assert_eq!(one_gib, 0x4000_0000 | 1 << 7 | 6 << 3 | 0b001);
        assert_eq!(
            Ept::decode(one_gib, Level::One),
            Decoded::Block {
                out: PhysAddr::new(GIB),
                attrs: MemAttrs::normal(Perm::R)
            }
        );
    }

    #[test]
    fn every_supported_attribute_round_trips_at_every_leaf_level() {
        for level in [Level::One, Level::Two, Level::Three] {
            let out = PhysAddr::new(0x3f_c000_0000); // 1 GiB aligned, 46-bit
            for kind in [MemKind::Normal, MemKind::Device] {
                for perm in all_perms() {
                    let attrs = MemAttrs { kind, perm };
                    assert_eq!(Ept::attrs_supported(attrs), perm.read, "{attrs:?}");
                    if !Ept::attrs_supported(attrs) {
                        continue;
                    }
                    let entry = Ept::block(level, out, attrs);
                    assert_eq!(
                        Ept::decode(entry, level),
                        Decoded::Block { out, attrs },
                        "{level:?} {attrs:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn unreadable_mappings_are_rejected() {
        assert!(!Ept::attrs_supported(MemAttrs::normal(Perm::NONE)));
        for perm in [
            Perm {
                read: false,
                write: true,
                execute: false,
            },
            Perm {
                read: false,
                write: false,
                execute: true,
            },
            Perm {
                read: false,
                write: true,
                execute: true,
            },
        ] {
            assert!(!Ept::attrs_supported(MemAttrs::normal(perm)));
            assert!(!Ept::attrs_supported(MemAttrs::device(perm)));
        }
        assert!(Ept::attrs_supported(MemAttrs::device(Perm::RWX)));
    }

    #[test]
    fn leaves_only_below_the_pml4() {
        assert!(!Ept::block_allowed(Level::Zero));
        assert!(Ept::block_allowed(Level::One));
        assert!(Ept::block_allowed(Level::Two));
        assert!(Ept::block_allowed(Level::Three));
    }

    #[test]
    fn not_present_and_misconfigured_entries_are_invalid() {
        for level in Level::ALL {
            assert_eq!(Ept::decode(Ept::invalid(level), level), Decoded::Invalid);
            // Bits 2:0 clear: not present, whatever else is set.
            assert_eq!(Ept::decode(0x1000_00b8, level), Decoded::Invalid);
            // Write without read.
            assert_eq!(Ept::decode(0x1000_0032, level), Decoded::Invalid);
            assert_eq!(Ept::decode(0x1000_0036, level), Decoded::Invalid);
            // An address bit above the 46-bit output range.
            assert_eq!(Ept::decode(1 << 46 | 0x7, level), Decoded::Invalid);
        }
        // Bit 7 is reserved in a PML4 entry.
        assert_eq!(Ept::decode(0x87, Level::Zero), Decoded::Invalid);
        // Bits 7:3 are reserved in a table entry.
        assert_eq!(Ept::decode(0x1000_0037, Level::Two), Decoded::Invalid);
        // Reserved memory types 2, 3 and 7.
        for memory_type in [2, 3, 7] {
            assert_eq!(
                Ept::decode(0x1000_0007 | memory_type << 3, Level::Three),
                Decoded::Invalid
            );
        }
        // A 2 MiB page with address bits 20:12 set.
        assert_eq!(Ept::decode(0x20_1000 | 0xb7, Level::Two), Decoded::Invalid);
    }

    #[test]
    fn other_memory_types_are_not_write_back() {
        // WC (1), WT (4), WP (5) are not produced but decode as uncached.
        for memory_type in [1, 4, 5] {
            assert_eq!(
                Ept::decode(0x1000 | memory_type << 3 | 0b011, Level::Three),
                Decoded::Block {
                    out: PhysAddr::new(0x1000),
                    attrs: MemAttrs::device(Perm::RW)
                }
            );
        }
        // Ignore-PAT, accessed, dirty and level-3 bit 7 do not matter.
        assert_eq!(
            Ept::decode(0x1000 | 0b1111 << 6 | 6 << 3 | 0b001, Level::Three),
            Decoded::Block {
                out: PhysAddr::new(0x1000),
                attrs: MemAttrs::normal(Perm::R)
            }
        );
    }

    #[test]
    fn start_level_and_input_bits_make_a_four_level_walk() {
        assert_eq!(START_LEVEL, Level::Zero);
        assert_eq!(INPUT_BITS, START_LEVEL.shift() + 9);
    }
}
