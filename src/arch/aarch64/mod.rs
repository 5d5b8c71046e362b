//! AArch64 at EL2.
//!
//! `descriptors` (pure encodings) builds everywhere so it is unit-tested on
//! the host; everything that touches registers builds for the target only.

pub mod descriptors;
