//! What a guest access is: its kind ([`Access`]) and its width
//! ([`AccessSize`]), for fault reports, the MMIO decoders and the virtual
//! devices.

/// What the guest was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
    /// An instruction fetch.
    Execute,
}

impl Access {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Execute => "execute",
        }
    }
}

/// Width of a memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    target_arch = "x86_64",
    allow(
        dead_code,
        reason = "x86 port I/O reaches the virtual UART a byte at a time"
    )
)]
pub(crate) enum AccessSize {
    /// 8 bits.
    Byte,
    /// 16 bits.
    Half,
    /// 32 bits.
    Word,
    /// 64 bits.
    Double,
}

#[cfg_attr(
    target_arch = "x86_64",
    allow(
        dead_code,
        reason = "x86 port I/O reaches the virtual UART a byte at a time"
    )
)]
impl AccessSize {
    /// Number of bytes accessed (1, 2, 4 or 8).
    pub(crate) const fn bytes(self) -> u64 {
        match self {
            Self::Byte => 1,
            Self::Half => 2,
            Self::Word => 4,
            Self::Double => 8,
        }
    }

    /// Mask with the low `8 * bytes()` bits set.
    pub(crate) const fn mask(self) -> u64 {
        match self {
            Self::Byte => 0xff,
            Self::Half => 0xffff,
            Self::Word => 0xffff_ffff,
            Self::Double => u64::MAX,
        }
    }

    /// The size for a byte count of 1, 2, 4 or 8; `None` for anything else.
    #[cfg(test)]
    pub(crate) const fn from_bytes(bytes: u64) -> Option<Self> {
        match bytes {
            1 => Some(Self::Byte),
            2 => Some(Self::Half),
            4 => Some(Self::Word),
            8 => Some(Self::Double),
            _ => None,
        }
    }
}
