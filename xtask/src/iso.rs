//! The bootable GRUB (BIOS) ISO `cargo xtask build` makes for x86_64
//! configs: GRUB loads the hypervisor's multiboot2 ELF itself.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::install::{Tool, ensure_tools};

/// The ISO's file name in `target/dist/<config>/`.
pub const ISO: &str = "bulkhead.iso";

/// GRUB's configuration on the ISO: no menu, straight into the hypervisor.
pub const GRUB_CFG: &str = "set timeout=0\nmultiboot2 /boot/bulkhead.elf\nboot\n";

/// What making the ISO needs: GRUB's BIOS modules and tools, xorriso and
/// mtools (grub-mkrescue calls both).
pub const ISO_TOOLS: &[Tool] = &[
    Tool {
        what: "grub-mkrescue",
        package: "grub-common",
    },
    Tool {
        what: "grub-file",
        package: "grub-common",
    },
    Tool {
        what: "/usr/lib/grub/i386-pc/multiboot2.mod",
        package: "grub-pc-bin",
    },
    Tool {
        what: "xorriso",
        package: "xorriso",
    },
    Tool {
        what: "mformat",
        package: "mtools",
    },
];

/// Checks that `elf` is a multiboot2 image and wraps it in a bootable GRUB
/// (BIOS) ISO `dir/bulkhead.iso`; returns its path.
pub fn make_iso(elf: &Path, dir: &Path) -> Result<PathBuf> {
    ensure_tools(ISO_TOOLS)?;
    let status = Command::new("grub-file")
        .arg("--is-x86-multiboot2")
        .arg(elf)
        .status()
        .context("run grub-file")?;
    if !status.success() {
        bail!(
            "{} is not a multiboot2 image (grub-file --is-x86-multiboot2): its `.multiboot2` \
             header must lie 8-aligned in the first 32 KiB of the file (linker/x86_64.ld puts \
             it first)",
            elf.display()
        );
    }
    let tree = dir.join("iso");
    if tree.exists() {
        std::fs::remove_dir_all(&tree).with_context(|| format!("remove {}", tree.display()))?;
    }
    std::fs::create_dir_all(tree.join("boot/grub"))?;
    std::fs::copy(elf, tree.join("boot/bulkhead.elf"))?;
    std::fs::write(tree.join("boot/grub/grub.cfg"), GRUB_CFG)?;
    let iso = dir.join(ISO);
    let output = Command::new("grub-mkrescue")
        .arg("-o")
        .arg(&iso)
        .arg(&tree)
        .output()
        .context("run grub-mkrescue")?;
    let log = dir.join("grub-mkrescue.log");
    std::fs::write(&log, [output.stdout, output.stderr].concat())?;
    if !output.status.success() {
        bail!(
            "grub-mkrescue failed ({}); see {}",
            output.status,
            log.display()
        );
    }
    Ok(iso)
}
