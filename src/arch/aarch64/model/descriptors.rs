//! AArch64 VMSAv8-64 descriptor encodings (4 KiB granule) for EL2 stage 1 and stage 2.
//!
//! Pure bit manipulation for [`crate::mm::PageTable`]: no registers, no
//! assembly. Layout shared by both regimes (Arm ARM, "VMSAv8-64 translation
//! table format descriptors"):
//!
//! | bits    | meaning                                                        |
//! |---------|----------------------------------------------------------------|
//! | 1:0     | `0b11` table (levels 0-2) or page (level 3); `0b01` block (levels 1-2); bit 0 clear: invalid |
//! | 47:12   | next-table / output address (48-bit OA, no FEAT_LPA)           |
//! | 4:2     | stage 1: AttrIndx into `MAIR_EL2`                              |
//! | 5:2     | stage 2: MemAttr (memory type and cacheability)                |
//! | 7:6     | stage 1: AP\[2:1\]; stage 2: S2AP (bit 6 read, bit 7 write)    |
//! | 9:8     | SH, always inner shareable (`0b11`; ignored for Device memory) |
//! | 10      | AF, always set (no access-flag faults)                         |
//! | 54(:53) | stage 1: XN (bit 54); stage 2: XN\[1:0\] (bits 54:53)          |
//!
//! Assumptions the encodings make about the system registers:
//! - stage 1 is the non-VHE EL2 regime (`HCR_EL2.E2H == 0`, one VA range,
//!   one privilege level) with `MAIR_EL2` set to [`MAIR_EL2`];
//! - stage 2 runs with `HCR_EL2.FWB == 0`, so MemAttr\[5:2\] is combined with
//!   the guest's stage-1 attributes rather than overriding them.
//!
//! Hierarchical table attributes (APTable, XNTable, ...) are left zero, so
//! table descriptors never restrict what their leaves grant.

use crate::addr::{GuestPhysAddr, PhysAddr, VirtAddr};
use crate::mm::page_table::{Decoded, DescriptorFormat, Level, MemAttrs, MemKind, Perm};

/// Input-address bits of every cell's stage-2 space (lookup from level 1):
/// a 39-bit IPA space.
pub(crate) const STAGE2_IPA_BITS: u32 = 39;
/// First stage-2 lookup level for [`STAGE2_IPA_BITS`] with a 4 KiB granule.
pub(crate) const STAGE2_START_LEVEL: Level = Level::One;

/// `MAIR_EL2` attribute index of Device-nGnRE memory.
pub(crate) const MAIR_DEVICE_NGNRE_INDEX: u8 = 0;

/// `MAIR_EL2` attribute index of Normal write-back memory.
pub(crate) const MAIR_NORMAL_WB_INDEX: u8 = 1;

/// MAIR attribute byte: Device-nGnRE.
pub(crate) const MAIR_ATTR_DEVICE_NGNRE: u8 = 0x04;

/// MAIR attribute byte: Normal, inner and outer write-back non-transient,
/// read-allocate and write-allocate.
pub(crate) const MAIR_ATTR_NORMAL_WB: u8 = 0xff;

/// The `MAIR_EL2` value [`El2Stage1`] assumes: attribute 0 is Device-nGnRE
/// (`0x04`), attribute 1 Normal write-back RA/WA (`0xff`), the rest unused
/// (Device-nGnRnE). Equals `0xff04`.
pub(crate) const MAIR_EL2: u64 = (MAIR_ATTR_DEVICE_NGNRE as u64) << (8 * MAIR_DEVICE_NGNRE_INDEX)
    | (MAIR_ATTR_NORMAL_WB as u64) << (8 * MAIR_NORMAL_WB_INDEX);

/// Physical-address bits both formats can encode (bits 47:12 of an entry).
const OUTPUT_BITS: u32 = 48;

