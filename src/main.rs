//! The hypervisor binary: boots on bare metal from `arch::<arch>::entry_asm`
//! (see `docs/code-structure.md`).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
use bulkhead as _;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "bulkhead runs on bare metal: build and run it with `cargo xtask build` / `cargo xtask run`"
    );
    std::process::exit(2);
}
