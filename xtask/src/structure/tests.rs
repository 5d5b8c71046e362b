//! The structure check on small source trees held in memory.

use std::collections::BTreeMap;

use super::outline::outline;
use super::{MAX_FILE_LINES, MAX_FN_LINES, analyse};

fn tree(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(path, text)| (path.to_string(), text.to_string()))
        .collect()
}

/// A function of `lines` lines, `fn` line and closing brace included.
fn function(name: &str, lines: usize) -> String {
    let mut text = format!("pub fn {name}() {{\n");
    for i in 0..lines - 2 {
        text.push_str(&format!("    let _x{i} = {i};\n"));
    }
    text.push_str("}\n");
    text
}

#[test]
fn a_circle_is_found_with_the_names_that_tie_it() {
    let files = tree(&[
        ("k/src/lib.rs", "mod a;\nmod b;\nmod c;\n"),
        ("k/src/a.rs", "use crate::b::Bee;\npub struct Ay;\n"),
        (
            "k/src/b.rs",
            "pub struct Bee;\npub fn f() { super::a::Ay; }\n",
        ),
        ("k/src/c.rs", "use crate::a::Ay;\n"),
    ]);
    let report = analyse(&files);
    assert_eq!(report.cycles.len(), 1, "{report}");
    let (members, imports) = &report.cycles[0];
    assert_eq!(members, &["k/src/a.rs", "k/src/b.rs"]);
    assert_eq!(
        imports,
        &[
            "k/src/a.rs:1 -> k/src/b.rs: Bee",
            "k/src/b.rs:2 -> k/src/a.rs: Ay"
        ]
    );
    assert!(!report.is_clean());
    assert!(report.to_string().contains("cycles: 1"), "{report}");
}

#[test]
fn a_mod_declaration_is_not_an_import_but_a_use_of_a_child_is() {
    let lib = "mod checker;\nmod pass;\npub fn load() { pass::run(); }\n";
    let files = tree(&[
        ("k/src/lib.rs", lib),
        ("k/src/checker.rs", "pub struct Checker;\n"),
        (
            "k/src/pass.rs",
            "use crate::checker::Checker;\npub fn run() {}\n",
        ),
    ]);
    assert!(analyse(&files).is_clean(), "{}", analyse(&files));
    // The pass reaching back into the root closes a circle.
    let files = tree(&[
        ("k/src/lib.rs", lib),
        ("k/src/checker.rs", "pub struct Checker;\n"),
        ("k/src/pass.rs", "use crate::load;\npub fn run() {}\n"),
    ]);
    let report = analyse(&files);
    assert_eq!(report.cycles[0].0, ["k/src/lib.rs", "k/src/pass.rs"]);
}

#[test]
fn paths_resolve_to_the_deepest_module_that_is_a_file() {
    let files = tree(&[
        (
            "k/src/lib.rs",
            "pub mod a;\npub mod top { pub fn f() {} }\n",
        ),
        (
            "k/src/a/mod.rs",
            "pub mod b;\nmod inner { pub fn g() {} }\n",
        ),
        (
            "k/src/a/b.rs",
            "use super::inner::g;\nuse crate::{top::f, a::{self}};\npub fn h() { crate::top::f(); }\n",
        ),
    ]);
    let krate = super::graph::module_tree("k/src/lib.rs", &outlines(&files));
    let edges = super::graph::edges(&krate, &outlines(&files));
    let to = |from: &str, to: &str| edges.get(&(from.to_string(), to.to_string())).cloned();
    let names = |e: super::graph::Edge| e.names.into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(to("k/src/a/b.rs", "k/src/a/mod.rs").unwrap()),
        ["a", "g"]
    );
    assert_eq!(names(to("k/src/a/b.rs", "k/src/lib.rs").unwrap()), ["f"]);
    assert_eq!(edges.len(), 2, "{edges:?}");
}

fn outlines(files: &BTreeMap<String, String>) -> BTreeMap<String, super::outline::Outline> {
    files.iter().map(|(p, t)| (p.clone(), outline(t))).collect()
}

#[test]
fn a_long_function_is_found_and_one_at_the_limit_is_not() {
    let text = function("long", MAX_FN_LINES + 1) + &function("fits", MAX_FN_LINES);
    let report = analyse(&tree(&[("k/src/lib.rs", &text)]));
    assert_eq!(
        report.long_fns,
        [("k/src/lib.rs:1 fn long".to_string(), MAX_FN_LINES + 1)]
    );
    assert_eq!(
        report.longest_fn,
        Some(("k/src/lib.rs:1 fn long".to_string(), MAX_FN_LINES + 1))
    );
}

#[test]
fn a_long_file_is_found_blank_and_comment_lines_left_out() {
    let code = "const X: u8 = 0;\n".repeat(MAX_FILE_LINES);
    let padded = format!("//! Doc.\n\n/* a\n block */\n{code}");
    assert!(analyse(&tree(&[("k/src/lib.rs", &padded)])).is_clean());
    let over = format!("{padded}const Y: u8 = 1;\n");
    let report = analyse(&tree(&[("k/src/lib.rs", &over)]));
    assert_eq!(
        report.long_files,
        [("k/src/lib.rs:1".to_string(), MAX_FILE_LINES + 1)]
    );
}

#[test]
fn test_modules_and_test_files_are_left_out() {
    let tests = format!(
        "#[cfg(test)]\nmod tests {{\n    use super::*;\n{}{}}}\n",
        function("huge", MAX_FN_LINES * 2),
        "const T: u8 = 0;\n".repeat(MAX_FILE_LINES)
    );
    let text = format!("pub fn small() {{}}\n#[cfg(test)]\nconst HELPER: u8 = 0;\n{tests}");
    let outline = outline(&text);
    assert_eq!(outline.code_lines, 1);
    assert_eq!(outline.functions.len(), 1);
    let files = tree(&[
        ("k/src/lib.rs", "mod a;\n#[cfg(test)]\nmod fake;\n"),
        ("k/src/a.rs", &text),
        ("k/src/a/tests.rs", &function("huge", MAX_FN_LINES * 2)),
        (
            "k/src/fake.rs",
            &format!("use crate::a;\n{}", function("big", 200)),
        ),
    ]);
    let report = analyse(&files);
    assert!(report.is_clean(), "{report}");
}

#[test]
fn braces_and_paths_in_literals_and_comments_are_not_code() {
    let text = r##"
pub fn f() -> &'static str {
    let _c = '{';
    let _d = '\'';
    let _s = "} crate::x::y {";
    let _r = r#"}"{"#; // }
    /* } crate::z */
    "}"
}
pub fn g<'a>(x: &'a [u8; 4]) -> impl Fn(u8) -> [u8; 2] + 'a { move |_| [x[0], 0] }
"##;
    let outline = outline(text);
    let names: Vec<(&str, usize)> = outline
        .functions
        .iter()
        .map(|f| (f.name.as_str(), f.lines))
        .collect();
    assert_eq!(names, [("f", 8), ("g", 1)]);
    assert!(outline.references.is_empty(), "{:?}", outline.references);
    assert_eq!(outline.code_lines, 8);
}
