//! Access permissions: of a cell's memory region, a channel end, and a
//! mapping in the hypervisor's page-table builder.

use core::fmt;

/// Access permissions of a mapping. A config writes them as a subset of
/// `"rwx"`, letters in that order (`"rw"`, `"rx"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Perm {
    /// Loads allowed.
    pub read: bool,
    /// Stores allowed.
    pub write: bool,
    /// Instruction fetches allowed.
    pub execute: bool,
}

impl Perm {
    /// No access at all.
    pub const NONE: Perm = Perm {
        read: false,
        write: false,
        execute: false,
    };
    /// Read-only.
    pub const R: Perm = Perm {
        read: true,
        write: false,
        execute: false,
    };
    /// Read and write.
    pub const RW: Perm = Perm {
        read: true,
        write: true,
        execute: false,
    };
    /// Read and execute.
    pub const RX: Perm = Perm {
        read: true,
        write: false,
        execute: true,
    };
    /// Read, write and execute.
    pub const RWX: Perm = Perm {
        read: true,
        write: true,
        execute: true,
    };

    /// Parses `"r"`, `"rw"`, `"rx"`, `"rwx"`, ... (a non-empty subset of
    /// `rwx`, letters in that order).
    pub fn parse(text: &str) -> Option<Perm> {
        let mut perm = Perm::NONE;
        let mut rest = text;
        for (letter, flag) in [
            ('r', &mut perm.read),
            ('w', &mut perm.write),
            ('x', &mut perm.execute),
        ] {
            if let Some(tail) = rest.strip_prefix(letter) {
                *flag = true;
                rest = tail;
            }
        }
        (rest.is_empty() && !text.is_empty()).then_some(perm)
    }
}

/// `rw-`, `r-x`, ...: one column per right, as `ls -l` shows them.
impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bit = |on: bool, c: char| if on { c } else { '-' };
        write!(
            f,
            "{}{}{}",
            bit(self.read, 'r'),
            bit(self.write, 'w'),
            bit(self.execute, 'x')
        )
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Perm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Accepts a string of `rwx` letters.
        struct Letters;

        impl serde::de::Visitor<'_> for Letters {
            type Value = Perm;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Perm, E> {
                Perm::parse(text).ok_or_else(|| {
                    E::custom(format_args!(
                        "`{text}` is not a permission: write a non-empty subset of \
                         \"rwx\" in that order, e.g. \"rw\" or \"rx\""
                    ))
                })
            }
        }

        d.deserialize_str(Letters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern crate std;
    use std::string::ToString;

    #[test]
    fn letters_parse_in_rwx_order_and_print_as_columns() {
        assert_eq!(Perm::parse("rw"), Some(Perm::RW));
        assert_eq!(
            Perm::parse("rx").map(|p| p.to_string()).as_deref(),
            Some("r-x")
        );
        assert_eq!(Perm::RWX.to_string(), "rwx");
        assert_eq!(Perm::parse("wr"), None);
        assert_eq!(Perm::parse(""), None);
        assert_eq!(Perm::parse("rwz"), None);
    }
}
