//! Linux images: placement by the arm64 boot protocol, the generated or
//! hand-written device tree, and what does not fit. Uses small fake
//! `Image` files written to a temporary folder (only the header matters).

use std::path::{Path, PathBuf};

use bulkhead_config::model::{Config, SegmentOrigin};
use bulkhead_config::{LoadOptions, load};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A fake arm64 `Image`: `len` bytes with the boot header.
fn fake_image(text_offset: u64, image_size: u64, len: usize) -> Vec<u8> {
    let mut image = vec![0u8; len];
    image[8..16].copy_from_slice(&text_offset.to_le_bytes());
    image[16..24].copy_from_slice(&image_size.to_le_bytes());
    image[56..60].copy_from_slice(b"ARMd");
    image
}

/// Writes `config` (a Linux cell with `ram` bytes of RAM at 0x4000_0000
/// and `extra` lines in its image table) and its files into a fresh
/// folder; loads it with images required.
fn load_linux(
    name: &str,
    image: &[u8],
    initrd: Option<usize>,
    ram: &str,
    extra: &str,
) -> Result<Config, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("linux-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Image"), image).unwrap();
    let mut initrd_line = String::new();
    if let Some(size) = initrd {
        std::fs::write(dir.join("initrd"), vec![0x5a; size]).unwrap();
        initrd_line = "initrd = \"initrd\"".into();
    }
    let text = format!(
        r#"platform = "qemu-virt-aarch64"

[hypervisor]
memory = {{ base = 0x4020_0000, size = "62M" }}

[[cell]]
name = "linux"
cpus = [0, 1]
devices = ["rtc"]

[cell.image]
kind = "linux"
path = "Image"
bootargs = "console=ttyAMA0 quiet"
{initrd_line}
{extra}

[[cell.memory]]
gpa = 0x4000_0000
hpa = 0x4800_0000
size = "{ram}"
perm = "rwx"
"#
    );
    let path = dir.join("linux.toml");
    std::fs::write(&path, text).unwrap();
    let options = LoadOptions {
        require_images: true,
        ..LoadOptions::for_workspace(&workspace())
    };
    load(&path, &options).map_err(|e| e.to_string())
}

const MIB: u64 = 1 << 20;

#[test]
fn kernel_initrd_and_device_tree_are_placed_by_the_boot_protocol() {
    let image = fake_image(0x8_0000, 3 * MIB, 64 * 1024);
    let config = load_linux("placed", &image, Some(300_000), "64M", "").unwrap();
    let cell = &config.cells[0];
    let linux = cell.image.linux.as_ref().unwrap();
    // Kernel text_offset above the region's first 2 MiB boundary; entry
    // there; image_size of memory.
    assert_eq!(linux.kernel.base, 0x4000_0000 + 0x8_0000);
    assert_eq!(linux.kernel.size, 3 * MIB);
    assert_eq!(cell.entry, Some(0x4008_0000));
    // Device tree: the region's last 2 MiB block; x0 points at it.
    assert_eq!(linux.dtb_slot.base, 0x4000_0000 + 62 * MIB);
    assert_eq!(cell.image.boot_argument(), linux.dtb_slot.base);
    assert!(!linux.dtb.is_empty() && linux.dtb.len() as u64 <= 2 * MIB);
    // Initrd: page aligned, right below the device tree, above the kernel.
    let (_, initrd) = linux.initrd.as_ref().unwrap();
    assert_eq!(initrd.base % 4096, 0);
    assert_eq!(initrd.size, 300_000);
    assert!(initrd.base + initrd.size <= linux.dtb_slot.base);
    assert!(linux.kernel.base + linux.kernel.size <= initrd.base);
    // Segments: kernel (file bytes + BSS), initrd, device tree.
    let origins: Vec<_> = cell.image.segments.iter().map(|s| s.origin).collect();
    assert_eq!(
        origins,
        [
            SegmentOrigin::Image,
            SegmentOrigin::Initrd,
            SegmentOrigin::DeviceTree
        ]
    );
    let kernel = &cell.image.segments[0];
    assert_eq!((kernel.file_size, kernel.size), (64 * 1024, 3 * MIB));
    let dtb = &cell.image.segments[2];
    assert_eq!(dtb.file_size, linux.dtb.len() as u64);
    // The generated tree carries the command line and the initrd range.
    let text = String::from_utf8_lossy(&linux.dtb);
    assert!(text.contains("console=ttyAMA0 quiet"));
}

#[test]
fn a_hand_written_device_tree_is_used_as_is() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("linux-handwritten-dtb");
    std::fs::create_dir_all(&dir).unwrap();
    // Any bytes: the checker does not interpret a hand-written tree.
    let blob: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    let dtb = dir.join("board.dtb");
    std::fs::write(&dtb, &blob).unwrap();
    let image = fake_image(0, 2 * MIB, 4096);
    let config = load_linux(
        "handwritten",
        &image,
        None,
        "64M",
        &format!("dtb = {:?}", dtb.display().to_string()),
    )
    .unwrap();
    let linux = config.cells[0].image.linux.as_ref().unwrap();
    assert_eq!(linux.dtb, blob);
    assert_eq!(linux.dtb_file.as_deref(), Some(dtb.as_path()));
}

#[test]
fn what_does_not_fit_or_is_not_an_image_is_an_error() {
    // 30 MiB of kernel in a 32 MiB region leaves no 2 MiB for the tree.
    let big = fake_image(0, 30 * MIB + 4096, 4096);
    let error = load_linux("too-big", &big, None, "32M", "").unwrap_err();
    assert!(
        error.contains("do not fit in its first RAM region") && error.contains("grow that region"),
        "{error}"
    );
    // No ARMd magic.
    let mut not_an_image = fake_image(0, MIB, 4096);
    not_an_image[56] = b'X';
    let error = load_linux("no-magic", &not_an_image, None, "64M", "").unwrap_err();
    assert!(error.contains("not an arm64 Linux Image"), "{error}");
    // image_size 0: too old a kernel.
    let old = fake_image(0, 0, 4096);
    let error = load_linux("old", &old, None, "64M", "").unwrap_err();
    assert!(error.contains("image_size is 0"), "{error}");
    // A 40 MiB image does not fit in 62 MiB of hypervisor memory with
    // room for the hypervisor itself... it does; 64 MiB of initrd does not.
    let image = fake_image(0, 2 * MIB, 4096);
    let error = load_linux("payload", &image, Some(60 * MIB as usize), "128M", "").unwrap_err();
    assert!(
        error.contains("do not fit in the hypervisor's memory"),
        "{error}"
    );
}

#[test]
fn linux_keys_on_other_images_are_rejected() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("linux-keys");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("blob.bin"), [0u8; 64]).unwrap();
    let path = dir.join("raw.toml");
    std::fs::write(
        &path,
        r#"platform = "qemu-virt-aarch64"
[hypervisor]
memory = { base = 0x4020_0000, size = "14M" }
[[cell]]
name = "raw"
cpus = [0]
image = { path = "blob.bin", kind = "raw", bootargs = "console=ttyAMA0" }
[[cell.memory]]
gpa = 0x4000_0000
hpa = 0x4100_0000
size = "16M"
perm = "rwx"
"#,
    )
    .unwrap();
    let options = LoadOptions {
        require_images: true,
        ..LoadOptions::for_workspace(&workspace())
    };
    let error = load(&path, &options).unwrap_err().to_string();
    assert!(
        error.contains("`bootargs` is for Linux images only"),
        "{error}"
    );
    assert!(error.contains("raw.toml:7:"), "{error}");
}
