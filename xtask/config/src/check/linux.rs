//! arm64 Linux images: the boot protocol's placement, the initrd and the
//! device tree.
//!
//! Rules enforced here:
//! - `initrd`, `bootargs` and `dtb` are for Linux images only;
//! - a Linux image is a file (not a guest crate), takes no `load` (the boot
//!   protocol places it) and no `boot-arg` (x0 is the device tree);
//! - with images required: the file is an arm64 `Image` (header magic, a
//!   non-zero `image_size` covering the file, a page-aligned `text_offset`
//!   below 2 MiB), the initrd and hand-written device tree can be read, the
//!   cell has a RAM region, and the kernel, initrd and the 2 MiB device
//!   tree slot all fit in that first RAM region without overlapping;
//! - once the whole config is known: the cell's device tree can be
//!   generated (it describes the cell's CPUs, memory, devices and
//!   channels) and is at most 2 MiB.
//!
//! Placement follows Documentation/arch/arm64/booting.rst: the kernel
//! `text_offset` above the first 2 MiB boundary of the region, the device
//! tree in the region's last 2 MiB block, the initrd just below it. The
//! kernel's `image_size` covers its BSS, so the whole of it must fit, not
//! just the file: the kernel clears its BSS before it reads the device
//! tree, and a BSS over the initrd or the tree would destroy them.

use std::ops::Range as Span;
use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::diag::{Diagnostic, Diagnostics, Location};
use crate::model::{
    Config, Image, ImageKind, ImageSource, LinuxBoot, Range, Region, Segment, SegmentOrigin,
    human_size,
};
use crate::schema::RawImage;

use super::checker::{Checker, PAGE_SIZE};
use super::images::normalize;

/// Largest device tree a Linux cell may get: the 2 MiB block reserved for
/// it (the arm64 boot protocol's limit, too).
pub const DTB_SLOT: u64 = 2 << 20;

const TWO_MIB: u64 = 2 << 20;

/// The fields of an arm64 Linux `Image` header the boot protocol needs
/// (Documentation/arch/arm64/booting.rst).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinuxHeader {
    /// Offset of the image above a 2 MiB aligned base.
    pub text_offset: u64,
    /// Memory the kernel needs from its start, BSS included.
    pub image_size: u64,
}

impl LinuxHeader {
    /// Reads the 64-byte header: `text_offset` at 8, `image_size` at 16,
    /// magic "ARMd" at 56; little-endian.
    pub fn parse(data: &[u8]) -> Result<Self, String> {
        let u64_at = |offset: usize| -> Option<u64> {
            data.get(offset..offset + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
        };
        if data.get(56..60) != Some(b"ARMd".as_slice()) {
            return Err("no \"ARMd\" magic at offset 0x38".into());
        }
        let (Some(text_offset), Some(image_size)) = (u64_at(8), u64_at(16)) else {
            return Err("header too short".into());
        };
        if image_size == 0 {
            return Err("image_size is 0 (a kernel older than 3.17): not supported".into());
        }
        if image_size < data.len() as u64 {
            return Err(format!(
                "image_size {image_size:#x} is smaller than the file ({:#x} bytes)",
                data.len()
            ));
        }
        if !text_offset.is_multiple_of(PAGE_SIZE) || text_offset >= 2 << 20 {
            return Err(format!(
                "text_offset {text_offset:#x} is not a page offset inside 2 MiB"
            ));
        }
        Ok(Self {
            text_offset,
            image_size,
        })
    }
}

impl Checker<'_> {
    /// The keys that only make sense for one kind of image. A Linux cell's
    /// image is recorded for the device-tree pass.
    pub(super) fn check_linux_keys(
        &mut self,
        cell: &str,
        raw: &RawImage,
        source: &ImageSource,
        image_span: Span<usize>,
        path_span: Span<usize>,
    ) {
        if *raw.kind.get_ref() != ImageKind::Linux {
            for (key, value) in [
                ("initrd", &raw.initrd),
                ("bootargs", &raw.bootargs),
                ("dtb", &raw.dtb),
            ] {
                if let Some(value) = value {
                    self.error(
                        Diagnostic::new(
                            self.at(value.span()),
                            format!("`{key}` is for Linux images only"),
                        )
                        .help("write `kind = \"linux\"` for an arm64 kernel Image, or remove it"),
                    );
                }
            }
            return;
        }
        if let ImageSource::Guest(_) = source {
            self.error(
                Diagnostic::new(
                    self.at(image_span.clone()),
                    format!("cell `{cell}`: a Linux image is a kernel file, not a guest crate"),
                )
                .help("write `path = \"Image\"` (see tests/linux/ for fetching one)"),
            );
        }
        if raw.load.is_some() {
            self.error(
                Diagnostic::new(self.at(image_span), "`load` is not for Linux images")
                    .help("the boot protocol places the kernel: remove `load`"),
            );
        }
        if let Some(boot_arg) = &raw.boot_arg {
            self.error(
                Diagnostic::new(
                    self.at(boot_arg.span()),
                    "`boot-arg` is not for Linux images",
                )
                .help("a Linux cell's boot argument is its device tree address: remove `boot-arg`"),
            );
        }
        self.linux_images
            .push((cell.to_string(), self.at(path_span)));
    }

