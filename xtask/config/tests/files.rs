//! Item 8 of the security review's checker work: image files are read
//! only when they are regular files, and never past what the cell can
//! hold (+ 1 byte). A FIFO must not hang the checker, `/dev/zero` must not
//! be read without end, a huge sparse file must not be read at all. Each
//! load runs on a thread with a deadline, so a regression fails the test
//! instead of hanging it.

mod common;

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use bulkhead_config::{Config, Diagnostics, load};
use common::{Scratch, assert_contains, real_platform};

/// A one-cell config (16 MiB of RAM) whose raw image is `path`.
fn config_with_image(path: &str) -> String {
    format!(
        r#"platform = "test"

[hypervisor]
memory = {{ base = 0x4020_0000, size = "30M" }}

[[cell]]
name = "alpha"
cpus = [0]
image = {{ path = "{path}", kind = "raw" }}

[[cell.memory]]
gpa = 0x4000_0000
hpa = 0x4400_0000
size = "16M"
perm = "rwx"
"#
    )
}

/// Loads `config` (images read) on another thread; fails the test if it
/// takes longer than 20 s, after calling `unblock`.
fn load_with_deadline(
    scratch: &Scratch,
    config: &str,
    unblock: impl FnOnce(),
) -> Result<Config, Diagnostics> {
    std::fs::write(
        scratch.0.join("platforms/test.toml"),
        real_platform("qemu-virt-aarch64"),
    )
    .unwrap();
    std::fs::write(scratch.0.join("config.toml"), config).unwrap();
    let path = scratch.0.join("config.toml");
    let options = scratch.options(true);
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(load(&path, &options));
    });
    match receive.recv_timeout(Duration::from_secs(20)) {
        Ok(result) => result,
        Err(_) => {
            unblock();
            panic!("loading the config did not finish in 20 s");
        }
    }
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(status.success());
}

#[test]
fn an_image_that_is_a_fifo_is_refused_without_hanging() {
    let scratch = Scratch::new("fifo");
    let fifo = scratch.0.join("pipe.bin");
    mkfifo(&fifo);
    let errors = load_with_deadline(&scratch, &config_with_image("pipe.bin"), || {
        // Release a reader stuck in open(2): open the write end, close it.
        let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
    })
    .unwrap_err()
    .to_string();
    assert_contains(
        &errors,
        "config.toml:9:18: error: cell `alpha`: cannot read image pipe.bin: it is not a regular file but a FIFO",
    );
    assert_contains(&errors, "help: name an image file");
}

#[test]
fn dev_zero_as_an_image_is_refused() {
    let scratch = Scratch::new("zero");
    let errors = load_with_deadline(&scratch, &config_with_image("/dev/zero"), || {})
        .unwrap_err()
        .to_string();
    assert_contains(
        &errors,
        "cannot read image /dev/zero: it is not a regular file but a character device",
    );
    // Through a symlink too.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/dev/zero", scratch.0.join("zero.bin")).unwrap();
        let errors = load_with_deadline(&scratch, &config_with_image("zero.bin"), || {})
            .unwrap_err()
            .to_string();
        assert_contains(
            &errors,
            "image zero.bin: it is not a regular file but a character device",
        );
    }
}

/// A 1 TiB sparse file is refused as too large without being read, and a
/// file one byte over the cell's 16 MiB is refused as well; exactly 16 MiB
/// is read and accepted.
#[test]
fn image_reads_stop_at_what_the_cell_can_hold() {
    let scratch = Scratch::new("large");
    let huge = std::fs::File::create(scratch.0.join("huge.bin")).unwrap();
    huge.set_len(1 << 40).unwrap();
    let errors = load_with_deadline(&scratch, &config_with_image("huge.bin"), || {})
        .unwrap_err()
        .to_string();
    assert_contains(
        &errors,
        "cannot read image huge.bin: it is larger than 0x1000000 bytes",
    );
    assert_contains(&errors, "help: an image must fit in the cell's RAM regions");
    let over = std::fs::File::create(scratch.0.join("over.bin")).unwrap();
    over.set_len((16 << 20) + 1).unwrap();
    let errors = load_with_deadline(&scratch, &config_with_image("over.bin"), || {})
        .unwrap_err()
        .to_string();
    assert_contains(
        &errors,
        "cannot read image over.bin: it is larger than 0x1000000 bytes",
    );
    let exact = std::fs::File::create(scratch.0.join("exact.bin")).unwrap();
    exact.set_len(16 << 20).unwrap();
    let config = load_with_deadline(&scratch, &config_with_image("exact.bin"), || {})
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.cells[0].image.file_size, Some(16 << 20));
}

/// The config file itself may not be a FIFO either.
#[test]
fn a_config_that_is_a_fifo_is_refused_without_hanging() {
    let scratch = Scratch::new("fifo-config");
    let fifo = scratch.0.join("config.toml");
    mkfifo(&fifo);
    let options = scratch.options(false);
    let path = fifo.clone();
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(load(&path, &options).map(|_| ()));
    });
    let errors = match receive.recv_timeout(Duration::from_secs(20)) {
        Ok(result) => result.unwrap_err().to_string(),
        Err(_) => {
            let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
            panic!("loading a FIFO config did not finish in 20 s");
        }
    };
    assert_contains(
        &errors,
        "config.toml: error: cannot read: it is not a regular file but a FIFO",
    );
}
