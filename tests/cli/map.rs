//! `cargo xtask map`: every config's partition map names every cell, has
//! no label over another or outside the picture, and renders to PNG with
//! resvg (written to target/map-png/ to look at). The README's picture of
//! the demo is the generator's current output.

use std::path::Path;

use xtask::map::render;
use xtask::paths;

fn configs() -> Vec<std::path::PathBuf> {
    let mut configs: Vec<_> = std::fs::read_dir(paths::workspace().join("configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    configs.sort();
    assert!(configs.len() >= 5, "{configs:?}");
    configs
}

#[test]
fn every_configs_map_names_every_cell_without_overlaps_and_renders() {
    let fonts = {
        let mut db = resvg::usvg::fontdb::Database::new();
        db.load_system_fonts();
        std::sync::Arc::new(db)
    };
    let out = paths::target_dir().join("map-png");
    std::fs::create_dir_all(&out).unwrap();
    for path in configs() {
        let config = bulkhead_config::load(&path, &paths::load_options(false))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let map = render(&config);
        let problems = map.overlaps();
        assert!(problems.is_empty(), "{}: {problems:#?}", path.display());
        for cell in &config.cells {
            assert!(
                map.labels
                    .iter()
                    .any(|l| l.text.starts_with(&format!("cell {}", cell.name))),
                "{}: no legend entry for cell {}",
                path.display(),
                cell.name
            );
            assert!(
                map.labels
                    .iter()
                    .any(|l| l.text.starts_with(&format!("{}: ", cell.name))),
                "{}: cell {} has no row",
                path.display(),
                cell.name
            );
        }
        let options = resvg::usvg::Options {
            fontdb: fonts.clone(),
            ..Default::default()
        };
        let tree = resvg::usvg::Tree::from_str(&map.svg, &options)
            .unwrap_or_else(|e| panic!("{}: not valid SVG: {e}", path.display()));
        let size = tree.size().to_int_size();
        assert_eq!(
            (f64::from(size.width()), f64::from(size.height())),
            (map.size.0.round(), map.size.1.round())
        );
        let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
        resvg::render(
            &tree,
            resvg::tiny_skia::Transform::default(),
            &mut pixmap.as_mut(),
        );
        // Something was drawn on the white background: the cells' colours.
        let coloured = pixmap
            .pixels()
            .iter()
            .filter(|p| !(p.red() == p.green() && p.green() == p.blue()))
            .count();
        assert!(
            coloured > 1000,
            "{}: {coloured} coloured pixels",
            path.display()
        );
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        pixmap.save_png(out.join(format!("{name}.png"))).unwrap();
    }
}

#[test]
fn the_readme_shows_the_demos_current_map() {
    let demo = paths::workspace().join(paths::DEFAULT_CONFIG);
    let config = bulkhead_config::load(&demo, &paths::load_options(false)).unwrap();
    let committed = Path::new("docs/map-qemu-virt-demo.svg");
    let current = render(&config).svg;
    let path = paths::workspace().join(committed);
    if std::env::var_os("BULKHEAD_UPDATE_MAP").is_some() {
        std::fs::write(&path, &current).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        text == current,
        "{} is not the demo's current map: run `BULKHEAD_UPDATE_MAP=1 cargo test -p xtask --test map`",
        committed.display()
    );
    let readme = std::fs::read_to_string(paths::workspace().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("({})", committed.display())),
        "the README does not embed it"
    );
}
