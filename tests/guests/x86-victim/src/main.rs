//! `x86-victim`: the cell an x86 intruder must not reach, in three roles
//! chosen by its boot argument:
//!
//! - **0, the isolation demo's victim** (`legacy`): guards a 4 KiB canary
//!   at a fixed guest-physical address while its LAPIC timer ticks, and
//!   counts "foreign" interrupts (the vector `x86-intruder`, in another
//!   cell, aims at this core: the hypervisor must drop them). The canary is
//!   filled once, then checked after every interrupt (the vCPU waits with
//!   `STI; HLT` in between). Every 50 timer ticks a progress line; after
//!   300 ticks a summary, then `SYSTEM_OFF`. A wrong canary word is
//!   reported at once and also ends the cell.
//! - **1 (or 0x101), the catalogue's victim** (`canary`): the same canary,
//!   plus (0x101) a page it shares read-only with the intruder, checked
//!   with a checksum printed every 50 ticks (`victim: canary ok <sum>
//!   ...`), until the intruder says it is done (a word of the status
//!   channel), then once more and `SYSTEM_OFF`.
//! - **2, the catalogue's witness** (`witness`): a 1 kHz LAPIC timer
//!   (nominal: one tick is its millisecond) counted in windows of 2000
//!   ticks' worth of TSC (`ticker: window <n>: <ticks> ticks in 2000 ms`),
//!   until the intruder is done.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod canary;
#[cfg(target_os = "none")]
mod legacy;
#[cfg(target_os = "none")]
mod witness;

#[cfg(target_os = "none")]
mod guest {
    rt::entry!(main);

    /// The catalogue's status channel: the intruder's end is writable, the
    /// victim's and the witness's read-only (at the same guest-physical
    /// address in every cell).
    const STATUS_GPA: u64 = 0x1000_0000;
    /// What the intruder writes there when it has made every attempt.
    const DONE: u64 = 0x454e_4f44; // "DONE"

    /// Whether the intruder is done (reads the status channel).
    pub(crate) fn intruder_done() -> bool {
        // SAFETY: the status channel is mapped read-only in this cell in
        // every catalogue config (boot arguments 1 and 2), 8-byte aligned.
        unsafe { (STATUS_GPA as *const u64).read_volatile() == DONE }
    }

    fn main() -> ! {
        match rt::boot_arg() & 0xff {
            1 => crate::canary::run(rt::boot_arg() & 0x100 != 0),
            2 => crate::witness::run(),
            _ => crate::legacy::run(),
        }
    }
}

#[cfg(target_os = "none")]
pub(crate) use guest::intruder_done;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "guest-x86-victim is a bare-metal x86_64 guest for a Bulkhead cell; build it for x86_64-unknown-none"
    );
}
