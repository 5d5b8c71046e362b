//! Snapshot tests of the generated tables for every product config.
//!
//! Images are not read here (they are build outputs), so image sizes show
//! as 0; everything else is exactly what the hypervisor is compiled with.
//! After an intended change: `cargo insta review` or
//! `INSTA_UPDATE=always cargo test -p bulkhead-config --test codegen`.

use std::path::Path;

use bulkhead_config::{LoadOptions, codegen, load};

#[test]
fn generated_tables_match_snapshots() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap();
    let options = LoadOptions {
        require_images: false,
        ..LoadOptions::for_workspace(&root)
    };
    let mut entries: Vec<_> = std::fs::read_dir(root.join("configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    entries.sort();
    assert!(!entries.is_empty());
    for path in entries {
        let config = load(&path, &options).unwrap_or_else(|e| panic!("{e}"));
        let name = config.name.clone();
        insta::assert_snapshot!(format!("{name}.config.rs"), codegen::generate(&config));
        insta::assert_snapshot!(format!("{name}.memory.ld"), codegen::memory_ld(&config));
    }
}
