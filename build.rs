//! Checks the product configuration and generates the hypervisor's tables.
//!
//! The config comes from `BULKHEAD_CONFIG` (a path relative to the
//! workspace; default `configs/qemu-virt-demo.toml`). It is validated by the
//! same `bulkhead-config` crate `cargo xtask check` uses, so a plain
//! `cargo build` cannot skip the checks. Outputs in `OUT_DIR`: `config.rs`
//! (static tables) and `memory.ld` (linker symbols placing the image).

use std::path::PathBuf;

use bulkhead_config::{LoadOptions, codegen, load};

/// The config `cargo build` uses when `BULKHEAD_CONFIG` is not set.
const DEFAULT_CONFIG: &str = "configs/qemu-virt-demo.toml";

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    println!("cargo::rerun-if-env-changed=BULKHEAD_CONFIG");
    println!("cargo::rerun-if-changed=linker/aarch64.ld");
    println!("cargo::rerun-if-changed=linker/x86_64.ld");
    let config_path = std::env::var("BULKHEAD_CONFIG")
        .map(|p| root.join(p))
        .unwrap_or_else(|_| root.join(DEFAULT_CONFIG));

    // Bare-metal builds embed the images and so need them; host builds (unit
    // tests of the core) check everything else.
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let options = LoadOptions {
        require_images: target_os == "none",
        ..LoadOptions::for_workspace(&root)
    };
    // Watch the platforms folder too, so a new platform file is noticed.
    println!(
        "cargo::rerun-if-changed={}",
        options.platforms_dir.display()
    );
    let config = match load(&config_path, &options) {
        Ok(config) => config,
        Err(errors) => {
            println!("cargo::rerun-if-changed={}", config_path.display());
            // Cargo shows a build script's stderr when it fails.
            eprintln!("\n{errors}\n");
            std::process::exit(1);
        }
    };
    for file in config.input_files() {
        println!("cargo::rerun-if-changed={}", file.display());
    }
    write(&out.join("config.rs"), &codegen::generate(&config));
    match codegen::segment_files(&config) {
        Ok(files) => {
            for (name, bytes) in files {
                write_bytes(&out.join(name), &bytes);
            }
        }
        Err(e) => panic!("reading cell images: {e}"),
    }
    write(&out.join("memory.ld"), &codegen::memory_ld(&config));

    // The bare-metal binary links with the architecture's script, which
    // includes the generated `memory.ld` from OUT_DIR (AArch64: a raw image
    // entered at its first byte; x86_64: a multiboot2 ELF GRUB loads).
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if target_os == "none" && (arch == "aarch64" || arch == "x86_64") {
        println!("cargo::rustc-link-search={}", out.display());
        println!(
            "cargo::rustc-link-arg-bins=-T{}/linker/{arch}.ld",
            root.display()
        );
        println!("cargo::rustc-link-arg-bins=-Tdefmt.x");
    }
}

fn write(path: &std::path::Path, text: &str) {
    // Only rewrite on change, so dependants are not rebuilt needlessly.
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

fn write_bytes(path: &std::path::Path, bytes: &[u8]) {
    if std::fs::read(path).ok().as_deref() != Some(bytes) {
        std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}
