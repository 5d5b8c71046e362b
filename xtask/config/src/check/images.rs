//! Images: what each cell runs, where it lands, where it starts, and what
//! the hypervisor image carries.
//!
//! Rules enforced here:
//! - an image names exactly one of `path` (a file relative to the config)
//!   or `guest` (a crate under `tests/guests/`, with a "did you mean");
//! - `load` is for raw images only;
//! - file names (image, initrd, device tree) have no control characters
//!   (they are printed at boot);
//! - with images required (bare-metal builds, `cargo xtask check`): the
//!   file is a regular file that can be read, no larger than the cell's
//!   RAM (an ELF: its RAM + 64 MiB), and no more than that is read
//!   (`files.rs`); an ELF is a valid ELF64 executable for the
//!   platform's architecture with at least one load segment;
//! - every segment lies inside one RAM region of the cell (not a device
//!   window): the hypervisor copies it there at each (re)start, and a
//!   segment running past its region would be written into memory the cell
//!   was not given;
//! - the entry point (given, or the image's) lies in executable RAM of the
//!   cell;
//! - all images together fit in the hypervisor's memory, which carries a
//!   pristine copy of each (for restarts).
//!
//! Without `require_images` (host builds of the core, snapshot and audit
//! tests) image files are not read at all, so nothing depends on whether
//! or how a guest was built; the rules on file contents then do not run.

use std::ops::Range as Span;
use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Location, suggestion};
use crate::model::{
    Arch, Config, Image, ImageKind, ImageSource, Range, Region, Segment, SegmentOrigin, human_size,
};
use crate::schema::{RawCell, RawImage};

use super::checker::{Checker, PAGE_SIZE, known_names};
use super::files::{FileError, read_regular};

/// What the hypervisor needs besides the cells' images: code, tables,
/// stacks (the linker checks the exact figure; this catches a config whose
/// images alone cannot fit, with a location).
const HYPERVISOR_OWN_MEMORY: u64 = 4 << 20;

