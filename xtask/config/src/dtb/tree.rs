//! A device-tree writer that names the node and property in every error.

use std::collections::HashSet;

use vm_fdt::{FdtWriter, FdtWriterNode};

use crate::model::Range;

/// A [`FdtWriter`] that tracks the current path for error messages and
/// refuses two nodes with the same path.
pub(super) struct Tree {
    fdt: FdtWriter,
    path: Vec<String>,
    paths: HashSet<String>,
}

impl Tree {
    pub(super) fn new() -> Result<Self, String> {
        Ok(Tree {
            fdt: FdtWriter::new().map_err(|e| format!("cannot start a device tree: {e}"))?,
            path: Vec::new(),
            paths: HashSet::new(),
        })
    }

    /// The path of the open node (`/` for the root).
    fn here(&self) -> String {
        let path = self.path.iter().skip(1).fold(String::new(), |mut p, n| {
            p.push('/');
            p.push_str(n);
            p
        });
        if path.is_empty() { "/".into() } else { path }
    }

    pub(super) fn begin(&mut self, name: &str) -> Result<FdtWriterNode, String> {
        let path = if self.path.is_empty() {
            "/".to_string()
        } else {
            let parent = self.here();
            format!("{}/{name}", parent.trim_end_matches('/'))
        };
        if !self.paths.insert(path.clone()) {
            return Err(format!(
                "two nodes would be named `{path}` (devices or channels at the same address?)"
            ));
        }
        let node = self
            .fdt
            .begin_node(name)
            .map_err(|e| format!("node `{path}`: {e}"))?;
        self.path.push(name.to_string());
        Ok(node)
    }

    pub(super) fn end(&mut self, node: FdtWriterNode) -> Result<(), String> {
        let here = self.here();
        self.fdt
            .end_node(node)
            .map_err(|e| format!("closing node `{here}`: {e}"))?;
        self.path.pop();
        Ok(())
    }

    fn check(&self, name: &str, result: Result<(), vm_fdt::Error>) -> Result<(), String> {
        result.map_err(|e| format!("property `{name}` of `{}`: {e}", self.here()))
    }

    pub(super) fn null(&mut self, name: &str) -> Result<(), String> {
        let r = self.fdt.property_null(name);
        self.check(name, r)
    }

    pub(super) fn string(&mut self, name: &str, value: &str) -> Result<(), String> {
        let r = self.fdt.property_string(name, value);
        self.check(name, r)
    }

    pub(super) fn strings<S: AsRef<str>>(
        &mut self,
        name: &str,
        values: &[S],
    ) -> Result<(), String> {
        let values = values.iter().map(|s| s.as_ref().to_string()).collect();
        let r = self.fdt.property_string_list(name, values);
        self.check(name, r)
    }

    pub(super) fn u32(&mut self, name: &str, value: u32) -> Result<(), String> {
        let r = self.fdt.property_u32(name, value);
        self.check(name, r)
    }

    pub(super) fn u64(&mut self, name: &str, value: u64) -> Result<(), String> {
        let r = self.fdt.property_u64(name, value);
        self.check(name, r)
    }

    pub(super) fn cells(&mut self, name: &str, cells: &[u32]) -> Result<(), String> {
        let r = self.fdt.property_array_u32(name, cells);
        self.check(name, r)
    }

    /// `reg` with 2-cell addresses and sizes.
    pub(super) fn reg(&mut self, ranges: &[Range]) -> Result<(), String> {
        let cells: Vec<u64> = ranges.iter().flat_map(|r| [r.base, r.size]).collect();
        let r = self.fdt.property_array_u64("reg", &cells);
        self.check("reg", r)
    }

    pub(super) fn interrupts(&mut self, specifiers: &[[u32; 3]]) -> Result<(), String> {
        self.cells("interrupts", specifiers.as_flattened())
    }

    pub(super) fn phandle(&mut self, value: u32) -> Result<(), String> {
        let r = self.fdt.property_phandle(value);
        self.check("phandle", r)
    }

    pub(super) fn finish(self) -> Result<Vec<u8>, String> {
        self.fdt
            .finish()
            .map_err(|e| format!("cannot finish the device tree: {e}"))
    }
}
