//! What a faulting probe reports.

use core::fmt;

/// A synchronous exception taken by a [`probe`](crate::probe): the
/// syndrome and fault address the vCPU saw (`ESR_EL1`, `FAR_EL1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// `ESR_EL1`.
    pub esr: u64,
    /// `FAR_EL1` (only meaningful for aborts, see [`Fault::is_abort`]).
    pub far: u64,
}

impl Fault {
    /// Exception class `ESR_EL1[31:26]`.
    pub const fn ec(&self) -> u64 {
        (self.esr >> 26) & 0x3f
    }

    /// An instruction or data abort (EC 0x20, 0x21, 0x24, 0x25): `far` is valid.
    pub const fn is_abort(&self) -> bool {
        matches!(self.ec(), 0x20 | 0x21 | 0x24 | 0x25)
    }

    /// A synchronous external abort on a data access taken at EL1 (EC 0x25,
    /// DFSC 0x10): what the hypervisor injects for a contained access.
    pub const fn is_external_data_abort(&self) -> bool {
        self.ec() == 0x25 && self.esr & 0x3f == 0x10
    }

    /// A synchronous external abort (data or instruction, from EL0 or
    /// EL1; FSC 0x10): what the hypervisor injects for a contained access.
    pub const fn is_external_abort(&self) -> bool {
        self.is_abort() && self.esr & 0x3f == 0x10
    }

    /// An Undefined Instruction (EC 0x00).
    pub const fn is_undefined(&self) -> bool {
        self.ec() == 0x00
    }

    /// A short name of the exception class.
    pub const fn ec_name(&self) -> &'static str {
        match self.ec() {
            0x00 => "undefined instruction",
            0x07 => "FP/SIMD trapped",
            0x16 => "HVC",
            0x17 => "SMC",
            0x18 => "system register trapped",
            0x20 | 0x21 => "instruction abort",
            0x22 => "PC alignment",
            0x24 | 0x25 => "data abort",
            0x26 => "SP alignment",
            _ => "other",
        }
    }
}

impl fmt::Display for Fault {
    /// `fault esr=0x96000010 far=0x43000000` for aborts,
    /// `fault esr=0x2000000 (undefined instruction)` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_abort() {
            write!(f, "fault esr={:#x} far={:#x}", self.esr, self.far)
        } else {
            write!(f, "fault esr={:#x} ({})", self.esr, self.ec_name())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Fault;

    #[test]
    fn displays_aborts_with_far_and_others_with_a_name() {
        let abort = Fault {
            esr: 0x9600_0010,
            far: 0x4300_0000,
        };
        assert!(abort.is_external_data_abort());
        assert_eq!(abort.to_string(), "fault esr=0x96000010 far=0x43000000");
        let undef = Fault {
            esr: 0x0200_0000,
            far: 0x1234,
        };
        assert!(!undef.is_abort());
        assert_eq!(
            undef.to_string(),
            "fault esr=0x2000000 (undefined instruction)"
        );
    }
}
