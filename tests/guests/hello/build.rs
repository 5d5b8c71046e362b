//! Links the guest at its guest-physical base (see `link.ld`).

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo::rustc-link-arg-bins=-T{dir}/link.ld");
    }
    println!("cargo::rerun-if-changed=link.ld");
}
