//! The hypervisor's own translation on x86_64: 4-level paging entries
//! (IA-32e mode) as a [`DescriptorFormat`], so the map is built by the same
//! arch-neutral builder as every other table.
//!
//! Entries: P (bit 0), R/W (1), U/S (2, always clear: supervisor only),
//! PWT/PCD (3, 4: set for device memory, giving UC with the default PAT),
//! A/D (5, 6: preset so the CPU never writes the tables), PS (7: a 2 MiB
//! leaf at level 2), XD (63: set unless the mapping is executable; needs
//! `EFER.NXE`, which the entry code sets). Table entries are P | R/W and
//! never restrict what lies below them. 1 GiB leaves are not used (not
//! every CPU has them); every present entry is readable, so a mapping
//! without read permission cannot be expressed.

use crate::addr::{PhysAddr, VirtAddr};
use crate::mm::page_table::{Decoded, DescriptorFormat, Level, MemAttrs, MemKind, Perm};

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
const WRITE_THROUGH: u64 = 1 << 3;
const CACHE_DISABLE: u64 = 1 << 4;
const ACCESSED: u64 = 1 << 5;
const DIRTY: u64 = 1 << 6;
const PAGE_SIZE_BIT: u64 = 1 << 7;
const EXECUTE_DISABLE: u64 = 1 << 63;
/// Physical address bits 51:12.
const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;

/// First lookup level (PML4).
pub(crate) const START_LEVEL: Level = Level::Zero;
/// Virtual address bits (4-level paging).
pub(crate) const VA_BITS: u32 = 48;

/// The hypervisor's page-table format.
pub(crate) struct HostPaging;

impl DescriptorFormat for HostPaging {
    type Input = VirtAddr;

    const OUTPUT_BITS: u32 = 46;

    fn invalid(_level: Level) -> u64 {
        0
    }

    fn table(_level: Level, next: PhysAddr) -> u64 {
        (next.as_u64() & ADDRESS_MASK) | PRESENT | WRITABLE | ACCESSED
    }

    fn block(level: Level, out: PhysAddr, attrs: MemAttrs) -> u64 {
        let mut entry = (out.as_u64() & ADDRESS_MASK) | PRESENT | ACCESSED | DIRTY;
        if level != Level::Three {
            entry |= PAGE_SIZE_BIT;
        }
        if attrs.perm.write {
            entry |= WRITABLE;
        }
        if !attrs.perm.execute {
            entry |= EXECUTE_DISABLE;
        }
        if attrs.kind == MemKind::Device {
            entry |= WRITE_THROUGH | CACHE_DISABLE;
        }
        entry
    }

    fn decode(entry: u64, level: Level) -> Decoded {
        if entry & PRESENT == 0 || entry & USER != 0 {
            return Decoded::Invalid;
        }
        let address = PhysAddr::new(entry & ADDRESS_MASK);
        let leaf = match level {
            Level::Zero => false,
            Level::One | Level::Two => entry & PAGE_SIZE_BIT != 0,
            Level::Three => true,
        };
        if !leaf {
            return Decoded::Table(address);
        }
        if level == Level::One {
            // Never written by this format.
            return Decoded::Invalid;
        }
        // Level 2 leaves keep PAT in bit 12: never set by this format.
        let address = if level == Level::Two {
            PhysAddr::new(address.as_u64() & !(1 << 12))
        } else {
            address
        };
        let kind = if entry & (WRITE_THROUGH | CACHE_DISABLE) != 0 {
            MemKind::Device
        } else {
            MemKind::Normal
        };
        Decoded::Block {
            out: address,
            attrs: MemAttrs {
                kind,
                perm: Perm {
                    read: true,
                    write: entry & WRITABLE != 0,
                    execute: entry & EXECUTE_DISABLE == 0,
                },
            },
        }
    }

    fn block_allowed(level: Level) -> bool {
        matches!(level, Level::Two | Level::Three)
    }