impl Checker<'_> {
    /// The image of cell `cell`, placed in its `memory` when the file was
    /// read.
    pub(super) fn check_image(
        &mut self,
        cell: &str,
        raw_cell: &RawCell,
        memory: &[Region],
    ) -> Image {
        let image_span = raw_cell.image.span();
        let raw = raw_cell.image.get_ref();
        let kind = *raw.kind.get_ref();
        let (source, path, path_span) = self.image_source(cell, raw, image_span.clone());
        let mut image = Image {
            source,
            path: path.clone(),
            kind,
            file_size: None,
            segments: Vec::new(),
            entry: None,
            linux: None,
            boot_arg: raw.boot_arg.as_ref().map(|b| *b.get_ref()),
        };
        self.check_linux_keys(
            cell,
            raw,
            &image.source,
            image_span.clone(),
            path_span.clone(),
        );
        if kind == ImageKind::Elf && raw.load.is_some() {
            self.error(
                Diagnostic::new(self.at(image_span), "`load` is for raw images only")
                    .help("an ELF image is placed by its own program headers; remove `load`"),
            );
        }
        if path.as_os_str().is_empty() || !self.options.require_images {
            return image;
        }
        let limit = image_limit(kind, memory);
        let Some(data) = self.read_image(cell, &image, path_span.clone(), limit) else {
            return image;
        };
        image.file_size = Some(data.len() as u64);
        let placed = match kind {
            ImageKind::Raw => {
                place_raw(raw, memory, &data, &mut image);
                true
            }
            ImageKind::Linux => self.place_linux_image(cell, raw, memory, &data, &mut image),
            ImageKind::Elf => self.place_elf(cell, &data, path_span.clone(), &mut image),
        };
        if placed {
            self.check_fit(cell, &image, memory, path_span);
        }
        image
    }

    /// Where the image comes from, its resolved path (empty when the config
    /// is wrong) and the span to report file problems at.
    fn image_source(
        &mut self,
        cell: &str,
        raw: &RawImage,
        image_span: Span<usize>,
    ) -> (ImageSource, PathBuf, Span<usize>) {
        for value in [&raw.path, &raw.initrd, &raw.dtb].into_iter().flatten() {
            if value.get_ref().chars().any(crate::diag::needs_escape) {
                self.error(
                    Diagnostic::new(
                        self.at(value.span()),
                        format!(
                            "cell `{cell}`: the file name `{}` has control characters",
                            value.get_ref()
                        ),
                    )
                    .help("rename the file: its name is printed in the partition table at boot"),
                );
            }
        }
        match (&raw.path, &raw.guest) {
            (Some(path), None) => {
                let base = self
                    .options
                    .display_root
                    .join(self.source.path.parent().unwrap_or(Path::new("")));
                (
                    ImageSource::File,
                    normalize(&base.join(path.get_ref())),
                    path.span(),
                )
            }
            (None, Some(guest)) => {
                let known = known_names(&self.options.guests_dir, "");
                if !known.contains(guest.get_ref()) {
                    self.error(
                        Diagnostic::new(
                            self.at(guest.span()),
                            format!("cell `{cell}`: unknown guest crate `{}`", guest.get_ref()),
                        )
                        .help(format!(
                            "{} (guest crates are the folders in tests/guests/)",
                            suggestion(guest.get_ref(), known.iter().map(String::as_str))
                        )),
                    );
                }
                (
                    ImageSource::Guest(guest.get_ref().clone()),
                    self.options
                        .guest_image_path(self.platform.arch, guest.get_ref()),
                    guest.span(),
                )
            }
            _ => {
                self.error(
                    Diagnostic::new(
                        self.at(image_span.clone()),
                        format!("cell `{cell}`: the image needs exactly one of `path` or `guest`"),
                    )
                    .help("write `path = \"file\"` for a prebuilt image or `guest = \"crate\"` for a guest under tests/guests/"),
                );
                (ImageSource::File, PathBuf::new(), image_span)
            }
        }
    }

    /// The image file's bytes (at most `limit`), or `None` (reported) if
    /// it cannot be read.
    fn read_image(
        &mut self,
        cell: &str,
        image: &Image,
        path_span: Span<usize>,
        limit: u64,
    ) -> Option<Vec<u8>> {
        match read_regular(&image.path, limit) {
            Ok(data) => Some(data),
            Err(e) => {
                let shown = match image.source {
                    ImageSource::File => self.file_as_written(path_span.clone(), &image.path),
                    ImageSource::Guest(_) => {
                        crate::diag::display_path(&image.path, &self.options.display_root)
                            .display()
                            .to_string()
                    }
                };
                let help = match (&e, &image.source) {
                    (FileError::NotRegular(_), _) => {
                        "name an image file: FIFOs, devices and folders are refused (the check would hang or never end)"
                    }
                    (FileError::TooLarge(_), _) => {
                        "an image must fit in the cell's RAM regions (an ELF may carry up to 64 MiB more of headers and debug information): grow the regions or shrink the image"
                    }
                    (_, ImageSource::Guest(_)) => {
                        "`cargo xtask build CONFIG` builds guest crates before the hypervisor"
                    }
                    (_, ImageSource::File) => {
                        "check the path; it is relative to the config file's folder"
                    }
                };
                self.error(
                    Diagnostic::new(
                        self.at(path_span),
                        format!("cell `{cell}`: cannot read image {shown}: {e}"),
                    )
                    .help(help),
                );
                None
            }
        }
    }

    /// An ELF image's segments and entry; whether it could be placed.
    fn place_elf(
        &mut self,
        cell: &str,
        data: &[u8],
        path_span: Span<usize>,
        image: &mut Image,
    ) -> bool {
        match parse_elf(data) {
            Ok((machine, entry, segments)) => {
                let expected = match self.platform.arch {
                    Arch::Aarch64 => object::elf::EM_AARCH64,
                    Arch::X86_64 => object::elf::EM_X86_64,
                };
                if machine != expected {
                    self.error(
                        Diagnostic::new(
                            self.at(path_span),
                            format!("cell `{cell}`: the image is an ELF for another architecture (e_machine {machine:?})"),
                        )
                        .help(format!("build it for {}", self.platform.target_triple())),
                    );
                }
                image.segments = segments;
                image.entry = Some(entry);
                true
            }
            Err(e) => {
                self.error(
                    Diagnostic::new(
                        self.at(path_span),
                        format!("cell `{cell}`: the image is not a valid ELF executable: {e}"),
                    )
                    .help("use `kind = \"raw\"` for flat binaries"),
                );
                false
            }
        }
    }

    /// Every segment lies inside one RAM region of the cell.
    fn check_fit(&mut self, cell: &str, image: &Image, memory: &[Region], path_span: Span<usize>) {
        for segment in &image.segments {
            let placed = Range::new(segment.gpa, segment.size);
            let region = memory
                .iter()
                .filter(|r| r.device.is_none())
                .find(|r| r.guest().contains(segment.gpa));
            match region {
                Some(region) if region.guest().contains_range(&placed) => {}
                Some(region) => self.error(
                    Diagnostic::new(
                        self.at(path_span.clone()),
                        format!(
                            "cell `{cell}`: image {} does not fit: {} at {:#x} runs past the end of its region {}",
                            crate::diag::display_path(&image.path, &self.options.display_root).display(),
                            human_size(segment.size),
                            segment.gpa,
                            region.guest(),
                        ),
                    )
                    .help(format!(
                        "grow the region to at least {:#x} bytes, or load the image lower",
                        (placed.end() - region.gpa).next_multiple_of(PAGE_SIZE)
                    )),
                ),
                None => self.error(
                    Diagnostic::new(
                        self.at(path_span.clone()),
                        format!(
                            "cell `{cell}`: image part {placed} lies outside the cell's memory"
                        ),
                    )
                    .help("link or load the image inside one of the cell's memory regions"),
                ),
            }
        }
    }

    /// The entry point: the config's, else the image's. It must be in
    /// executable RAM, or the cell's first instruction faults.
    pub(super) fn check_entry(
        &mut self,
        name: &str,
        raw_cell: &RawCell,
        memory: &[Region],
        image_entry: Option<u64>,
    ) -> Option<u64> {
        let entry = raw_cell
            .entry
            .as_ref()
            .map(|e| *e.get_ref())
            .or(image_entry);
        let address = entry?;
        let executable = memory
            .iter()
            .any(|r| r.device.is_none() && r.perm.execute && r.guest().contains(address));
        if !executable {
            let span = raw_cell
                .entry
                .as_ref()
                .map_or_else(|| raw_cell.image.span(), toml::Spanned::span);
            let ranges: Vec<String> = memory
                .iter()
                .filter(|r| r.perm.execute && r.device.is_none())
                .map(|r| r.guest().to_string())
                .collect();
            self.error(
                Diagnostic::new(
                    self.at(span),
                    format!(
                        "entry point {address:#x} of cell `{name}` is outside its executable memory"
                    ),
                )
                .help(if ranges.is_empty() {
                    "give the cell a region with perm containing `x`".to_string()
                } else {
                    format!("use an address in {}", ranges.join(", "))
                }),
            );
        }
        entry
    }
}