    /// Places a Linux image (`data`) and fills in its segments (kernel,
    /// initrd, device tree slot) and entry; whether it could be placed.
    pub(super) fn place_linux_image(
        &mut self,
        cell: &str,
        raw: &RawImage,
        memory: &[Region],
        data: &[u8],
        image: &mut Image,
    ) -> bool {
        let linux = match self.place_linux(cell, raw, memory, data) {
            Ok(linux) => linux,
            Err(diagnostic) => {
                self.error(diagnostic);
                return false;
            }
        };
        image.entry = Some(linux.kernel.base);
        image.segments.push(Segment {
            gpa: linux.kernel.base,
            size: linux.kernel.size,
            file_offset: 0,
            file_size: data.len() as u64,
            origin: SegmentOrigin::Image,
        });
        if let Some((_, range)) = &linux.initrd {
            image.segments.push(Segment {
                gpa: range.base,
                size: range.size,
                file_offset: 0,
                file_size: range.size,
                origin: SegmentOrigin::Initrd,
            });
        }
        // Sized once the device tree is built (`finish_linux_cells`).
        image.segments.push(Segment {
            gpa: linux.dtb_slot.base,
            size: linux.dtb.len() as u64,
            file_offset: 0,
            file_size: linux.dtb.len() as u64,
            origin: SegmentOrigin::DeviceTree,
        });
        image.linux = Some(linux);
        true
    }

    /// Lays out the kernel, its initrd and its device tree slot in the
    /// cell's first RAM region by the arm64 boot protocol. The device tree
    /// itself is built once the whole config is known.
    fn place_linux(
        &mut self,
        cell: &str,
        raw: &RawImage,
        memory: &[Region],
        data: &[u8],
    ) -> Result<LinuxBoot, Diagnostic> {
        let path_span = raw
            .path
            .as_ref()
            .map_or_else(|| raw.kind.span(), |p| p.span());
        let header = LinuxHeader::parse(data).map_err(|e| {
            Diagnostic::new(
                self.at(path_span.clone()),
                format!("cell `{cell}`: not an arm64 Linux Image: {e}"),
            )
            .help("give the raw `Image` (not vmlinuz.efi or a compressed file); tests/linux/fetch-arm64.sh extracts one")
        })?;
        let Some(ram) = memory.iter().find(|r| r.device.is_none()) else {
            return Err(Diagnostic::new(
                self.at(path_span),
                format!("cell `{cell}`: a Linux cell needs a RAM region"),
            )
            .help("add a [[cell.memory]] region of at least 64 MiB"));
        };
        let kernel = Range::new(
            ram.gpa.next_multiple_of(TWO_MIB) + header.text_offset,
            header.image_size,
        );
        let dtb_slot = Range::new(
            (ram.guest().end() / TWO_MIB * TWO_MIB).saturating_sub(TWO_MIB),
            TWO_MIB,
        );
        let initrd = match &raw.initrd {
            Some(value) => {
                let (path, size) = self.linux_file(cell, value, "initrd")?;
                let start = dtb_slot.base.saturating_sub(size) / PAGE_SIZE * PAGE_SIZE;
                Some((path, Range::new(start, size)))
            }
            None => None,
        };
        let (dtb_file, dtb) = match &raw.dtb {
            Some(value) => self.read_dtb(cell, value)?,
            None => (None, Vec::new()),
        };
        let lowest_above_kernel = initrd
            .as_ref()
            .map_or(dtb_slot.base, |(_, range)| range.base);
        if dtb_slot.base < kernel.base || kernel.end() > lowest_above_kernel {
            return Err(self.linux_too_big(cell, path_span, ram, header, initrd.as_ref()));
        }
        Ok(LinuxBoot {
            kernel,
            initrd,
            bootargs: raw
                .bootargs
                .as_ref()
                .map_or_else(String::new, |b| b.get_ref().clone()),
            dtb_slot,
            dtb_file,
            dtb,
        })
    }

    /// The path (relative to the config's folder) and size of a file a
    /// Linux image names (`what`: initrd, device tree).
    fn linux_file(
        &self,
        cell: &str,
        value: &Spanned<String>,
        what: &str,
    ) -> Result<(PathBuf, u64), Diagnostic> {
        let dir = self
            .options
            .display_root
            .join(self.source.path.parent().unwrap_or(Path::new("")));
        let path = normalize(&dir.join(value.get_ref()));
        match super::files::regular_file_size(&path) {
            Ok(size) => Ok((path, size)),
            Err(e) => Err(Diagnostic::new(
                self.at(value.span()),
                format!(
                    "cell `{cell}`: cannot read {what} {}: {e}",
                    self.file_as_written(value.span(), &path)
                ),
            )
            .help("check the path; it is relative to the config file's folder")),
        }
    }