/// Bit 0: the entry is valid.
const VALID: u64 = 1 << 0;
/// Bit 1: table (levels 0-2) or page (level 3); clear means block.
const TABLE_OR_PAGE: u64 = 1 << 1;
/// Bits 47:12: next-table or output address.
const ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;
/// Bit 10: access flag.
const ACCESS_FLAG: u64 = 1 << 10;
/// Bits 9:8 = 0b11: inner shareable.
const INNER_SHAREABLE: u64 = 0b11 << 8;

/// Stage 1, bits 4:2: AttrIndx.
const S1_ATTR_INDEX_SHIFT: u32 = 2;
/// Stage 1, mask of AttrIndx.
const S1_ATTR_INDEX_MASK: u64 = 0b111 << S1_ATTR_INDEX_SHIFT;
/// Stage 1, bit 7 = AP\[2\]: read-only.
const S1_AP_READ_ONLY: u64 = 1 << 7;
/// Stage 1, bit 6 = AP\[1\]: RES1 in single-privilege regimes such as
/// non-VHE EL2 (so RW is AP\[2:1\] = `0b01`, RO `0b11`, as Linux nVHE does).
const S1_AP_RES1: u64 = 1 << 6;
/// Stage 1, bit 54: execute-never at EL2 (bit 53 is RES0 here).
const S1_EXECUTE_NEVER: u64 = 1 << 54;

/// Stage 2, bits 5:2: MemAttr.
const S2_MEMATTR_SHIFT: u32 = 2;
/// Stage 2, mask of MemAttr.
const S2_MEMATTR_MASK: u64 = 0b1111 << S2_MEMATTR_SHIFT;
/// Stage 2 MemAttr `0b0001`: Device-nGnRE.
const S2_MEMATTR_DEVICE_NGNRE: u64 = 0b0001;
/// Stage 2 MemAttr `0b1111`: Normal, outer and inner write-back.
const S2_MEMATTR_NORMAL_WB: u64 = 0b1111;
/// Stage 2 MemAttr\[3:2\] (entry bits 5:4): `0b00` means Device.
const S2_MEMATTR_OUTER_MASK: u64 = 0b1100;
/// Stage 2, bit 6 = S2AP\[0\]: reads allowed.
const S2AP_READ: u64 = 1 << 6;
/// Stage 2, bit 7 = S2AP\[1\]: writes allowed.
const S2AP_WRITE: u64 = 1 << 7;
/// Stage 2, bits 54:53 = XN\[1:0\] = `0b10`: execute-never at EL1 and EL0
/// (with or without FEAT_XNX, where bit 53 is RES0).
const S2_EXECUTE_NEVER: u64 = 0b10 << 53;
/// Stage 2, mask of XN\[1:0\].
const S2_EXECUTE_NEVER_MASK: u64 = 0b11 << 53;

/// EL2 stage-1 descriptors: the hypervisor's own (non-VHE) tables,
/// translating [`VirtAddr`] with attributes indexed through [`MAIR_EL2`].
///
/// Every valid EL2 mapping is readable, so mappings without `read` are
/// refused, as is executable Device memory.
#[derive(Clone, Copy, Debug)]
pub(crate) enum El2Stage1 {}

/// Stage-2 descriptors: a cell's guest-physical ([`GuestPhysAddr`]) to
/// physical translation, attributes in MemAttr and S2AP.
///
/// Any read/write combination is encodable; executable Device memory is
/// refused.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stage2 {}

/// Structure of an entry, before its attributes are interpreted.
enum Shape {
    Invalid,
    Table(PhysAddr),
    Leaf { out: PhysAddr },
}

/// Decodes the type bits and address of `entry` found at `level`.
fn shape(entry: u64, level: Level) -> Shape {
    if entry & VALID == 0 {
        return Shape::Invalid;
    }
    let table_or_page = entry & TABLE_OR_PAGE != 0;
    match (level, table_or_page) {
        (Level::Three, true) | (Level::One | Level::Two, false) => Shape::Leaf {
            out: PhysAddr::new(entry & ADDRESS_MASK & !(level.entry_size() - 1)),
        },
        (Level::Zero | Level::One | Level::Two, true) => {
            Shape::Table(PhysAddr::new(entry & ADDRESS_MASK))
        }
        // Level-0 blocks need FEAT_LPA2; `0b01` at level 3 is reserved.
        (Level::Zero | Level::Three, false) => Shape::Invalid,
    }
}

