//! Reading the files a config names, safely.
//!
//! Rules enforced here (for the config, its platform, images, initrds and
//! device trees):
//! - the path names a regular file (after following symlinks), checked
//!   before it is opened and again on the opened file: opening a FIFO
//!   would wait for a writer forever, and a device such as `/dev/zero`
//!   would never end;
//! - at most `limit + 1` bytes are read: a file larger than what it may
//!   hold (the cell's memory, for an image) is reported as too large
//!   without reading it all, so a sparse or endless file cannot exhaust
//!   the host's memory.

use std::io::Read;
use std::path::Path;

/// Why a file could not be read.
#[derive(Debug)]
pub(crate) enum FileError {
    /// Not a regular file: what it is instead.
    NotRegular(&'static str),
    /// Larger than the limit (in bytes).
    TooLarge(u64),
    /// The file system said no.
    Io(std::io::Error),
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::NotRegular(kind) => write!(f, "it is not a regular file but {kind}"),
            FileError::TooLarge(limit) => write!(f, "it is larger than {limit:#x} bytes"),
            FileError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// What a file that is not a regular file is.
fn kind_of(file_type: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a folder"
    } else {
        "not a file"
    }
}

/// The size of the regular file at `path` (symlinks followed), without
/// opening it.
pub(crate) fn regular_file_size(path: &Path) -> Result<u64, FileError> {
    let meta = std::fs::metadata(path).map_err(FileError::Io)?;
    if !meta.is_file() {
        return Err(FileError::NotRegular(kind_of(meta.file_type())));
    }
    Ok(meta.len())
}

/// The bytes of the regular file at `path`, at most `limit` of them.
pub(crate) fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let size = regular_file_size(path)?;
    if size > limit {
        return Err(FileError::TooLarge(limit));
    }
    let file = std::fs::File::open(path).map_err(FileError::Io)?;
    // The path may have been replaced since it was looked at.
    let meta = file.metadata().map_err(FileError::Io)?;
    if !meta.is_file() {
        return Err(FileError::NotRegular(kind_of(meta.file_type())));
    }
    let mut data = Vec::with_capacity(size.min(limit) as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(FileError::Io)?;
    if data.len() as u64 > limit {
        return Err(FileError::TooLarge(limit));
    }
    Ok(data)
}

/// The text of the config or platform file at `path` (at most 16 MiB).
pub(crate) fn read_text(path: &Path) -> Result<String, FileError> {
    let data = read_regular(path, TEXT_LIMIT)?;
    String::from_utf8(data).map_err(|_| {
        FileError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
}

/// The largest config or platform file read.
const TEXT_LIMIT: u64 = 16 << 20;
