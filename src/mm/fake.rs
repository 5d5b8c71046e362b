//! Adversarial fake descriptor format for testing the page-table builder.
//!
//! Like Hafnium's fake architecture, it encodes nothing the way AArch64
//! does, so builder code that peeks at raw bits, assumes zero is invalid, or
//! decodes an entry at the wrong level fails the tests:
//! - valid polarity flips per level: the PRESENT bit means valid at even
//!   levels and *invalid* at odd ones;
//! - invalid entries are never zero (they carry junk), while an all-zero
//!   entry at an odd level decodes as a valid leaf or table;
//! - the table/leaf tag flips per level;
//! - the output address is stored as a frame number, not in place, and
//!   read-permission and execute bits are inverted;
//! - the whole word is rotated by a level-dependent amount;
//! - output addresses have 52 bits, not 48.
//!
//! With `GIANT_BLOCKS = false` level-1 blocks are not allowed, to check that
//! the builder asks [`DescriptorFormat::block_allowed`].

use core::marker::PhantomData;

use crate::addr::PhysAddr;
use crate::mm::page_table::{
    Decoded, DescriptorFormat, InputAddress, Level, MemAttrs, MemKind, Perm,
};

/// The fake format; `A` is its input-address type.
pub(crate) struct FakeFormat<A, const GIANT_BLOCKS: bool>(PhantomData<A>);

/// Bit 0 (before rotation): valid at even levels, invalid at odd levels.
const PRESENT: u64 = 1 << 0;
/// Bit 1: leaf at even levels, table at odd levels.
const LEAF_TAG: u64 = 1 << 1;
/// Bit 2: Device memory.
const DEVICE: u64 = 1 << 2;
/// Bit 3: reads *not* allowed.
const NO_READ: u64 = 1 << 3;
/// Bit 4: writes allowed.
const WRITE: u64 = 1 << 4;
/// Bit 5: instruction fetches *not* allowed.
const NO_EXECUTE: u64 = 1 << 5;
/// Bits 47:8: frame number (address >> 12).
const FRAME_SHIFT: u32 = 8;
/// Mask of the frame number once shifted down.
const FRAME_MASK: u64 = (1 << 40) - 1;
/// Junk stored in the frame field of invalid entries.
const INVALID_JUNK: u64 = 0xdead_beef;

/// Whether `level` is odd (where the polarities flip).
fn is_odd(level: Level) -> bool {
    level.number() % 2 == 1
}

/// The PRESENT bit's value in a valid entry at `level`.
fn valid_marker(level: Level) -> u64 {
    if is_odd(level) { 0 } else { PRESENT }
}

/// The LEAF_TAG bit's value for a leaf (`true`) or table at `level`.
fn tag(level: Level, leaf: bool) -> u64 {
    if leaf != is_odd(level) { LEAF_TAG } else { 0 }
}

/// Rotation applied to every entry at `level`.
fn rotation(level: Level) -> u32 {
    5 + 13 * u32::from(level.number())
}

/// A valid entry at `level`: marker, tag, frame of `address`, `flags`.
fn encode(level: Level, leaf: bool, address: PhysAddr, flags: u64) -> u64 {
    let frame = (address.as_u64() >> 12) & FRAME_MASK;
    let raw = valid_marker(level) | tag(level, leaf) | flags | frame << FRAME_SHIFT;
    raw.rotate_left(rotation(level))
}

impl<A: InputAddress, const GIANT_BLOCKS: bool> DescriptorFormat for FakeFormat<A, GIANT_BLOCKS> {
    type Input = A;
    const OUTPUT_BITS: u32 = 52;

    fn invalid(level: Level) -> u64 {
        let raw = (valid_marker(level) ^ PRESENT) | INVALID_JUNK << FRAME_SHIFT;
        raw.rotate_left(rotation(level))
    }

    fn table(level: Level, next: PhysAddr) -> u64 {
        encode(level, false, next, NO_READ | NO_EXECUTE)
    }

    fn block(level: Level, out: PhysAddr, attrs: MemAttrs) -> u64 {
        let mut flags = 0;
        if attrs.kind == MemKind::Device {
            flags |= DEVICE;
        }
        if !attrs.perm.read {
            flags |= NO_READ;
        }
        if attrs.perm.write {
            flags |= WRITE;
        }
        if !attrs.perm.execute {
            flags |= NO_EXECUTE;
        }
        encode(level, true, out, flags)
    }

    fn decode(entry: u64, level: Level) -> Decoded {
        let raw = entry.rotate_right(rotation(level));
        if raw & PRESENT != valid_marker(level) {
            return Decoded::Invalid;
        }
        let address = PhysAddr::new(((raw >> FRAME_SHIFT) & FRAME_MASK) << 12);
        if raw & LEAF_TAG != tag(level, true) {
            return if level == Level::Three {
                Decoded::Invalid
            } else {
                Decoded::Table(address)
            };
        }
        if !Self::block_allowed(level) {
            return Decoded::Invalid;
        }
        let kind = if raw & DEVICE != 0 {
            MemKind::Device
        } else {
            MemKind::Normal
        };
        let perm = Perm {
            read: raw & NO_READ == 0,
            write: raw & WRITE != 0,
            execute: raw & NO_EXECUTE == 0,
        };
        Decoded::Block {
            out: address,
            attrs: MemAttrs { kind, perm },
        }
    }

    fn block_allowed(level: Level) -> bool {
        match level {
            Level::Zero => false,
            Level::One => GIANT_BLOCKS,
            Level::Two | Level::Three => true,
        }
    }

    fn attrs_supported(_attrs: MemAttrs) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::GuestPhysAddr;

    type Fake = FakeFormat<GuestPhysAddr, true>;

    #[test]
    fn invalid_is_never_zero_and_zero_is_not_always_invalid() {
        for level in Level::ALL {
            assert_ne!(Fake::invalid(level), 0);
            assert_eq!(Fake::decode(Fake::invalid(level), level), Decoded::Invalid);
        }
        assert_ne!(Fake::decode(0, Level::One), Decoded::Invalid);
        assert_ne!(Fake::decode(0, Level::Three), Decoded::Invalid);
    }

    #[test]
    fn round_trips_at_every_level_and_differs_between_levels() {
        let address = PhysAddr::new(0xf_ffff_c000_0000);
        let attrs = MemAttrs::device(Perm::R);
        for level in [Level::Zero, Level::One, Level::Two] {
            let entry = Fake::table(level, address);
            assert_eq!(Fake::decode(entry, level), Decoded::Table(address));
        }
        for level in [Level::One, Level::Two, Level::Three] {
            let entry = Fake::block(level, address, attrs);
            assert_eq!(
                Fake::decode(entry, level),
                Decoded::Block {
                    out: address,
                    attrs
                }
            );
        }
        let at_two = Fake::block(Level::Two, address, attrs);
        assert_ne!(at_two, Fake::block(Level::Three, address, attrs));
        assert_ne!(
            Fake::decode(at_two, Level::Three),
            Fake::decode(at_two, Level::Two)
        );
        assert_ne!(
            Fake::table(Level::One, address),
            Fake::table(Level::Two, address)
        );
    }

    #[test]
    fn level_one_blocks_can_be_forbidden() {
        type NoGiant = FakeFormat<GuestPhysAddr, false>;
        let entry = NoGiant::block(
            Level::One,
            PhysAddr::new(1 << 30),
            MemAttrs::normal(Perm::R),
        );
        assert_eq!(NoGiant::decode(entry, Level::One), Decoded::Invalid);
        assert!(!NoGiant::block_allowed(Level::One));
    }
}
