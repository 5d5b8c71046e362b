//! The `Checker` the passes share: the config and its checked platform,
//! what the cells checked so far have claimed (host memory, CPUs, devices,
//! interrupts, names), and the diagnostics collected. Each pass adds its
//! methods in its own file; this one enforces no rule itself.

use std::collections::BTreeMap;
use std::ops::Range as Span;
use std::path::Path;

use crate::diag::{Diagnostic, Diagnostics, Location, Source};
use crate::model::{Cell, Channel, Hypervisor, Platform, Range};
use crate::schema::{RawConfig, RawPlatform, RawRange};

use super::options::LoadOptions;

/// Smallest mapping granule: every region is a multiple of this.
pub const PAGE_SIZE: u64 = 4096;

/// First INTID a cell may own (SGIs and PPIs are per core, not assignable).
pub const FIRST_SPI: u32 = 32;

/// I/O APIC inputs (GSIs) of an APIC platform that does not say otherwise.
pub const DEFAULT_IOAPIC_INPUTS: u32 = 24;

/// Stems of the files with extension `ext` (or folder names when `ext` is
/// empty) in `dir`, sorted.
pub fn known_names(dir: &Path, ext: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            if ext.is_empty() {
                p.is_dir()
            } else {
                p.extension().is_some_and(|e| e == ext)
            }
        })
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}

/// Whether `name` is fit to be printed and to name something: non-empty,
/// without control characters or bidirectional overrides (it ends up in
/// messages, the partition table and the boot banner).
pub(super) fn printable_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(crate::diag::needs_escape)
}

/// A raw `{ base, size }` as a model range.
pub(super) fn range(raw: &RawRange) -> Range {
    Range::new(*raw.base.get_ref(), raw.size.get_ref().0)
}

/// Where a raw `{ base, size }` is written, for messages.
pub(super) fn span_of(raw: &RawRange) -> Span<usize> {
    raw.base.span().start..raw.size.span().end
}

/// Who owns a piece of host memory, for overlap messages.
pub(super) struct HostClaim {
    pub(super) owner: String,
    pub(super) range: Range,
    pub(super) location: Location,
}

/// Something a cell maps at a guest-physical range.
pub(super) struct GuestClaim {
    /// What it is, for messages (`cell `a` memory[2]`, ...).
    pub(super) what: String,
    /// Its guest-physical range.
    pub(super) range: Range,
    /// Where the config declares it.
    pub(super) location: Location,
}

/// The cell that claimed a CPU, device or interrupt, and where.
pub(super) type Owner = (String, Location);

/// The checks of a product config against its checked platform, with what
/// the cells checked so far have claimed.
pub(super) struct Checker<'a> {
    pub(super) source: &'a Source,
    pub(super) platform_source: &'a Source,
    pub(super) raw_platform: &'a RawPlatform,
    pub(super) platform: &'a Platform,
    pub(super) options: &'a LoadOptions,
    pub(super) errors: Diagnostics,
    /// Warnings: the config is accepted, but `cargo xtask check` says why
    /// it deserves a second look.
    pub(super) warnings: Vec<Diagnostic>,
    /// The hypervisor's console device (platform device index), once the
    /// `[hypervisor]` table is checked.
    pub(super) console: usize,
    /// Host memory claimed so far: the hypervisor's, cells' RAM regions,
    /// channels. No two may overlap.
    pub(super) claims: Vec<HostClaim>,
    /// What each cell (by id) maps in its guest-physical space.
    pub(super) guest_claims: Vec<Vec<GuestClaim>>,
    /// Cell names seen so far, where each is declared.
    pub(super) cell_names: BTreeMap<String, Location>,
    /// Owner of each platform CPU index claimed so far.
    pub(super) cpu_owner: BTreeMap<u32, Owner>,
    /// Owner of each platform device index claimed so far.
    pub(super) device_owner: BTreeMap<usize, Owner>,
    /// Owner of each interrupt claimed so far.
    pub(super) irq_owner: BTreeMap<u32, Owner>,
    /// Where each Linux cell's image is named (for errors found once the
    /// whole config is known: its device tree).
    pub(super) linux_images: Vec<(String, Location)>,
}

impl<'a> Checker<'a> {
    pub(super) fn new(
        source: &'a Source,
        platform_source: &'a Source,
        raw_platform: &'a RawPlatform,
        platform: &'a Platform,
        options: &'a LoadOptions,
    ) -> Self {
        Checker {
            source,
            platform_source,
            raw_platform,
            platform,
            options,
            errors: Diagnostics::default(),
            warnings: Vec::new(),
            console: platform.console,
            claims: Vec::new(),
            guest_claims: Vec::new(),
            cell_names: BTreeMap::new(),
            cpu_owner: BTreeMap::new(),
            device_owner: BTreeMap::new(),
            irq_owner: BTreeMap::new(),
            linux_images: Vec::new(),
        }
    }

    /// The hypervisor, then each cell, then the channels (which refer to
    /// the cells).
    pub(super) fn check(&mut self, raw: &RawConfig) -> (Hypervisor, Vec<Cell>, Vec<Channel>) {
        let hypervisor = self.check_hypervisor(&raw.hypervisor);
        self.console = hypervisor.console;
        let cells = self.check_cells(raw, &hypervisor);
        let channels = self.check_channels(raw, &cells);
        // Once everything is claimed: host memory, each guest space.
        self.check_host_claims();
        self.check_guest_spaces(&cells);
        self.check_hazards(raw, &cells);
        (hypervisor, cells, channels)
    }

    /// A location in the config file.
    pub(super) fn at(&self, span: Span<usize>) -> Location {
        self.source.at(span)
    }

    /// A file the config names, for messages: as the user wrote it (the
    /// string at `span`, relative to the config's folder), then where
    /// that is (`resolved`, relative to the display root) when it differs.
    pub(super) fn file_as_written(&self, span: Span<usize>, resolved: &Path) -> String {
        let shown = crate::diag::display_path(resolved, &self.options.display_root);
        let shown = shown.display().to_string();
        let written = self
            .source
            .text
            .get(span)
            .map(|t| t.trim().trim_matches(|c| c == '"' || c == '\''));
        match written {
            Some(written) if !written.is_empty() && written != shown => {
                format!("`{written}` ({shown})")
            }
            _ => shown,
        }
    }

    pub(super) fn error(&mut self, diagnostic: Diagnostic) {
        self.errors.push(diagnostic);
    }

    /// Records a warning (build it with [`Diagnostic::warning`]).
    pub(super) fn warn(&mut self, diagnostic: Diagnostic) {
        self.warnings.push(diagnostic);
    }
}