/// An ELF file also carries headers, symbols and debug information that
/// are not loaded: it may be this much larger than the cell's RAM.
const ELF_EXTRA: u64 = 64 << 20;

/// The most bytes of an image file read for a cell with `memory`: all of
/// its RAM (an image larger than that cannot fit), plus [`ELF_EXTRA`] for
/// an ELF file.
fn image_limit(kind: ImageKind, memory: &[Region]) -> u64 {
    let ram: u64 = memory
        .iter()
        .filter(|r| r.device.is_none())
        .map(|r| r.size)
        .fold(0, u64::saturating_add);
    match kind {
        ImageKind::Elf => ram.saturating_add(ELF_EXTRA),
        ImageKind::Raw | ImageKind::Linux => ram,
    }
}

/// A raw image goes to `load`, default the cell's first region; its entry
/// is its first byte.
fn place_raw(raw: &RawImage, memory: &[Region], data: &[u8], image: &mut Image) {
    let load = raw
        .load
        .as_ref()
        .map(|l| *l.get_ref())
        .or_else(|| memory.first().map(|r| r.gpa));
    if let Some(load) = load {
        image.segments.push(Segment {
            gpa: load,
            size: data.len() as u64,
            file_offset: 0,
            file_size: data.len() as u64,
            origin: SegmentOrigin::Image,
        });
        image.entry = Some(load);
    }
}

/// The cells' images are copied into the hypervisor's image (their pristine
/// copies): they must fit in its memory.
pub(super) fn check_payload(config: &Config, at: Location) -> Option<Diagnostic> {
    let payload: u64 = config
        .cells
        .iter()
        .flat_map(|cell| &cell.image.segments)
        .map(|segment| segment.file_size)
        .sum();
    let room = config
        .hypervisor
        .memory
        .end()
        .saturating_sub(config.platform.load_address);
    (payload + HYPERVISOR_OWN_MEMORY > room).then(|| {
        Diagnostic::new(
            at,
            format!(
                "the cells' images ({}) do not fit in the hypervisor's memory ({} from its load address)",
                human_size(payload),
                human_size(room)
            ),
        )
        .help(format!(
            "the hypervisor image carries every cell's pristine image: grow `memory` to at least {:#x} bytes",
            (payload + HYPERVISOR_OWN_MEMORY + config.platform.load_address
                - config.hypervisor.memory.base)
                .next_multiple_of(2 << 20)
        ))
    })
}

/// Machine, entry and load segments (physical addresses) of an ELF64 file.
fn parse_elf(data: &[u8]) -> Result<(object::elf::Machine, u64, Vec<Segment>), String> {
    use object::Endianness;
    use object::elf::{FileHeader64, PT_LOAD};
    use object::read::elf::{FileHeader, ProgramHeader};

    let header = FileHeader64::<Endianness>::parse(data).map_err(|e| e.to_string())?;
    let endian = header.endian().map_err(|e| e.to_string())?;
    let mut segments = Vec::new();
    for ph in header
        .program_headers(endian, data)
        .map_err(|e| e.to_string())?
    {
        if ph.p_type(endian) == PT_LOAD && ph.p_memsz(endian) > 0 {
            let file_offset = ph.p_offset(endian);
            let file_size = ph.p_filesz(endian).min(ph.p_memsz(endian));
            if file_offset.saturating_add(file_size) > data.len() as u64 {
                return Err("a load segment lies beyond the end of the file".into());
            }
            segments.push(Segment {
                gpa: ph.p_paddr(endian),
                size: ph.p_memsz(endian),
                file_offset,
                file_size,
                origin: SegmentOrigin::Image,
            });
        }
    }
    if segments.is_empty() {
        return Err("it has no loadable segment".into());
    }
    Ok((header.e_machine(endian), header.e_entry(endian), segments))
}

/// Removes `.` and `dir/..` components without touching the file system.
pub(super) fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
