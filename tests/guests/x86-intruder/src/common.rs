//! What every catalogue group shares: the attempt line, the status
//! channel, small probes.

use core::fmt;

use rt::{Fault, println};

/// The status channel (this cell's end is writable; the victim's and the
/// witness's read-only), at the same guest-physical address everywhere.
pub(crate) const STATUS_GPA: u64 = 0x1000_0000;
/// What [`done`] writes there.
pub(crate) const DONE: u64 = 0x454e_4f44; // "DONE"

/// Prints the attempt line of attempt `id` (`<n>.<k>`): what was tried,
/// the verdict (judged by the caller from what it observed) and what it
/// observed.
pub(crate) fn attempt(
    id: &str,
    what: fmt::Arguments<'_>,
    contained: bool,
    observed: fmt::Arguments<'_>,
) {
    let verdict = if contained {
        "contained"
    } else {
        "NOT CONTAINED"
    };
    println!(
        "attempt {id} {}: {verdict} ({})",
        NoColons(what),
        NoColons(observed)
    );
}

/// Text with every `:` as `=`: the attempt line's parts are separated by
/// `": "`, so they must not contain one.
struct NoColons<'a>(fmt::Arguments<'a>);

impl fmt::Display for NoColons<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Filter<'f, 'g>(&'f mut fmt::Formatter<'g>);
        impl fmt::Write for Filter<'_, '_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                for (i, part) in s.split(':').enumerate() {
                    if i > 0 {
                        self.0.write_str("=")?;
                    }
                    self.0.write_str(part)?;
                }
                Ok(())
            }
        }
        fmt::write(&mut Filter(f), self.0)
    }
}

/// The group is over: tells the victim and the witness (the status
/// channel), says so and powers the cell off.
pub(crate) fn done(group: &str) -> ! {
    // SAFETY: the status channel is mapped writable in this cell in every
    // catalogue config; nothing else of this program uses it.
    unsafe { (STATUS_GPA as *mut u64).write_volatile(DONE) };
    println!("intruder: group {group} done");
    let status = rt::system_off();
    println!("intruder: SYSTEM_OFF returned {status}");
    rt::park()
}

/// A fault, or `ok`, for attempt lines.
pub(crate) struct Outcome(pub(crate) Result<(), Fault>);

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Ok(()) => f.write_str("no fault"),
            Err(fault) => write!(f, "{fault}"),
        }
    }
}

/// Whether `result` is exactly the exception `vector`.
pub(crate) fn raised(result: Result<(), Fault>, vector: u8) -> bool {
    matches!(result, Err(fault) if fault.vector == vector)
}

/// Reads the `u64` at guest-physical `gpa` as a probe.
pub(crate) fn read(gpa: u64) -> Result<u64, Fault> {
    let value: u64;
    // SAFETY: a read of memory this cell may not have: a probe, whose
    // fault is recorded; the callers never read device registers.
    let outcome = unsafe {
        rt::try_insn!("mov {v}, [{a}]"; a = in(reg) gpa, v = out(reg) value, options(nostack))
    };
    outcome.map(|()| value)
}

/// Writes `value` to guest-physical `gpa` as a probe.
///
/// # Safety
/// `gpa` is not memory this program uses (or is, and the write is
/// meant): the point is to try memory the cell may not have.
pub(crate) unsafe fn write(gpa: u64, value: u64) -> Result<(), Fault> {
    // SAFETY: the caller's.
    unsafe { rt::try_insn!("mov [{a}], {v}"; a = in(reg) gpa, v = in(reg) value, options(nostack)) }
}

/// This cell's exit counter `index` (Bulkhead `COUNTER`), or `None`.
pub(crate) fn counter(index: u64) -> Option<u64> {
    // SAFETY: COUNTER only reads the cell's counters.
    let [status, value, ..] = unsafe { rt::hypercall(rt::HC_COUNTER, index, 0, 0) };
    (status == 0).then_some(value)
}

/// Counter indices (docs/x86.md, `X86Exit`).
pub(crate) mod counters {
    /// `vmcall`.
    pub(crate) const VMCALL: u64 = 0;
    /// `io-refused`.
    pub(crate) const IO_REFUSED: u64 = 3;
    /// `msr-refused`.
    pub(crate) const MSR_REFUSED: u64 = 4;
    /// `fault`.
    pub(crate) const FAULT: u64 = 9;
    /// `other`.
    pub(crate) const OTHER: u64 = 10;
    /// `insn-refused`.
    pub(crate) const INSN_REFUSED: u64 = 11;
    /// How many there are.
    pub(crate) const COUNT: u64 = 12;
}

/// `"<n>.<k>"`, for attempt ids computed in loops.
pub(crate) fn id(n: &str, k: usize) -> Id {
    let mut line = rt::LineBuf::<8>::new();
    let _ = fmt::write(&mut line, format_args!("{n}.{k}"));
    Id(line)
}

/// An attempt id built at run time.
pub(crate) struct Id(rt::LineBuf<8>);

impl core::ops::Deref for Id {
    type Target = str;
    fn deref(&self) -> &str {
        core::str::from_utf8(self.0.as_bytes()).unwrap_or("?")
    }
}
