//! The `[hypervisor]` table.
//!
//! Rules enforced here:
//! - its memory passes the host-range rules of `memory.rs`, lies in
//!   RAM, contains the platform's load address, and is claimed before any
//!   cell's (so no cell or channel overlaps it);
//! - its console, if given, names a platform device (default: the
//!   platform's console);
//! - the log transport defaults to `ring` on AArch64 and `none` on x86_64
//!   (there is no semihosting transport: guests could use it too).

use toml::Spanned;

use crate::model::{Arch, Hypervisor, LogTransport};
use crate::schema::RawHypervisor;

use super::checker::Checker;

impl Checker<'_> {
    /// The hypervisor's memory, console and log transport.
    pub(super) fn check_hypervisor(&mut self, raw: &RawHypervisor) -> Hypervisor {
        let memory = self.check_hypervisor_memory(&raw.memory);
        let console = match &raw.console {
            Some(name) => self.device_index(name, "hypervisor console"),
            None => Some(self.platform.console),
        };
        let log = self.check_log(raw.log.as_ref());
        Hypervisor {
            memory,
            console: console.unwrap_or(self.platform.console),
            log,
        }
    }

    fn check_log(&self, log: Option<&Spanned<LogTransport>>) -> LogTransport {
        match (log, self.platform.arch) {
            (Some(log), _) => *log.get_ref(),
            (None, Arch::Aarch64) => LogTransport::Ring,
            (None, Arch::X86_64) => LogTransport::None,
        }
    }
}
