//! One line per attempt: `attempt <n>.<k> <what>: contained (<observed>)`
//! or `... NOT CONTAINED (...)` (tests/support/catalogue.rs parses it).

use core::fmt;

use rt::{Fault, println};

/// An attempt's number in the catalogue and its variant: `12.3`.
#[derive(Clone, Copy)]
pub(crate) struct Id(pub(crate) u8, pub(crate) usize);

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// Prints attempt `id`'s outcome.
pub(crate) fn report(
    id: Id,
    what: fmt::Arguments<'_>,
    contained: bool,
    observed: fmt::Arguments<'_>,
) {
    let verdict = if contained {
        "contained"
    } else {
        "NOT CONTAINED"
    };
    println!("attempt {id} {what}: {verdict} ({observed})");
}

/// An access that must fault: contained when it raised an abort (the
/// hypervisor's injected external abort, or the core's own fault).
pub(crate) fn expect_fault<T: fmt::LowerHex>(
    id: Id,
    what: fmt::Arguments<'_>,
    result: Result<T, Fault>,
) {
    match result {
        Err(fault) => report(id, what, true, format_args!("{fault}")),
        Ok(value) => report(id, what, false, format_args!("read {value:#x}")),
    }
}

/// An access that must fault with the external abort the hypervisor
/// injects (its fault report names the access).
pub(crate) fn expect_external_abort<T: fmt::LowerHex>(
    id: Id,
    what: fmt::Arguments<'_>,
    result: Result<T, Fault>,
) {
    match result {
        Err(fault) if fault.is_external_abort() => report(id, what, true, format_args!("{fault}")),
        Err(fault) => report(id, what, false, format_args!("unexpected {fault}")),
        Ok(value) => report(id, what, false, format_args!("read {value:#x}")),
    }
}

/// A write that must fault.
pub(crate) fn expect_write_fault(id: Id, what: fmt::Arguments<'_>, result: Result<(), Fault>) {
    match result {
        Err(fault) => report(id, what, true, format_args!("{fault}")),
        Ok(()) => report(id, what, false, format_args!("written")),
    }
}

/// An access the guest may make (a control: own RAM, own device).
pub(crate) fn expect_ok<T: fmt::LowerHex>(
    id: Id,
    what: fmt::Arguments<'_>,
    result: Result<T, Fault>,
) {
    match result {
        Ok(value) => report(id, what, true, format_args!("ok {value:#x}")),
        Err(fault) => report(id, what, false, format_args!("{fault}")),
    }
}

/// A call whose `x0` must be `expected` (an SMCCC/PSCI status).
pub(crate) fn expect_status(id: Id, what: fmt::Arguments<'_>, status: i64, expected: i64) {
    report(id, what, status == expected, format_args!("{status}"));
}
