//! Which files of a crate import which, and the circles among them.
//!
//! The module tree comes from `mod` declarations, starting at each crate
//! root (`src/lib.rs`, `src/main.rs`, `build.rs`): `mod x;` in `a.rs` is
//! `a/x.rs` or `a/x/mod.rs`, in `lib.rs`, `main.rs` or `mod.rs` it is
//! `x.rs` or `x/mod.rs` beside it; an inline `mod x { }` stays in its file.
//! A declaration is not an import. The edges come from the paths a file
//! names (`use crate::a::b`, `super::c`, `self::d`, a child module's `e::f`
//! in code), each resolved to the deepest module that is a file.

use std::collections::{BTreeMap, BTreeSet};

use super::outline::Outline;

/// The module tree of one crate: module path -> file.
pub(super) struct Crate {
    pub(super) modules: BTreeMap<Vec<String>, String>,
    /// Files declared under `#[cfg(test)]` (and their children).
    pub(super) test_files: BTreeSet<String>,
}

/// Builds the module tree of the crate rooted at `root`.
pub(super) fn module_tree(root: &str, outlines: &BTreeMap<String, Outline>) -> Crate {
    let mut krate = Crate {
        modules: BTreeMap::new(),
        test_files: BTreeSet::new(),
    };
    add_file(&mut krate, outlines, root, Vec::new(), false);
    krate
}

fn add_file(
    krate: &mut Crate,
    outlines: &BTreeMap<String, Outline>,
    file: &str,
    module: Vec<String>,
    test: bool,
) {
    if krate.modules.values().any(|f| f == file) {
        return;
    }
    krate.modules.insert(module.clone(), file.to_string());
    if test {
        krate.test_files.insert(file.to_string());
    }
    let Some(outline) = outlines.get(file) else {
        return;
    };
    let dir = children_dir(file);
    for decl in &outline.mods {
        let mut path = module.clone();
        path.extend(decl.scope.iter().cloned());
        path.push(decl.name.clone());
        if decl.inline {
            krate
                .modules
                .entry(path)
                .or_insert_with(|| file.to_string());
            continue;
        }
        let mut base = dir.clone();
        for segment in &decl.scope {
            base = format!("{base}{segment}/");
        }
        let flat = format!("{base}{}.rs", decl.name);
        let nested = format!("{base}{}/mod.rs", decl.name);
        let child = if outlines.contains_key(&flat) {
            flat
        } else {
            nested
        };
        if outlines.contains_key(&child) {
            add_file(krate, outlines, &child, path, test || decl.test);
        }
    }
}

/// Where the files of `file`'s child modules live (with a trailing `/`).
fn children_dir(file: &str) -> String {
    let (dir, name) = file.rsplit_once('/').unwrap_or(("", file));
    let dir = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    match name {
        "lib.rs" | "main.rs" | "mod.rs" | "build.rs" => dir,
        _ => format!("{dir}{}/", name.trim_end_matches(".rs")),
    }
}

/// An import of one file by another: the first line it happens on and the
/// names it brings in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Edge {
    pub(super) line: usize,
    pub(super) names: BTreeSet<String>,
}

/// Every file-to-file import of the crate (test files left out).
pub(super) fn edges(
    krate: &Crate,
    outlines: &BTreeMap<String, Outline>,
) -> BTreeMap<(String, String), Edge> {
    let mut edges: BTreeMap<(String, String), Edge> = BTreeMap::new();
    for (module, file) in &krate.modules {
        // Each file once, as the module it is (not as its inline modules).
        let inline =
            !module.is_empty() && krate.modules.get(&module[..module.len() - 1]) == Some(file);
        if inline || krate.test_files.contains(file) {
            continue;
        }
        let Some(outline) = outlines.get(file) else {
            continue;
        };
        for reference in &outline.references {
            let mut here = module.clone();
            here.extend(reference.scope.iter().cloned());
            let Some((target, name)) = resolve(krate, &here, &reference.path) else {
                continue;
            };
            if target == *file || krate.test_files.contains(&target) {
                continue;
            }
            let edge = edges.entry((file.clone(), target)).or_insert(Edge {
                line: reference.line,
                names: BTreeSet::new(),
            });
            edge.line = edge.line.min(reference.line);
            edge.names.insert(name);
        }
    }
    edges
}

/// The file `path` (named in module `here`) leads to, and the name it
/// brings from there; `None` for other crates' paths.
fn resolve(krate: &Crate, here: &[String], path: &[String]) -> Option<(String, String)> {
    let mut start: Vec<String> = here.to_vec();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => {
            start.clear();
            rest = &path[1..];
        }
        Some("self") => rest = &path[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                start.pop()?;
                rest = &rest[1..];
            }
        }
        Some(first) => {
            let mut child = start.clone();
            child.push(first.to_string());
            if !krate.modules.contains_key(&child) {
                return None;
            }
        }
        None => return None,
    }
    let mut module = start;
    let mut used = 0;
    for segment in rest {
        module.push(segment.clone());
        if !krate.modules.contains_key(&module) {
            module.pop();
            break;
        }
        used += 1;
    }
    let file = krate.modules.get(&module)?.clone();
    // A path that is a module names the module (`paths`, or `crate` for
    // the root); else the items after it (`Dist`, `cells::halt`).
    let name = if used < rest.len() {
        rest[used..].join("::")
    } else {
        module.last().map_or("crate", String::as_str).to_string()
    };
    Some((file, name))
}

/// The strongly connected components of more than one file (Tarjan).
pub(super) fn cycles(edges: &BTreeMap<(String, String), Edge>) -> Vec<Vec<String>> {
    let mut nodes: BTreeSet<&str> = BTreeSet::new();
    for (from, to) in edges.keys() {
        nodes.insert(from);
        nodes.insert(to);
    }
    let mut tarjan = Tarjan {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        components: Vec::new(),
    };
    for node in nodes {
        if !tarjan.index.contains_key(node) {
            tarjan.visit(node.to_string());
        }
    }
    let mut components: Vec<Vec<String>> = tarjan
        .components
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|mut c| {
            c.sort();
            c
        })
        .collect();
    components.sort();
    components
}

struct Tarjan<'a> {
    edges: &'a BTreeMap<(String, String), Edge>,
    index: BTreeMap<String, usize>,
    low: BTreeMap<String, usize>,
    stack: Vec<String>,
    on_stack: BTreeSet<String>,
    next: usize,
    components: Vec<Vec<String>>,
}

impl Tarjan<'_> {
    fn visit(&mut self, node: String) {
        self.index.insert(node.clone(), self.next);
        self.low.insert(node.clone(), self.next);
        self.next += 1;
        self.stack.push(node.clone());
        self.on_stack.insert(node.clone());
        let targets: Vec<String> = self
            .edges
            .keys()
            .filter(|(from, _)| *from == node)
            .map(|(_, to)| to.clone())
            .collect();
        for target in targets {
            if !self.index.contains_key(&target) {
                self.visit(target.clone());
                let low = self.low[&node].min(self.low[&target]);
                self.low.insert(node.clone(), low);
            } else if self.on_stack.contains(&target) {
                let low = self.low[&node].min(self.index[&target]);
                self.low.insert(node.clone(), low);
            }
        }
        if self.low[&node] == self.index[&node] {
            let mut component = Vec::new();
            while let Some(member) = self.stack.pop() {
                self.on_stack.remove(&member);
                let done = member == node;
                component.push(member);
                if done {
                    break;
                }
            }
            self.components.push(component);
        }
    }
}
