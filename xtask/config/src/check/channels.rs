//! Shared-memory channels: the one way cells share memory, on purpose.
//!
//! Rules enforced here:
//! - a channel's host memory passes the host-range rules of
//!   `memory.rs`, lies in RAM and overlaps neither the hypervisor's
//!   memory, nor any cell's RAM, nor another channel;
//! - its name is printable (no control characters);
//! - it has at least two ends, each naming a cell (with a "did you mean");
//! - each end's guest address is 4 KiB aligned (its window is claimed in
//!   the cell's guest space, see `guest_space.rs`: one guest address, one
//!   mapping).
//!
//! - no cell is listed twice as an end;
//! - every end can read (`r` or `rw`; a write-only end is refused);
//! - warning (F5d of the security review): an end with `x` while another
//!   cell's end can write, so one cell runs code another chose.
//!
//! Each end gets its own permissions: a reader's end can be `"r"`, so a
//! channel can carry data one way without letting the reader write back.

use crate::diag::{Diagnostic, suggestion};
use crate::model::{Cell, Channel, ChannelEnd, Range};
use crate::schema::{RawChannel, RawChannelEnd, RawConfig};

use super::checker::{Checker, HostClaim, PAGE_SIZE, printable_name};

impl Checker<'_> {
    /// The config's channels between `cells` (the usable ones).
    pub(super) fn check_channels(&mut self, raw: &RawConfig, cells: &[Cell]) -> Vec<Channel> {
        let mut channels = Vec::new();
        for channel in &raw.channels {
            let span = channel.span();
            let channel = channel.get_ref();
            let name = channel.name.get_ref().clone();
            let what = format!("channel `{name}`");
            if !printable_name(&name) {
                self.error(
                    Diagnostic::new(
                        self.at(channel.name.span()),
                        format!("{what}: the name is empty or has control characters"),
                    )
                    .help("name channels with printable characters: the name is printed in the partition table and guest device trees"),
                );
            }
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
        let ends: Vec<(ChannelEnd, &RawChannelEnd)> = channel
            .ends
            .get_ref()
            .iter()
            .filter_map(|end| Some((self.check_end(what, end, memory, cells)?, end)))
            .collect();
        self.check_end_cells(what, &ends, cells);
        self.check_end_perms(what, &ends, cells);
        ends.into_iter().map(|(end, _)| end).collect()
    }

    /// No cell is listed twice: it would map the channel twice, possibly
    /// with two sets of permissions.
    fn check_end_cells(
        &mut self,
        what: &str,
        ends: &[(ChannelEnd, &RawChannelEnd)],
        cells: &[Cell],
    ) {
        for (i, (end, raw)) in ends.iter().enumerate() {
            if let Some((_, first)) = ends[..i].iter().find(|(e, _)| e.cell == end.cell) {
                let name = &cells[end.cell].name;
                self.error(
                    Diagnostic::new(
                        self.at(raw.cell.span()),
                        format!("{what}: cell `{name}` is listed twice as an end"),
                    )
                    .note(self.at(first.cell.span()), "its first end")
                    .help("give each cell one end; to map the memory twice in one cell declare a second channel"),
                );
            }
        }
    }

    /// Every end can read (stage 2 cannot express write-only on x86, and
    /// a channel end that cannot be read is a mistake); an end that can
    /// execute what another cell can write gets a warning (F5d).
    fn check_end_perms(
        &mut self,
        what: &str,
        ends: &[(ChannelEnd, &RawChannelEnd)],
        cells: &[Cell],
    ) {
        for (end, raw) in ends {
            let name = &cells[end.cell].name;
            if !end.perm.read {
                self.error(
                    Diagnostic::new(
                        self.at(raw.perm.span()),
                        format!("{what}: the end of cell `{name}` has perm `{}`, which cannot read", end.perm),
                    )
                    .help("a channel end is `r` (read only) or `rw`; write-only memory cannot be mapped (an EPT refuses it)"),
                );
                continue;
            }
            if !end.perm.execute {
                continue;
            }
            if let Some((writer, writer_raw)) = ends
                .iter()
                .find(|(e, _)| e.cell != end.cell && e.perm.write)
            {
                let writer_name = &cells[writer.cell].name;
                self.warn(
                    Diagnostic::warning(
                        self.at(raw.perm.span()),
                        format!(
                            "{what}: cell `{name}` can execute what cell `{writer_name}` writes (perm `{}` here, `{}` there)",
                            end.perm, writer.perm
                        ),
                    )
                    .note(self.at(writer_raw.perm.span()), format!("cell `{writer_name}`'s end"))
                    .help("one cell then runs code another chose: drop `x` from this end unless that is the design"),
                );
            }
        }
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
        } else {
            let location = self.at(end.gpa.span());
            self.claim_guest(cell.id, format!("{what} end"), window, location);
        }
        Some(ChannelEnd {
            cell: cell.id,
            gpa,
            perm: *end.perm.get_ref(),
        })
    }
}
