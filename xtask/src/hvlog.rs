//! Decoding the hypervisor's `defmt` log records on the host.
//!
//! The hypervisor writes binary defmt frames into its log ring
//! (`log_ring`); this module turns them into text lines tagged `[hv]`,
//! either after a run or live while QEMU runs.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use defmt_decoder::{DecodeError, Locations, StreamDecoder, Table};

use crate::log_ring::{Polled, RingReader};

/// A decoder for one hypervisor ELF.
pub struct LogDecoder {
    table: Table,
    locations: Option<Locations>,
}

impl LogDecoder {
    /// Reads the defmt string table (and source locations) from `elf`.
    pub fn new(elf: &Path) -> Result<Self> {
        let bytes = std::fs::read(elf).with_context(|| format!("read {}", elf.display()))?;
        let table = Table::parse(&bytes)
            .map_err(|e| anyhow!("{}: {e}", elf.display()))?
            .ok_or_else(|| anyhow!("{}: no .defmt section", elf.display()))?;
        let locations = table.get_locations(&bytes).ok().filter(|l| !l.is_empty());
        Ok(LogDecoder { table, locations })
    }

    /// Decodes a complete capture into text lines.
    pub fn decode_all(&self, bytes: &[u8]) -> Vec<String> {
        let mut stream = self.table.new_stream_decoder();
        stream.received(bytes);
        let mut lines = Vec::new();
        self.drain(&mut *stream, &mut |line| lines.push(line));
        lines
    }

    fn drain(&self, stream: &mut dyn StreamDecoder, sink: &mut dyn FnMut(String)) {
        loop {
            match stream.decode() {
                Ok(frame) => {
                    let level = frame
                        .level()
                        .map(|l| l.as_str().to_uppercase())
                        .unwrap_or_else(|| "PRINT".into());
                    let time = frame
                        .display_timestamp()
                        .map(|t| format!("{t} "))
                        .unwrap_or_default();
                    let location = self
                        .locations
                        .as_ref()
                        .and_then(|l| l.get(&frame.index()))
                        .map(|l| {
                            let file = l.file.file_name().map_or_else(
                                || l.file.display().to_string(),
                                |f| f.to_string_lossy().into_owned(),
                            );
                            format!(" ({file}:{})", l.line)
                        })
                        .unwrap_or_default();
                    sink(format!(
                        "[hv] {time}{level:<5} {}{location}",
                        frame.display_message()
                    ));
                }
                // No complete frame buffered yet: wait for more bytes.
                Err(DecodeError::UnexpectedEof) => return,
                Err(DecodeError::Malformed) => {
                    sink("[hv] (malformed log frame skipped)".into());
                    if !self.table.encoding().can_recover() {
                        return;
                    }
                }
            }
        }
    }

    /// Follows the ring while `running` is set, printing decoded lines to
    /// stderr as they arrive; a last read happens after `running` clears.
    pub fn follow(
        self,
        mut ring: RingReader,
        running: Arc<AtomicBool>,
    ) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let mut stream = self.table.new_stream_decoder();
            loop {
                let last = !running.load(Ordering::Acquire);
                let polled = ring.poll();
                if let Some(line) = lost_line(&polled) {
                    eprintln!("{line}");
                }
                stream.received(&polled.bytes);
                self.drain(&mut *stream, &mut |line| eprintln!("{line}"));
                if last {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    }
}

/// The line that says a poll came too late for some bytes.
pub fn lost_line(polled: &Polled) -> Option<String> {
    (polled.lost > 0).then(|| {
        format!(
            "[hv] ({} log bytes lost: the ring was overwritten before it was read)",
            polled.lost
        )
    })
}
