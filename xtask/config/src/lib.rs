//! Bulkhead's configuration: TOML in, checked model and generated tables out.
//!
//! This crate runs on the host only: in `cargo xtask` (fast, readable
//! errors) and in the hypervisor's build script (so a plain `cargo build`
//! cannot skip the checks). The hypervisor binary never contains it: it gets
//! the `static` tables [`codegen`] writes.

pub mod check;
pub mod codegen;
pub mod diag;
pub mod dtb;
mod lower;
pub mod model;
pub mod schema;

pub use check::{LoadOptions, load};
pub use diag::{Diagnostic, Diagnostics};
pub use lower::lower;
pub use model::Config;
