//! What the hypervisor does when it fails itself: an exception at EL2 or a
//! stack overflow. Each prints what it knows on the emergency console path
//! and panics; the core's panic handler (`stop`) stops every other CPU.

use core::fmt::{self, Write};

use aarch64_cpu::registers::{ELR_EL2, ESR_EL2, FAR_EL2, SPSR_EL2};
use tock_registers::fields::TryFromValue;
use tock_registers::interfaces::Readable;

use super::model::esr;
use super::trap_frame::TrapFrame;
use super::{HV, cpu};
use crate::hv_emergency_println;

/// The exception class of an ESR_EL2 value, by name, and for aborts the
/// fault status.
struct Syndrome(u64);

impl fmt::Display for Syndrome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ec = esr::exception_class(self.0);
        match ESR_EL2::EC::Value::try_from_value(u64::from(ec)) {
            Some(value) => write!(f, "EC {ec:#04x} {value:?}")?,
            None => write!(f, "EC {ec:#04x} (unknown)")?,
        }
        if esr::is_abort(ec) {
            write!(f, ": {}", esr::fault_status(self.0))?;
        }
        Ok(())
    }
}

/// An exception taken at EL2 itself (`class` from `source`): a hypervisor
/// bug. Prints the syndrome and every register, then panics.
pub(super) fn unhandled_el2_exception(
    frame: &TrapFrame,
    class: &'static str,
    source: &'static str,
) -> ! {
    let esr = ESR_EL2.get();
    let elr = ELR_EL2.get();
    let far = FAR_EL2.get();
    let spsr = SPSR_EL2.get();
    let me = cpu::current_index();
    hv_emergency_println!(HV, "\n*** unhandled {class} from {source} on cpu {me}");
    hv_emergency_println!(
        HV,
        "    ESR_EL2={esr:#018x} ({}, IL={}, ISS={:#x})",
        Syndrome(esr),
        (esr >> 25) & 1,
        esr & 0x01ff_ffff
    );
    hv_emergency_println!(
        HV,
        "    ELR_EL2={elr:#018x} FAR_EL2={far:#018x} SPSR_EL2={spsr:#018x}"
    );
    for (row, regs) in frame.x.chunks(4).enumerate() {
        // One console write per row.
        let mut line: heapless::String<128> = heapless::String::new();
        for (col, value) in regs.iter().enumerate() {
            let _ = write!(line, " x{:<2}={value:#018x}", row * 4 + col);
        }
        hv_emergency_println!(HV, "   {line}");
    }
    panic!("unhandled {class} at EL2: ESR_EL2={esr:#x} ELR_EL2={elr:#x} FAR_EL2={far:#x}");
}

/// A stack overflow detected by an exception vector, on `cpu`'s overflow
/// stack (the faulting context's registers were not saved: there was no
/// stack to save them on).
pub(super) fn stack_overflow(cpu: usize, class: &'static str) -> ! {
    let esr = ESR_EL2.get();
    let elr = ELR_EL2.get();
    let far = FAR_EL2.get();
    hv_emergency_println!(
        HV,
        "\n*** stack overflow on cpu {cpu} ({class} with SP in the guard/overflow area)"
    );
    hv_emergency_println!(
        HV,
        "    ESR_EL2={esr:#018x} ({}) ELR_EL2={elr:#018x} FAR_EL2={far:#018x}",
        Syndrome(esr)
    );
    panic!("stack overflow on cpu {cpu}: ELR_EL2={elr:#x} FAR_EL2={far:#x}");
}
