//! x2APIC interrupt command register: decoding and the cell's IPI policy.
//!
//! In x2APIC mode the ICR is one 64-bit MSR ([`ICR`], SDM Vol. 3A 11.12.9):
//!
//! | bits  | field                                                        |
//! |-------|--------------------------------------------------------------|
//! | 7:0   | vector                                                       |
//! | 10:8  | delivery mode (fixed, lowest priority, SMI, NMI, INIT, start-up) |
//! | 11    | destination mode: 0 physical, 1 logical                      |
//! | 14    | level: 0 de-assert, 1 assert                                 |
//! | 15    | trigger mode: 0 edge, 1 level                                |
//! | 19:18 | destination shorthand: none, self, all incl. self, all excl. self |
//! | 63:32 | destination (x2APIC id, or `0xffff_ffff` for broadcast)      |
//!
//! Cells' ICR writes exit (the MSR bitmap traps them); [`check`] decides
//! which CPUs of the cell get a fixed IPI (docs/x86.md) and refuses
//! everything that could reach or disturb a CPU outside the cell.

use core::fmt;

/// MSR of the x2APIC interrupt command register.
pub(crate) const ICR: u32 = 0x830;

/// ICR bit 11: logical destination mode.
const LOGICAL: u64 = 1 << 11;
/// ICR bit 14: level assert.
const LEVEL_ASSERT: u64 = 1 << 14;
/// ICR bit 15: level-triggered.
const TRIGGER_LEVEL: u64 = 1 << 15;
/// The destination that addresses every APIC.
const BROADCAST: u32 = 0xffff_ffff;
/// Vectors 0 to 15 are illegal for fixed interrupts.
const FIRST_LEGAL_VECTOR: u8 = 16;

/// Delivery mode of an IPI (ICR bits 10:8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(target_os = "none", derive(defmt::Format))]
pub(crate) enum DeliveryMode {
    /// 0: the vector, to the destination.
    Fixed,
    /// 1: the vector, to the lowest-priority destination.
    LowestPriority,
    /// 2: system management interrupt.
    Smi,
    /// 4: non-maskable interrupt.
    Nmi,
    /// 5: INIT.
    Init,
    /// 6: start-up IPI (SIPI).
    StartUp,
    /// 3 or 7: reserved encodings (the raw value).
    Reserved(u8),
}

impl DeliveryMode {
    /// The mode with encoding `bits` (only the low 3 bits are used).
    pub(crate) fn from_bits(bits: u8) -> Self {
        match bits & 0b111 {
            0 => Self::Fixed,
            1 => Self::LowestPriority,
            2 => Self::Smi,
            4 => Self::Nmi,
            5 => Self::Init,
            6 => Self::StartUp,
            other => Self::Reserved(other),
        }
    }

    /// The 3-bit encoding.
    #[cfg(test)]
    pub(crate) fn bits(self) -> u8 {
        match self {
            Self::Fixed => 0,
            Self::LowestPriority => 1,
            Self::Smi => 2,
            Self::Nmi => 4,
            Self::Init => 5,
            Self::StartUp => 6,
            Self::Reserved(bits) => bits & 0b111,
        }
    }

    /// A short name for reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Fixed => "fixed",
            Self::LowestPriority => "lowest-priority",
            Self::Smi => "SMI",
            Self::Nmi => "NMI",
            Self::Init => "INIT",
            Self::StartUp => "start-up",
            Self::Reserved(_) => "reserved-mode",
        }
    }
}

/// Destination shorthand (ICR bits 19:18).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(target_os = "none", derive(defmt::Format))]
pub(crate) enum Shorthand {
    /// 0: the destination field decides.
    None,
    /// 1: the sending CPU.
    SelfOnly,
    /// 2: every CPU, the sender included.
    AllIncludingSelf,
    /// 3: every CPU but the sender.
    AllExcludingSelf,
}

impl Shorthand {
    /// The shorthand with encoding `bits` (only the low 2 bits are used).
    pub(crate) fn from_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0 => Self::None,
            1 => Self::SelfOnly,
            2 => Self::AllIncludingSelf,
            _ => Self::AllExcludingSelf,
        }
    }

    /// The 2-bit encoding.
    #[cfg(test)]
    pub(crate) fn bits(self) -> u8 {
        match self {
            Self::None => 0,
            Self::SelfOnly => 1,
            Self::AllIncludingSelf => 2,
            Self::AllExcludingSelf => 3,
        }
    }
}

