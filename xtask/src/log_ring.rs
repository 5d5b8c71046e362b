//! Reading the hypervisor's log ring out of a running QEMU machine.
//!
//! With `log = "ring"` the hypervisor appends its binary `defmt` frames to
//! `BULKHEAD_LOG_RING` (16 KiB) and publishes the number of bytes ever
//! written in `BULKHEAD_LOG_RING_HEAD` (`src/logger.rs`). QEMU runs keep the
//! machine's RAM in a shared file (`-object memory-backend-file`, see
//! `qemu::command`), so the host reads both symbols from that file while
//! the machine runs, and after it stopped. Nothing here is reachable from a
//! guest: unlike semihosting, the ring is only memory of the hypervisor.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, anyhow};
use object::{Object, ObjectSymbol};

/// The ring's symbol in the hypervisor ELF.
const RING_SYMBOL: &str = "BULKHEAD_LOG_RING";
/// The symbol holding the number of bytes ever written.
const HEAD_SYMBOL: &str = "BULKHEAD_LOG_RING_HEAD";
/// The memory backend's id on the QEMU line.
pub const RAM_BACKEND_ID: &str = "bulkhead-ram";

/// Where the ring lives in the machine's RAM file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingLocation {
    /// Offset of the ring's first byte in the RAM file.
    pub ring: u64,
    /// Offset of the head counter (a little-endian u64).
    pub head: u64,
    /// Ring size in bytes.
    pub len: u64,
}

impl RingLocation {
    /// Finds the ring in `elf` (whose addresses are physical: the EL2 map
    /// is an identity map) for RAM starting at `ram_base`; `None` when the
    /// image has no ring (`log = "none"`).
    pub fn find(elf: &Path, ram_base: u64) -> Result<Option<Self>> {
        let data = std::fs::read(elf).with_context(|| format!("read {}", elf.display()))?;
        let file = object::File::parse(&*data).map_err(|e| anyhow!("{}: {e}", elf.display()))?;
        let symbol = |name: &str| {
            file.symbols()
                .find(|s| s.name() == Ok(name))
                .map(|s| (s.address(), s.size()))
        };
        let (Some((ring, len)), Some((head, _))) = (symbol(RING_SYMBOL), symbol(HEAD_SYMBOL))
        else {
            return Ok(None);
        };
        let offset = |address: u64| {
            address.checked_sub(ram_base).ok_or_else(|| {
                anyhow!(
                    "{}: log ring at {address:#x} is below RAM ({ram_base:#x})",
                    elf.display()
                )
            })
        };
        Ok(Some(RingLocation {
            ring: offset(ring)?,
            head: offset(head)?,
            len,
        }))
    }
}

/// What one [`RingReader::poll`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Polled {
    /// New bytes, in order.
    pub bytes: Vec<u8>,
    /// Bytes the hypervisor wrote but overwrote before they were read.
    pub lost: u64,
}

/// Reads the bytes the hypervisor appended since the last poll.
#[derive(Debug)]
pub struct RingReader {
    ram: PathBuf,
    at: RingLocation,
    /// Bytes already returned (or lost): the next byte is `seen % len`.
    seen: u64,
}

impl RingReader {
    /// A reader of the ring at `at` in the RAM file `ram`.
    pub fn new(ram: PathBuf, at: RingLocation) -> Self {
        RingReader { ram, at, seen: 0 }
    }

    /// The bytes written since the last call. A missing or short RAM file
    /// (QEMU not started yet) reads as nothing new.
    pub fn poll(&mut self) -> Polled {
        let Ok(file) = File::open(&self.ram) else {
            return Polled::default();
        };
        let Some(head) = read_u64(&file, self.at.head) else {
            return Polled::default();
        };
        let mut polled = Polled::default();
        if head <= self.seen || self.at.len == 0 {
            return polled;
        }
        if head - self.seen > self.at.len {
            polled.lost = head - self.at.len - self.seen;
            self.seen = head - self.at.len;
        }
        let mut bytes = vec![0; (head - self.seen) as usize];
        let start = self.seen % self.at.len;
        let first = bytes.len().min((self.at.len - start) as usize);
        let (a, b) = bytes.split_at_mut(first);
        if file.read_exact_at(a, self.at.ring + start).is_err()
            || file.read_exact_at(b, self.at.ring).is_err()
        {
            return Polled::default();
        }
        // The hypervisor may have lapped us while we read: what it wrote
        // over is lost, not garbled.
        if let Some(now) = read_u64(&file, self.at.head)
            && now - self.seen > self.at.len
        {
            let overwritten = (now - self.seen - self.at.len).min(bytes.len() as u64);
            bytes.drain(..overwritten as usize);
            polled.lost += overwritten;
        }
        self.seen = head;
        polled.bytes = bytes;
        polled
    }
}

