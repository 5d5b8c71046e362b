//! The build script of every x86_64 guest (each guest's `Cargo.toml` says
//! `build = "../x86-rt/guest-build.rs"`): links the guest with the x86
//! runtime's script (`x86-rt/link.ld`), for the bare-metal x86_64 target
//! only (host builds are a plain `main`).
//!
//! It is a build script and not `.cargo/config.toml` rustflags, as for the
//! AArch64 guests, because the hypervisor shares the `x86_64-unknown-none`
//! target and links with its own script.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let script = manifest.join("../x86-rt/link.ld");
    let script = script.canonicalize().unwrap_or(script);
    println!("cargo::rerun-if-changed={}", script.display());
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch == "x86_64" && os == "none" {
        println!("cargo::rustc-link-arg-bins=-T{}", script.display());
    }
}