/// An x2APIC ICR value, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(target_os = "none", derive(defmt::Format))]
pub(crate) struct Icr {
    /// Vector (bits 7:0).
    pub(crate) vector: u8,
    /// Delivery mode (bits 10:8).
    pub(crate) delivery: DeliveryMode,
    /// Logical destination mode (bit 11).
    pub(crate) logical: bool,
    /// Level assert (bit 14).
    pub(crate) level_assert: bool,
    /// Level-triggered (bit 15).
    pub(crate) trigger_level: bool,
    /// Destination shorthand (bits 19:18).
    pub(crate) shorthand: Shorthand,
    /// Destination (bits 63:32).
    pub(crate) destination: u32,
}

impl Icr {
    /// Decodes an x2APIC ICR value (reserved bits, including the xAPIC
    /// delivery-status bit 12, are ignored).
    pub(crate) fn decode(value: u64) -> Icr {
        Icr {
            vector: value as u8,
            delivery: DeliveryMode::from_bits((value >> 8) as u8),
            logical: value & LOGICAL != 0,
            level_assert: value & LEVEL_ASSERT != 0,
            trigger_level: value & TRIGGER_LEVEL != 0,
            shorthand: Shorthand::from_bits((value >> 18) as u8),
            destination: (value >> 32) as u32,
        }
    }

    /// The ICR value.
    #[cfg(test)]
    pub(crate) fn encode(&self) -> u64 {
        let mut value = u64::from(self.vector)
            | u64::from(self.delivery.bits()) << 8
            | u64::from(self.shorthand.bits()) << 18
            | u64::from(self.destination) << 32;
        if self.logical {
            value |= LOGICAL;
        }
        if self.level_assert {
            value |= LEVEL_ASSERT;
        }
        if self.trigger_level {
            value |= TRIGGER_LEVEL;
        }
        value
    }
}

/// The ICR value of a fixed, physical-destination, edge-triggered,
/// asserted IPI with `vector` to x2APIC id `destination`, no shorthand.
pub(crate) fn fixed(vector: u8, destination: u32) -> u64 {
    u64::from(vector) | LEVEL_ASSERT | u64::from(destination) << 32
}

/// Why [`check`] refused an IPI (it is dropped and reported).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(target_os = "none", derive(defmt::Format))]
pub(crate) enum IpiRefusal {
    /// The destination APIC id is not one of the cell's CPUs.
    ForeignDestination(u32),
    /// The destination is `0xffff_ffff`: every CPU of the machine.
    Broadcast,
    /// Logical destination mode (not supported: it could name any CPU).
    Logical,
    /// A delivery mode other than fixed.
    Delivery(DeliveryMode),
    /// A vector below 16, illegal for fixed interrupts.
    IllegalVector(u8),
    /// The sender's APIC id is not one of the cell's CPUs (a caller bug).
    UnknownSender(u32),
    /// A target CPU's index in the cell does not fit the 64-bit mask.
    CellTooLarge,
}

impl fmt::Display for IpiRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ForeignDestination(id) => {
                write!(f, "IPI to APIC id {id}, which is not in this cell")
            }
            Self::Broadcast => f.write_str("broadcast IPI"),
            Self::Logical => f.write_str("IPI in logical destination mode"),
            Self::Delivery(DeliveryMode::Reserved(bits)) => {
                write!(f, "IPI with reserved delivery mode {bits}")
            }
            Self::Delivery(mode) => write!(f, "{} IPI", mode.name()),
            Self::IllegalVector(vector) => write!(f, "IPI with illegal vector {vector}"),
            Self::UnknownSender(id) => {
                write!(f, "IPI from APIC id {id}, which is not in this cell")
            }
            Self::CellTooLarge => f.write_str("IPI to a CPU beyond the cell's 64th"),
        }
    }
}