/// Type bits and address of a leaf at `level` mapping `out`.
fn leaf_base(level: Level, out: PhysAddr) -> u64 {
    let kind = match level {
        Level::Three => VALID | TABLE_OR_PAGE,
        Level::Zero | Level::One | Level::Two => VALID,
    };
    kind | (out.as_u64() & ADDRESS_MASK)
}

/// A table descriptor pointing to `next` (same at every level and stage).
fn table_descriptor(next: PhysAddr) -> u64 {
    VALID | TABLE_OR_PAGE | (next.as_u64() & ADDRESS_MASK)
}

/// Leaves are allowed at levels 1 (1 GiB), 2 (2 MiB) and 3 (pages).
fn leaf_allowed(level: Level) -> bool {
    matches!(level, Level::One | Level::Two | Level::Three)
}

impl DescriptorFormat for El2Stage1 {
    type Input = VirtAddr;
    const OUTPUT_BITS: u32 = OUTPUT_BITS;

    fn invalid(_level: Level) -> u64 {
        0
    }

    fn table(_level: Level, next: PhysAddr) -> u64 {
        table_descriptor(next)
    }

    fn block(level: Level, out: PhysAddr, attrs: MemAttrs) -> u64 {
        let attr_index = match attrs.kind {
            MemKind::Device => MAIR_DEVICE_NGNRE_INDEX,
            MemKind::Normal => MAIR_NORMAL_WB_INDEX,
        };
        let mut entry = leaf_base(level, out)
            | u64::from(attr_index) << S1_ATTR_INDEX_SHIFT
            | S1_AP_RES1
            | INNER_SHAREABLE
            | ACCESS_FLAG;
        if !attrs.perm.write {
            entry |= S1_AP_READ_ONLY;
        }
        if !attrs.perm.execute {
            entry |= S1_EXECUTE_NEVER;
        }
        entry
    }

    fn decode(entry: u64, level: Level) -> Decoded {
        match shape(entry, level) {
            Shape::Invalid => Decoded::Invalid,
            Shape::Table(next) => Decoded::Table(next),
            Shape::Leaf { out } => {
                let attr_index = (entry & S1_ATTR_INDEX_MASK) >> S1_ATTR_INDEX_SHIFT;
                let kind = if attr_index == u64::from(MAIR_NORMAL_WB_INDEX) {
                    MemKind::Normal
                } else {
                    MemKind::Device
                };
                let perm = Perm {
                    read: true,
                    write: entry & S1_AP_READ_ONLY == 0,
                    execute: entry & S1_EXECUTE_NEVER == 0,
                };
                Decoded::Block {
                    out,
                    attrs: MemAttrs { kind, perm },
                }
            }
        }
    }

    fn block_allowed(level: Level) -> bool {
        leaf_allowed(level)
    }

    fn attrs_supported(attrs: MemAttrs) -> bool {
        attrs.perm.read && !(attrs.kind == MemKind::Device && attrs.perm.execute)
    }
}

impl DescriptorFormat for Stage2 {
    type Input = GuestPhysAddr;
    const OUTPUT_BITS: u32 = OUTPUT_BITS;

    fn invalid(_level: Level) -> u64 {
        0
    }

    fn table(_level: Level, next: PhysAddr) -> u64 {
        table_descriptor(next)
    }

