//! The bench report: figures by column, printed as a table, saved as
//! JSON, and compared with an earlier report.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Columns of x86_64 figures start with this (a block of their own).
const X86_PREFIX: &str = "x86_64";
/// The one x86_64 column: the bench guest in a cell under Bochs.
pub(super) const X86_COLUMN: &str = "x86_64 cell";

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Figure name.
    pub figure: String,
    /// Unit of the values.
    pub unit: String,
    /// Whether the figure is the same on every run (instruction counts,
    /// counters, sizes); wall times are not.
    pub deterministic: bool,
    /// What we aim at, if anything.
    pub target: String,
    /// Values by column (`gicv3 cell`, `gicv3 bare`, ...).
    pub values: BTreeMap<String, f64>,
    /// The smallest change the measurement can show (one counter tick
    /// spread over the repetitions); 0 for exact counts.
    #[serde(default)]
    pub resolution: f64,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Columns in display order.
    pub columns: Vec<String>,
    /// Rows in display order.
    pub rows: Vec<Row>,
}

impl Report {
    pub(super) fn row(
        &mut self,
        figure: &str,
        unit: &str,
        deterministic: bool,
        target: &str,
    ) -> &mut Row {
        if let Some(index) = self.rows.iter().position(|r| r.figure == figure) {
            return &mut self.rows[index];
        }
        self.rows.push(Row {
            figure: figure.into(),
            unit: unit.into(),
            deterministic,
            target: target.into(),
            values: BTreeMap::new(),
            resolution: 0.0,
        });
        self.rows.last_mut().expect("just pushed")
    }

    pub(super) fn set(&mut self, figure: &str, unit: &str, target: &str, column: &str, value: f64) {
        let deterministic = unit != "ms wall";
        self.row(figure, unit, deterministic, target)
            .values
            .insert(column.into(), value);
        if !self.columns.iter().any(|c| c == column) {
            self.columns.push(column.into());
        }
    }

    /// The value of `figure` in `column`.
    pub fn get(&self, figure: &str, column: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.figure == figure)?
            .values
            .get(column)
            .copied()
    }

    /// The deterministic figures only (what must match between runs).
    pub fn deterministic(&self) -> Vec<(String, String, f64)> {
        self.rows
            .iter()
            .filter(|r| r.deterministic)
            .flat_map(|r| {
                r.values
                    .iter()
                    .map(|(c, v)| (r.figure.clone(), c.clone(), *v))
            })
            .collect()
    }

    /// The report as a text table: the AArch64 columns, then the x86_64
    /// ones in a block of their own (each block lists only its rows).
    pub fn table(&self) -> String {
        let (x86, aarch64): (Vec<&String>, Vec<&String>) =
            self.columns.iter().partition(|c| c.starts_with(X86_PREFIX));
        let mut out = self.block(&aarch64);
        if !x86.is_empty() {
            out.push_str("\nx86_64 (Bochs)\n");
            out.push_str(&self.block(&x86));
        }
        out
    }

    /// The rows with a value in one of `columns`, under a header line.
    fn block(&self, columns: &[&String]) -> String {
        let mut out = String::new();
        let width = self
            .rows
            .iter()
            .map(|r| r.figure.len())
            .max()
            .unwrap_or(6)
            .max(6);
        out.push_str(&format!("{:<width$}  {:<14}", "figure", "unit"));
        for column in columns {
            out.push_str(&format!("  {column:>12}"));
        }
        out.push_str("  target\n");
        for row in &self.rows {
            if !columns.iter().any(|c| row.values.contains_key(*c)) {
                continue;
            }
            out.push_str(&format!("{:<width$}  {:<14}", row.figure, row.unit));
            for column in columns {
                match row.values.get(*column) {
                    Some(v) if v.fract() == 0.0 => out.push_str(&format!("  {v:>12.0}")),
                    Some(v) => out.push_str(&format!("  {v:>12.1}")),
                    None => out.push_str(&format!("  {:>12}", "-")),
                }
            }
            out.push_str(&format!("  {}\n", row.target));
        }
        out
    }

    /// Deterministic figures of `self` that are worse (higher) than in
    /// `old`, as `figure column: old -> new` lines. Every figure is "lower
    /// is better"; wall times are not compared (they vary).
    pub fn worse_than(&self, old: &Report) -> Vec<String> {
        let mut worse = Vec::new();
        for (figure, column, value) in self.deterministic() {
            // A change within one counter tick is the sampling moving, not
            // the code getting slower.
            let resolution = self
                .rows
                .iter()
                .find(|r| r.figure == figure)
                .map_or(0.0, |r| r.resolution);
            if let Some(before) = old.get(&figure, &column)
                && value > before + resolution + 1e-6
            {
                worse.push(format!("{figure} ({column}): {before} -> {value}"));
            }
        }
        worse
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_flags_only_worse_deterministic_figures() {
        let mut old = Report {
            columns: Vec::new(),
            rows: Vec::new(),
        };
        old.set("null call", "instructions", "", "gicv3 cell", 100.0);
        old.set("boot", "ms wall", "", "gicv3 cell", 1000.0);
        let mut new = old.clone();
        assert!(new.worse_than(&old).is_empty());
        // Within one tick of resolution: the sampling moved, not flagged.
        new.row("null call", "instructions", true, "").resolution = 16.0;
        new.set("null call", "instructions", "", "gicv3 cell", 116.0);
        assert!(new.worse_than(&old).is_empty());
        new.set("null call", "instructions", "", "gicv3 cell", 117.0);
        new.set("boot", "ms wall", "", "gicv3 cell", 5000.0);
        assert_eq!(new.worse_than(&old), ["null call (gicv3 cell): 100 -> 117"]);
        assert!(old.worse_than(&new).is_empty());
        assert!(new.table().contains("null call"));
    }
}