/// Decides what a cell's ICR write `icr` may do.
///
/// `sender` is the x2APIC id of the CPU that wrote the ICR and
/// `cell_apic_ids` the x2APIC ids of the cell's CPUs, in vCPU order (the
/// sender must be one of them). On success, the result has bit `i` set for
/// every `cell_apic_ids[i]` that is to receive a fixed IPI with
/// `icr.vector` (send each with [`fixed`]; the trigger and level bits of
/// `icr` are ignored):
///
/// - shorthand self: the sender;
/// - shorthand all-including-self: every CPU of the cell;
/// - shorthand all-excluding-self: every other CPU of the cell (none in a
///   one-CPU cell);
/// - no shorthand, physical destination mode: the destination, if it is a
///   CPU of the cell.
///
/// Refused: every delivery mode but fixed (INIT, start-up, SMI, NMI,
/// lowest priority), vectors below 16, logical destination mode, the
/// broadcast destination and APIC ids outside the cell.
pub(crate) fn check(icr: &Icr, sender: u32, cell_apic_ids: &[u32]) -> Result<u64, IpiRefusal> {
    if icr.delivery != DeliveryMode::Fixed {
        return Err(IpiRefusal::Delivery(icr.delivery));
    }
    if icr.vector < FIRST_LEGAL_VECTOR {
        return Err(IpiRefusal::IllegalVector(icr.vector));
    }
    let bit = |index: usize| -> Result<u64, IpiRefusal> {
        if index < 64 {
            Ok(1 << index)
        } else {
            Err(IpiRefusal::CellTooLarge)
        }
    };
    let sender_index = cell_apic_ids
        .iter()
        .position(|&id| id == sender)
        .ok_or(IpiRefusal::UnknownSender(sender))?;
    match icr.shorthand {
        Shorthand::SelfOnly => bit(sender_index),
        Shorthand::AllIncludingSelf | Shorthand::AllExcludingSelf => {
            let mut mask = 0;
            for index in 0..cell_apic_ids.len() {
                if icr.shorthand == Shorthand::AllExcludingSelf && index == sender_index {
                    continue;
                }
                mask |= bit(index)?;
            }
            Ok(mask)
        }
        Shorthand::None => {
            if icr.logical {
                return Err(IpiRefusal::Logical);
            }
            if icr.destination == BROADCAST {
                return Err(IpiRefusal::Broadcast);
            }
            let index = cell_apic_ids
                .iter()
                .position(|&id| id == icr.destination)
                .ok_or(IpiRefusal::ForeignDestination(icr.destination))?;
            bit(index)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cell with CPUs whose APIC ids are 2, 3 and 6.
    const CELL: [u32; 3] = [2, 3, 6];

    fn with(value: u64) -> Icr {
        Icr::decode(value)
    }

    #[test]
    fn decode_an_sdm_style_value() {
        // INIT, level assert, physical, to APIC id 5 (0x0000_0005_0000_4500).
        assert_eq!(
            Icr::decode(0x0000_0005_0000_4500),
            Icr {
                vector: 0,
                delivery: DeliveryMode::Init,
                logical: false,
                level_assert: true,
                trigger_level: false,
                shorthand: Shorthand::None,
                destination: 5
            }
        );
        // Start-up with vector 0x08 (trampoline at 0x8000).
        let sipi = Icr::decode(0x0000_0005_0000_0608);
        assert_eq!(sipi.delivery, DeliveryMode::StartUp);
        assert_eq!(sipi.vector, 8);
        // Fixed vector 0xf0, logical, level-triggered, all excluding self.
        let all = Icr::decode(0xc_c8f0);
        assert_eq!(all.shorthand, Shorthand::AllExcludingSelf);
        assert!(all.logical && all.level_assert && all.trigger_level);
        assert_eq!(all.vector, 0xf0);
    }

    #[test]
    fn fixed_encoding() {
        assert_eq!(fixed(0x40, 3), 0x0000_0003_0000_4040);
        assert_eq!(
            Icr::decode(fixed(0x40, 0xffff_fffe)),
            Icr {
                vector: 0x40,
                delivery: DeliveryMode::Fixed,
                logical: false,
                level_assert: true,
                trigger_level: false,
                shorthand: Shorthand::None,
                destination: 0xffff_fffe
            }
        );
    }

    #[test]
    fn encode_round_trips() {
        for value in [
            0x0000_0005_0000_4500u64,
            0x0000_0005_0000_0608,
            0xc_c8f0,
            0xffff_ffff_0000_0222,
            0x1234_5678_0008_4732,
        ] {
            assert_eq!(Icr::decode(value).encode(), value, "{value:#x}");
        }
        for bits in 0..8 {
            assert_eq!(DeliveryMode::from_bits(bits).bits(), bits);
        }
        assert_eq!(DeliveryMode::from_bits(3), DeliveryMode::Reserved(3));
        assert_eq!(DeliveryMode::from_bits(7), DeliveryMode::Reserved(7));
    }

    #[test]
    fn physical_destinations_in_the_cell() {
        assert_eq!(check(&with(fixed(0x40, 2)), 3, &CELL), Ok(0b001));
        assert_eq!(check(&with(fixed(0x40, 6)), 3, &CELL), Ok(0b100));
        // To itself by id is fine too.
        assert_eq!(check(&with(fixed(0x40, 3)), 3, &CELL), Ok(0b010));
        // Trigger and level bits do not matter.
        assert_eq!(
            check(&with(fixed(0x40, 6) | TRIGGER_LEVEL), 3, &CELL),
            Ok(0b100)
        );
    }

    #[test]
    fn shorthands_expand_to_the_cell() {
        let shorthand = |s: u64| with(0x40 | LEVEL_ASSERT | s << 18 | 0xdead_u64 << 32);
        assert_eq!(check(&shorthand(1), 6, &CELL), Ok(0b100));
        assert_eq!(check(&shorthand(2), 6, &CELL), Ok(0b111));
        assert_eq!(check(&shorthand(3), 6, &CELL), Ok(0b011));
        assert_eq!(check(&shorthand(3), 2, &[2]), Ok(0));
        // The destination mode does not matter with a shorthand.
        assert_eq!(
            check(&with(shorthand(3).encode() | LOGICAL), 2, &CELL),
            Ok(0b110)
        );
    }

    #[test]
    fn foreign_destinations_are_refused() {
        let refusal = check(&with(fixed(0x40, 0)), 3, &CELL);
        assert_eq!(refusal, Err(IpiRefusal::ForeignDestination(0)));
        assert_eq!(
            refusal.unwrap_err().to_string(),
            "IPI to APIC id 0, which is not in this cell"
        );
        assert_eq!(
            check(&with(fixed(0x40, 0xffff_ffff)), 3, &CELL),
            Err(IpiRefusal::Broadcast)
        );
        assert_eq!(
            check(&with(fixed(0x40, 2) | LOGICAL), 3, &CELL),
            Err(IpiRefusal::Logical)
        );
        assert_eq!(
            check(&with(fixed(0x40, 2)), 7, &CELL),
            Err(IpiRefusal::UnknownSender(7))
        );
    }

    #[test]
    fn only_fixed_delivery_with_a_legal_vector() {
        for (value, mode, text) in [
            (0x0000_0003_0000_4500u64, DeliveryMode::Init, "INIT IPI"),
            (0x0000_0003_0000_0608, DeliveryMode::StartUp, "start-up IPI"),
            (0x0000_0003_0000_4200, DeliveryMode::Smi, "SMI IPI"),
            (0x0000_0003_0000_4400, DeliveryMode::Nmi, "NMI IPI"),
            (
                0x0000_0003_0000_4140,
                DeliveryMode::LowestPriority,
                "lowest-priority IPI",
            ),
            (
                0x0000_0003_0000_4740,
                DeliveryMode::Reserved(7),
                "IPI with reserved delivery mode 7",
            ),
        ] {
            let refusal = check(&with(value), 2, &CELL).unwrap_err();
            assert_eq!(refusal, IpiRefusal::Delivery(mode));
            assert_eq!(refusal.to_string(), text);
        }
        // An NMI to self is refused too.
        assert_eq!(
            check(&with(0x4_4400), 2, &CELL),
            Err(IpiRefusal::Delivery(DeliveryMode::Nmi))
        );
        for vector in [0, 2, 15] {
            assert_eq!(
                check(&with(fixed(vector, 3)), 2, &CELL),
                Err(IpiRefusal::IllegalVector(vector))
            );
        }
        assert_eq!(check(&with(fixed(16, 3)), 2, &CELL), Ok(0b010));
        assert_eq!(
            IpiRefusal::IllegalVector(2).to_string(),
            "IPI with illegal vector 2"
        );
    }

    #[test]
    fn masks_stop_at_64_cpus() {
        let big: Vec<u32> = (0..70).collect();
        assert_eq!(check(&with(fixed(0x40, 63)), 0, &big), Ok(1 << 63));
        assert_eq!(
            check(&with(fixed(0x40, 64)), 0, &big),
            Err(IpiRefusal::CellTooLarge)
        );
        assert_eq!(
            check(&with(0x40 | 3 << 18), 0, &big),
            Err(IpiRefusal::CellTooLarge)
        );
        assert_eq!(check(&with(0x40 | 1 << 18), 0, &big), Ok(1));
    }
}
