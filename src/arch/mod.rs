//! Architecture back ends, behind a narrow interface.
//!
//! Only the target triple selects one: `aarch64` builds `arch::aarch64`,
//! bare-metal `x86_64` builds `arch::x86_64`.
//! Pure encodings (page-table descriptors) also build on the host so they
//! are unit-tested there.

#[cfg(any(test, target_arch = "aarch64"))]
pub mod aarch64;

#[cfg(any(test, all(target_arch = "x86_64", target_os = "none")))]
pub mod x86_64;