    /// A hand-written device tree: its path and bytes.
    fn read_dtb(
        &self,
        cell: &str,
        value: &Spanned<String>,
    ) -> Result<(Option<PathBuf>, Vec<u8>), Diagnostic> {
        let (path, _) = self.linux_file(cell, value, "device tree")?;
        let bytes = super::files::read_regular(&path, TWO_MIB).map_err(|e| {
            Diagnostic::new(
                self.at(value.span()),
                format!("cell `{cell}`: cannot read device tree: {e}"),
            )
            .help("a device tree blob is a regular file of at most 2 MiB (its slot in the cell's memory)")
        })?;
        Ok((Some(path), bytes))
    }

    /// The kernel, initrd and device tree do not fit in `ram`: how much
    /// they need.
    fn linux_too_big(
        &self,
        cell: &str,
        path_span: Span<usize>,
        ram: &Region,
        header: LinuxHeader,
        initrd: Option<&(PathBuf, Range)>,
    ) -> Diagnostic {
        let needed = header.text_offset
            + header.image_size
            + initrd.map_or(0, |(_, r)| r.size.next_multiple_of(PAGE_SIZE))
            + TWO_MIB
            + (ram.gpa.next_multiple_of(TWO_MIB) - ram.gpa);
        Diagnostic::new(
            self.at(path_span),
            format!(
                "cell `{cell}`: the kernel ({}), {}and the device tree (2 MiB) do not fit in its first RAM region {}",
                human_size(header.image_size),
                initrd.map_or(String::new(), |(_, r)| format!("the initrd ({}) ", human_size(r.size))),
                ram.guest(),
            ),
        )
        .help(format!(
            "grow that region to at least {:#x} bytes (Linux itself wants far more: 64 MiB or more)",
            needed.next_multiple_of(TWO_MIB)
        ))
    }
}

/// Generates (or takes the hand-written) device tree of every Linux cell
/// whose files were read, now that the whole config is known.
pub(super) fn finish_linux_cells(
    config: &mut Config,
    locations: &[(String, Location)],
) -> Diagnostics {
    let mut errors = Diagnostics::default();
    for index in 0..config.cells.len() {
        let Some(linux) = config.cells[index].image.linux.clone() else {
            continue;
        };
        let name = config.cells[index].name.clone();
        let location = locations
            .iter()
            .find(|(cell, _)| *cell == name)
            .map(|(_, location)| location.clone())
            .unwrap_or_else(|| Location {
                path: config.path.clone(),
                line: 1,
                column: 1,
            });
        match device_tree(config, index, &linux, location) {
            Ok(dtb) => set_device_tree(&mut config.cells[index].image, dtb),
            Err(error) => errors.push(error),
        }
    }
    errors
}

/// The device tree of Linux cell `index`: the hand-written one, or one
/// generated from the config; at most [`DTB_SLOT`] bytes.
fn device_tree(
    config: &Config,
    index: usize,
    linux: &LinuxBoot,
    location: Location,
) -> Result<Vec<u8>, Diagnostic> {
    let name = &config.cells[index].name;
    let dtb = if linux.dtb_file.is_some() {
        linux.dtb.clone()
    } else {
        let boot = crate::dtb::BootInfo {
            bootargs: linux.bootargs.clone(),
            initrd: linux.initrd.as_ref().map(|(_, range)| *range),
        };
        crate::dtb::generate(config, &config.cells[index], &boot).map_err(|e| {
            Diagnostic::new(
                location.clone(),
                format!("cell `{name}`: cannot generate its device tree: {e}"),
            )
            .help("give a hand-written one with `dtb = \"file.dtb\"`")
        })?
    };
    if dtb.len() as u64 > DTB_SLOT {
        return Err(Diagnostic::new(
            location,
            format!(
                "cell `{name}`: its device tree is {} (at most 2 MiB)",
                human_size(dtb.len() as u64)
            ),
        )
        .help("the arm64 boot protocol limits the device tree to 2 MiB"));
    }
    Ok(dtb)
}

/// Stores the device tree and sizes its segment.
fn set_device_tree(image: &mut Image, dtb: Vec<u8>) {
    for segment in &mut image.segments {
        if segment.origin == SegmentOrigin::DeviceTree {
            segment.size = dtb.len() as u64;
            segment.file_size = dtb.len() as u64;
        }
    }
    if let Some(linux) = image.linux.as_mut() {
        linux.dtb = dtb;
    }
}
