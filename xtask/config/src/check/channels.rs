//! Shared-memory channels: the one way cells share memory, on purpose.
//!
//! Rules enforced here:
//! - a channel's host memory passes the host-range rules of
//!   `memory.rs`, lies in RAM and overlaps neither the hypervisor's
//!   memory, nor any cell's RAM, nor another channel;
//! - it has at least two ends, each naming a cell (with a "did you mean");
//! - each end's guest address is 4 KiB aligned, and its window does not
//!   overlap the cell's own memory regions (one guest address, one
//!   mapping).
//!
//! Each end gets its own permissions: a reader's end can be `"r"`, so a
//! channel can carry data one way without letting the reader write back.

use crate::diag::{Diagnostic, suggestion};
use crate::model::{Cell, Channel, ChannelEnd, Range};
use crate::schema::{RawChannel, RawChannelEnd, RawConfig};

use super::checker::{Checker, HostClaim, PAGE_SIZE};

impl Checker<'_> {
    /// The config's channels between `cells` (the usable ones).
    pub(super) fn check_channels(&mut self, raw: &RawConfig, cells: &[Cell]) -> Vec<Channel> {
        let mut channels = Vec::new();
        for channel in &raw.channels {
            let span = channel.span();
            let channel = channel.get_ref();
            let name = channel.name.get_ref().clone();
            let what = format!("channel `{name}`");
            let memory = Range::new(*channel.hpa.get_ref(), channel.size.get_ref().0);
            if !self.check_host_range(&what, memory, span.clone(), channel.size.span()) {
                continue;
            }
            self.check_in_ram(&what, memory, span.clone());
            self.claim_host(HostClaim {
                owner: what.clone(),
                range: memory,
                location: self.at(span),
            });
            let ends = self.check_ends(&what, channel, memory, cells);
            channels.push(Channel { name, memory, ends });
        }
        channels
    }

    /// The ends of `channel` (host memory `memory`), one per named cell.
    fn check_ends(
        &mut self,
        what: &str,
        channel: &RawChannel,
        memory: Range,
        cells: &[Cell],
    ) -> Vec<ChannelEnd> {
        if channel.ends.get_ref().len() < 2 {
            self.error(
                Diagnostic::new(
                    self.at(channel.ends.span()),
                    format!("{what} has fewer than two ends"),
                )
                .help("a channel connects two or more cells; list each in `ends`"),
            );
        }
        channel
            .ends
            .get_ref()
            .iter()
            .filter_map(|end| self.check_end(what, end, memory, cells))
            .collect()
    }

    fn check_end(
        &mut self,
        what: &str,
        end: &RawChannelEnd,
        memory: Range,
        cells: &[Cell],
    ) -> Option<ChannelEnd> {
        let cell_name = end.cell.get_ref();
        let Some(cell) = cells.iter().find(|c| c.name == *cell_name) else {
            self.error(
                Diagnostic::new(
                    self.at(end.cell.span()),
                    format!("{what}: `{cell_name}` is not a cell"),
                )
                .help(suggestion(cell_name, cells.iter().map(|c| c.name.as_str()))),
            );
            return None;
        };
        let gpa = *end.gpa.get_ref();
        let window = Range::new(gpa, memory.size);
        if !gpa.is_multiple_of(PAGE_SIZE) {
            self.error(
                Diagnostic::new(
                    self.at(end.gpa.span()),
                    format!("{what}: guest address {gpa:#x} in cell `{cell_name}` is not aligned to 4 KiB"),
                )
                .help("use a gpa that is a multiple of 0x1000"),
            );
        } else if let Some(region) = cell.memory.iter().find(|r| r.guest().overlaps(&window)) {
            self.error(
                Diagnostic::new(
                    self.at(end.gpa.span()),
                    format!(
                        "{what}: window {window} in cell `{cell_name}` overlaps its memory {}",
                        region.guest()
                    ),
                )
                .help("map the channel at a guest address the cell does not use yet"),
            );
        }
        Some(ChannelEnd {
            cell: cell.id,
            gpa,
            perm: *end.perm.get_ref(),
        })
    }
}