    fn block(level: Level, out: PhysAddr, attrs: MemAttrs) -> u64 {
        let memattr = match attrs.kind {
            MemKind::Device => S2_MEMATTR_DEVICE_NGNRE,
            MemKind::Normal => S2_MEMATTR_NORMAL_WB,
        };
        let mut entry =
            leaf_base(level, out) | memattr << S2_MEMATTR_SHIFT | INNER_SHAREABLE | ACCESS_FLAG;
        if attrs.perm.read {
            entry |= S2AP_READ;
        }
        if attrs.perm.write {
            entry |= S2AP_WRITE;
        }
        if !attrs.perm.execute {
            entry |= S2_EXECUTE_NEVER;
        }
        entry
    }

    fn decode(entry: u64, level: Level) -> Decoded {
        match shape(entry, level) {
            Shape::Invalid => Decoded::Invalid,
            Shape::Table(next) => Decoded::Table(next),
            Shape::Leaf { out } => {
                let memattr = (entry & S2_MEMATTR_MASK) >> S2_MEMATTR_SHIFT;
                let kind = if memattr & S2_MEMATTR_OUTER_MASK == 0 {
                    MemKind::Device
                } else {
                    MemKind::Normal
                };
                let perm = Perm {
                    read: entry & S2AP_READ != 0,
                    write: entry & S2AP_WRITE != 0,
                    // Any XN bit set (including the FEAT_XNX per-EL forms)
                    // counts as not executable.
                    execute: entry & S2_EXECUTE_NEVER_MASK == 0,
                };
                Decoded::Block {
                    out,
                    attrs: MemAttrs { kind, perm },
                }
            }
        }
    }

    fn block_allowed(level: Level) -> bool {
        leaf_allowed(level)
    }