fn read_u64(file: &File, offset: u64) -> Option<u64> {
    let mut bytes = [0; 8];
    file.read_exact_at(&mut bytes, offset).ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// A fresh path for a machine's RAM file: in `/dev/shm` where it exists (a
/// RAM-backed file system), else the temporary folder.
pub fn fresh_ram_file() -> PathBuf {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let folder = Path::new("/dev/shm");
    let folder = if folder.is_dir() {
        folder.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    folder.join(format!(
        "bulkhead-{}-{}.ram",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ))
}

/// The RAM file a QEMU command line keeps the machine's RAM in (the
/// `mem-path` of its memory backend), if any.
pub fn ram_file_of(command: &Command) -> Option<PathBuf> {
    command.get_args().find_map(|arg| {
        let arg = arg.to_str()?;
        if !arg.starts_with("memory-backend-file,") {
            return None;
        }
        arg.split(',')
            .find_map(|part| part.strip_prefix("mem-path="))
            .map(PathBuf::from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A RAM file with a ring of `len` bytes at offset 64 and its head at 0.
    fn ram(name: &str, len: u64, head: u64, ring: &[u8]) -> (PathBuf, RingLocation) {
        let path =
            std::env::temp_dir().join(format!("bulkhead-ring-test-{name}-{}", std::process::id()));
        let mut bytes = vec![0u8; 64 + len as usize];
        bytes[..8].copy_from_slice(&head.to_le_bytes());
        bytes[64..64 + ring.len()].copy_from_slice(ring);
        std::fs::write(&path, bytes).unwrap();
        (
            path,
            RingLocation {
                ring: 64,
                head: 0,
                len,
            },
        )
    }

    #[test]
    fn reads_what_was_appended_and_then_only_what_is_new() {
        let (path, at) = ram("append", 8, 3, b"abc");
        let mut reader = RingReader::new(path.clone(), at);
        assert_eq!(
            reader.poll(),
            Polled {
                bytes: b"abc".to_vec(),
                lost: 0
            }
        );
        assert_eq!(reader.poll(), Polled::default());
        // Five more bytes, wrapping: "abcdefgh" then "ij" over "ab".
        let (path2, _) = ram("append", 8, 10, b"ijcdefgh");
        assert_eq!(path, path2);
        assert_eq!(
            reader.poll(),
            Polled {
                bytes: b"defghij".to_vec(),
                lost: 0
            }
        );
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_lapped_reader_counts_what_it_lost() {
        let (path, at) = ram("lapped", 4, 10, b"ijgh");
        let mut reader = RingReader::new(path.clone(), at);
        // 10 bytes written into a 4-byte ring: the last 4 ("ghij") remain.
        assert_eq!(
            reader.poll(),
            Polled {
                bytes: b"ghij".to_vec(),
                lost: 6
            }
        );
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn no_ram_file_yet_reads_as_nothing() {
        let at = RingLocation {
            ring: 64,
            head: 0,
            len: 16,
        };
        let mut reader = RingReader::new(PathBuf::from("/nonexistent/bulkhead.ram"), at);
        assert_eq!(reader.poll(), Polled::default());
    }

    #[test]
    fn the_ram_file_is_found_on_the_qemu_line() {
        let mut command = Command::new("qemu-system-aarch64");
        command.args([
            "-object",
            "memory-backend-file,id=bulkhead-ram,size=1024M,mem-path=/dev/shm/x.ram,share=on",
        ]);
        assert_eq!(ram_file_of(&command), Some(PathBuf::from("/dev/shm/x.ram")));
        assert_eq!(ram_file_of(&Command::new("qemu-system-aarch64")), None);
    }
}
