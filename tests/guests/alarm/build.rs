//! Links the guest with the shared guest linker script (`../rt/link.ld`).

fn main() {
    let script = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("../rt/link.ld")
        .canonicalize()
        .expect("tests/guests/rt/link.ld exists");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo::rustc-link-arg-bins=-T{}", script.display());
    }
    println!("cargo::rerun-if-changed={}", script.display());
}