    fn attrs_supported(attrs: MemAttrs) -> bool {
        !(attrs.kind == MemKind::Device && attrs.perm.execute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn mair_value() {
        assert_eq!(MAIR_EL2, 0xff04);
    }

    #[test]
    fn el2_stage1_device_page_bits() {
        let entry = El2Stage1::block(
            Level::Three,
            PhysAddr::new(0x0900_0000),
            MemAttrs::device(Perm::RW),
        );
        let expected = (1 << 54) // XN: device memory is never executable
            | 0x0900_0000 // output address, bits 47:12
            | 1 << 10 // AF
            | 0b11 << 8 // SH: inner shareable
            | 0b01 << 6 // AP[2:1]: read/write, AP[1] RES1
            // AttrIndx (bits 4:2) = 0: Device-nGnRE
            | 0b11; // bits 1:0: valid page
        assert_eq!(entry, expected);
        assert_eq!(entry, 0x0040_0000_0900_0743);
        assert_eq!(
            El2Stage1::decode(entry, Level::Three),
            Decoded::Block {
                out: PhysAddr::new(0x0900_0000),
                attrs: MemAttrs::device(Perm::RW)
            }
        );
    }

    #[test]
    fn el2_stage1_normal_rwx_block_bits() {
        let entry = El2Stage1::block(Level::One, PhysAddr::new(GIB), MemAttrs::normal(Perm::RWX));
        let expected = GIB // output address, bits 47:30 for a level-1 block
            | 1 << 10 // AF
            | 0b11 << 8 // SH: inner shareable
            | 0b01 << 6 // AP[2:1]: read/write
            | 0b001 << 2 // AttrIndx 1: Normal write-back
            | 0b01; // bits 1:0: valid block; XN (bit 54) clear
        assert_eq!(entry, expected);
        assert_eq!(entry, 0x0000_0000_4000_0745);
        assert_eq!(
            El2Stage1::decode(entry, Level::One),
            Decoded::Block {
                out: PhysAddr::new(GIB),
                attrs: MemAttrs::normal(Perm::RWX)
            }
        );
    }

    #[test]
    fn el2_stage1_read_only_sets_ap2() {
        let entry = El2Stage1::block(
            Level::Two,
            PhysAddr::new(0x20_0000),
            MemAttrs::normal(Perm::RX),
        );
        assert_eq!(entry & (0b11 << 6), 0b11 << 6); // AP[2:1] = RO
        assert_eq!(entry & (1 << 54), 0); // executable
        assert!(!El2Stage1::attrs_supported(MemAttrs::normal(Perm::NONE)));
        assert!(!El2Stage1::attrs_supported(MemAttrs::device(Perm::RX)));
    }

    #[test]
    fn stage2_device_page_bits() {
        let entry = Stage2::block(
            Level::Three,
            PhysAddr::new(0x0900_0000),
            MemAttrs::device(Perm::RW),
        );
        let expected = 0b10 << 53 // XN[1:0] = 0b10: not executable at EL1/EL0
            | 0x0900_0000 // output address, bits 47:12
            | 1 << 10 // AF
            | 0b11 << 8 // SH: inner shareable
            | 0b11 << 6 // S2AP: read (bit 6) and write (bit 7)
            | 0b0001 << 2 // MemAttr: Device-nGnRE
            | 0b11; // bits 1:0: valid page
        assert_eq!(entry, expected);
        assert_eq!(entry, 0x0040_0000_0900_07c7);
        assert_eq!(
            Stage2::decode(entry, Level::Three),
            Decoded::Block {
                out: PhysAddr::new(0x0900_0000),
                attrs: MemAttrs::device(Perm::RW)
            }
        );
    }

    #[test]
    fn stage2_normal_rwx_block_bits() {
        let entry = Stage2::block(Level::One, PhysAddr::new(GIB), MemAttrs::normal(Perm::RWX));
        let expected = GIB // output address, bits 47:30 for a level-1 block
            | 1 << 10 // AF
            | 0b11 << 8 // SH: inner shareable
            | 0b11 << 6 // S2AP: read and write
            | 0b1111 << 2 // MemAttr: Normal, outer and inner write-back
            | 0b01; // bits 1:0: valid block; XN (bits 54:53) clear
        assert_eq!(entry, expected);
        assert_eq!(entry, 0x0000_0000_4000_07fd);
        assert_eq!(
            Stage2::decode(entry, Level::One),
            Decoded::Block {
                out: PhysAddr::new(GIB),
                attrs: MemAttrs::normal(Perm::RWX)
            }
        );
    }

    #[test]
    fn stage2_permissions_round_trip() {
        for read in [false, true] {
            for write in [false, true] {
                for execute in [false, true] {
                    let attrs = MemAttrs::normal(Perm {
                        read,
                        write,
                        execute,
                    });
                    let entry = Stage2::block(Level::Two, PhysAddr::new(0x4020_0000), attrs);
                    assert_eq!(
                        Stage2::decode(entry, Level::Two),
                        Decoded::Block {
                            out: PhysAddr::new(0x4020_0000),
                            attrs
                        }
                    );
                }
            }
        }
    }

    #[test]
    fn table_descriptor_bits() {
        let next = PhysAddr::new(0x8_0000_3000);
        assert_eq!(Stage2::table(Level::Zero, next), 0x8_0000_3003);
        assert_eq!(El2Stage1::table(Level::Two, next), 0x8_0000_3003);
        for level in [Level::Zero, Level::One, Level::Two] {
            assert_eq!(
                El2Stage1::decode(0x8_0000_3003, level),
                Decoded::Table(next)
            );
        }
    }

    #[test]
    fn invalid_and_reserved_encodings() {
        for level in Level::ALL {
            assert_eq!(
                Stage2::decode(Stage2::invalid(level), level),
                Decoded::Invalid
            );
            // Bit 0 clear is invalid whatever else is set.
            assert_eq!(El2Stage1::decode(0x4000_0742, level), Decoded::Invalid);
        }
        // No level-0 blocks with a 4 KiB granule; 0b01 at level 3 is reserved.
        assert_eq!(El2Stage1::decode(0x745, Level::Zero), Decoded::Invalid);
        assert_eq!(Stage2::decode(0x4000_07fd, Level::Three), Decoded::Invalid);
        assert!(!Stage2::block_allowed(Level::Zero));
        assert!(Stage2::block_allowed(Level::One));
    }
}