    fn attrs_supported(attrs: MemAttrs) -> bool {
        attrs.perm.read && !(attrs.kind == MemKind::Device && attrs.perm.execute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::{PageTable, Table, TablePool};

    #[test]
    fn leaves_encode_permissions_and_memory_type() {
        let text = HostPaging::block(
            Level::Three,
            PhysAddr::new(0x10_1000),
            MemAttrs::normal(Perm::RX),
        );
        assert_eq!(text, 0x10_1000 | PRESENT | ACCESSED | DIRTY);
        let data = HostPaging::block(
            Level::Two,
            PhysAddr::new(0x20_0000),
            MemAttrs::normal(Perm::RW),
        );
        assert_eq!(
            data,
            0x20_0000 | PRESENT | WRITABLE | ACCESSED | DIRTY | PAGE_SIZE_BIT | EXECUTE_DISABLE
        );
        let device = HostPaging::block(
            Level::Three,
            PhysAddr::new(0xfee0_0000),
            MemAttrs::device(Perm::RW),
        );
        assert_ne!(device & CACHE_DISABLE, 0);
        assert_ne!(device & WRITE_THROUGH, 0);
        assert_eq!(device & USER, 0);
    }

    #[test]
    fn decode_round_trips_every_supported_leaf() {
        for level in [Level::Two, Level::Three] {
            for attrs in [
                MemAttrs::normal(Perm::R),
                MemAttrs::normal(Perm::RW),
                MemAttrs::normal(Perm::RX),
                MemAttrs::normal(Perm::RWX),
                MemAttrs::device(Perm::RW),
                MemAttrs::device(Perm::R),
            ] {
                let out = PhysAddr::new(0x4020_0000);
                let entry = HostPaging::block(level, out, attrs);
                assert_eq!(
                    HostPaging::decode(entry, level),
                    Decoded::Block { out, attrs },
                    "{level:?} {attrs:?}"
                );
            }
        }
    }

    #[test]
    fn tables_and_invalid_entries_decode() {
        let next = PhysAddr::new(0x1234_5000);
        for level in [Level::Zero, Level::One, Level::Two] {
            assert_eq!(
                HostPaging::decode(HostPaging::table(level, next), level),
                Decoded::Table(next)
            );
        }
        assert_eq!(HostPaging::decode(0, Level::Two), Decoded::Invalid);
        // A user page or a 1 GiB leaf is never ours.
        assert_eq!(
            HostPaging::decode(PRESENT | USER, Level::Three),
            Decoded::Invalid
        );
        assert_eq!(
            HostPaging::decode(PRESENT | PAGE_SIZE_BIT, Level::One),
            Decoded::Invalid
        );
    }

    #[test]
    fn unsupported_attributes_are_rejected() {
        assert!(!HostPaging::attrs_supported(MemAttrs::normal(Perm::NONE)));
        assert!(!HostPaging::attrs_supported(MemAttrs::device(Perm::RWX)));
        assert!(!HostPaging::attrs_supported(MemAttrs::normal(Perm {
            read: false,
            write: true,
            execute: false,
        })));
        assert!(HostPaging::attrs_supported(MemAttrs::normal(Perm::RWX)));
        assert!(!HostPaging::block_allowed(Level::One));
    }

    #[test]
    fn a_hypervisor_like_map_uses_pages_and_2_mib_leaves() {
        let mut tables: Vec<Table> = (0..16).map(|_| Table::ZEROED).collect();
        let pool = TablePool::new(&mut tables, PhysAddr::new(0x80_0000)).unwrap();
        let mut map = PageTable::<HostPaging>::new(pool, START_LEVEL, VA_BITS).unwrap();
        let mut identity = |base: u64, size: u64, attrs| {
            map.map(VirtAddr::new(base), PhysAddr::new(base), size, attrs)
                .unwrap();
        };
        identity(0x10_0000, 0x8000, MemAttrs::normal(Perm::RX));
        identity(0x10_8000, 0x4000, MemAttrs::normal(Perm::R));
        identity(0x10_c000, 0x3_4000, MemAttrs::normal(Perm::RW));
        identity(0x100_0000, 0x100_0000, MemAttrs::normal(Perm::RW));
        assert_eq!(map.blocks_at(Level::Two), 8);
        assert_eq!(map.blocks_at(Level::Three), 8 + 4 + 0x34);
        let (out, attrs) = map.translate(VirtAddr::new(0x10_8010)).unwrap();
        assert_eq!(out.as_u64(), 0x10_8010);
        assert_eq!(attrs, MemAttrs::normal(Perm::R));
        assert!(
            map.translate(VirtAddr::new(0)).is_none(),
            "null is unmapped"
        );
        assert!(map.translate(VirtAddr::new(0x14_0000)).is_none());
    }
}
