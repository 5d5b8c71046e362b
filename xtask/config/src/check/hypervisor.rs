//! The `[hypervisor]` table.
//!
//! Rules enforced here:
//! - its memory passes the host-range rules of `memory.rs`, lies in
//!   RAM, contains the platform's load address, and is claimed before any
//!   cell's (so no cell or channel overlaps it);
//! - its console, if given, names a platform device (default: the
//!   platform's console);
//! - `log = "semihosting"` is refused on x86_64, which has no semihosting;
//!   the default is semihosting on AArch64 and none on x86_64.

use toml::Spanned;

use crate::diag::Diagnostic;
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

    fn check_log(&mut self, log: Option<&Spanned<LogTransport>>) -> LogTransport {
        match (log, self.platform.arch) {
            (Some(log), Arch::X86_64) if *log.get_ref() == LogTransport::Semihosting => {
                self.error(
                    Diagnostic::new(
                        self.at(log.span()),
                        "`log = \"semihosting\"`: x86_64 has no semihosting",
                    )
                    .help("write `log = \"ring\"` (an in-memory ring buffer) or `log = \"none\"`"),
                );
                LogTransport::None
            }
            (Some(log), _) => *log.get_ref(),
            (None, Arch::Aarch64) => LogTransport::Semihosting,
            (None, Arch::X86_64) => LogTransport::None,
        }
    }
}
