//! Exceptions the hypervisor injects into a guest, as VM-entry
//! interruption information (SDM 25.8.3, 27.6.1).
//!
//! - **The error code follows the guest's mode** (finding F14): `#GP` and
//!   `#DF` push an error code in protected mode, but in real mode (CR0.PE
//!   = 0, possible with unrestricted guest) no exception does, and VM entry
//!   *fails* if "deliver error code" is set then. [`Exception::event`]
//!   takes the guest's CR0.
//! - **A fault while an event was being delivered** (an EPT violation on
//!   the guest's IDT, stack or handler, with the IDT-vectoring information
//!   valid) is escalated as the CPU escalates nested exceptions (SDM 6.15,
//!   table 6-5): the `#GP` for it after a contributory exception or a page
//!   fault is a `#DF`, and a fault while delivering a `#DF` is a triple
//!   fault ([`escalate`]). Without this, a guest whose IDT is unreachable
//!   would get `#GP` after `#GP` for ever.

use super::exit_decode::{ERROR_CODE, Interruption, InterruptionType, VALID};

/// CR0 bit 0: protection enabled.
const CR0_PE: u64 = 1 << 0;

/// An exception the hypervisor raises in a guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exception {
    /// `#UD` (vector 6): an instruction the cell does not have.
    InvalidOpcode,
    /// `#DF` (vector 8), error code 0.
    DoubleFault,
    /// `#GP(0)` (vector 13).
    GeneralProtection,
}

/// What VM entry is told to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    /// The VM-entry interruption-information field.
    pub(crate) info: u32,
    /// The VM-entry exception error code, if one is delivered.
    pub(crate) error_code: Option<u32>,
}

impl Exception {
    /// The exception's vector.
    pub(crate) const fn vector(self) -> u8 {
        match self {
            Self::InvalidOpcode => 6,
            Self::DoubleFault => 8,
            Self::GeneralProtection => 13,
        }
    }

    /// Whether the CPU pushes an error code for it in protected mode.
    const fn has_error_code(self) -> bool {
        matches!(self, Self::DoubleFault | Self::GeneralProtection)
    }

    /// The name reports use.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::InvalidOpcode => "#UD",
            Self::DoubleFault => "#DF",
            Self::GeneralProtection => "#GP",
        }
    }

    /// The event that raises it (error code 0) in a guest whose CR0 is
    /// `guest_cr0`: without an error code in real mode (F14).
    pub(crate) fn event(self, guest_cr0: u64) -> Event {
        let error_code = self.has_error_code() && guest_cr0 & CR0_PE != 0;
        let mut info = u32::from(self.vector())
            | u32::from(InterruptionType::HardwareException.bits()) << 8
            | VALID;
        if error_code {
            info |= ERROR_CODE;
        }
        Event {
            info,
            error_code: error_code.then_some(0),
        }
    }
}

/// What to do with a fault the guest is to be told about (`#GP`), given
/// the IDT-vectoring information of the exit (raw field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Escalation {
    /// Inject this exception.
    Inject(Exception),
    /// The fault hit the delivery of a `#DF`: a triple fault.
    TripleFault,
}

/// The `#GP` for a fault that happened while the event in `idt_vectoring`
/// was being delivered, escalated by SDM table 6-5 ("Conditions for
/// Generating a Double Fault"): `#GP` is contributory, so after a
/// contributory exception (`#DE`, `#TS`, `#NP`, `#SS`, `#GP`) or a `#PF`
/// it becomes `#DF`, and after a `#DF` a triple fault. After anything else
/// (no event, an interrupt, an NMI, a benign exception, a software
/// interrupt) it stays `#GP`.
pub(crate) fn escalate(idt_vectoring: u32) -> Escalation {
    let event = Interruption::decode(idt_vectoring);
    if !event.valid || event.kind != InterruptionType::HardwareException {
        return Escalation::Inject(Exception::GeneralProtection);
    }
    match event.vector {
        8 => Escalation::TripleFault,
        0 | 10..=14 => Escalation::Inject(Exception::DoubleFault),
        _ => Escalation::Inject(Exception::GeneralProtection),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CR0 of the documented 64-bit boot state (PE, MP, ET, NE, WP, PG).
    const LONG_MODE_CR0: u64 = 0x8001_0033;
    /// CR0 of a real-mode guest (ET, NE).
    const REAL_MODE_CR0: u64 = 0x30;

    #[test]
    fn gp_in_protected_mode_has_an_error_code() {
        assert_eq!(
            Exception::GeneralProtection.event(LONG_MODE_CR0),
            Event {
                info: 0x8000_0b0d,
                error_code: Some(0)
            }
        );
        assert_eq!(
            Exception::DoubleFault.event(1),
            Event {
                info: 0x8000_0b08,
                error_code: Some(0)
            }
        );
    }

    #[test]
    fn f14_an_exception_injected_into_a_real_mode_guest_has_no_error_code() {
        for exception in [
            Exception::GeneralProtection,
            Exception::DoubleFault,
            Exception::InvalidOpcode,
        ] {
            let event = exception.event(REAL_MODE_CR0);
            assert_eq!(event.error_code, None, "{exception:?}");
            let decoded = Interruption::decode(event.info);
            assert!(!decoded.error_code && decoded.valid);
            assert_eq!(decoded.vector, exception.vector());
            assert_eq!(decoded.kind, InterruptionType::HardwareException);
        }
        assert_eq!(
            Exception::GeneralProtection.event(REAL_MODE_CR0).info,
            0x8000_030d
        );
        // Paging off but protection on (32-bit protected mode): a code.
        assert!(
            Exception::GeneralProtection
                .event(0x11)
                .error_code
                .is_some()
        );
    }

    #[test]
    fn f2_ud_never_has_an_error_code() {
        assert_eq!(
            Exception::InvalidOpcode.event(LONG_MODE_CR0),
            Event {
                info: 0x8000_0306,
                error_code: None
            }
        );
        assert_eq!(Exception::InvalidOpcode.name(), "#UD");
    }

    #[test]
    fn faults_while_delivering_an_event_escalate() {
        let hardware = |vector: u32| VALID | 3 << 8 | vector;
        // Nothing being delivered: #GP.
        assert_eq!(
            escalate(0),
            Escalation::Inject(Exception::GeneralProtection)
        );
        // Contributory exceptions and #PF: #DF.
        for vector in [0, 10, 11, 12, 13, 14] {
            assert_eq!(
                escalate(hardware(vector) | ERROR_CODE),
                Escalation::Inject(Exception::DoubleFault),
                "{vector}"
            );
        }
        // A #DF: triple fault.
        assert_eq!(escalate(hardware(8) | ERROR_CODE), Escalation::TripleFault);
        // Benign exceptions, interrupts, NMIs, software interrupts: #GP.
        for raw in [
            hardware(1),
            hardware(6),
            VALID | 0x30,
            VALID | 2 << 8 | 2,
            VALID | 4 << 8 | 0x80,
            VALID | 6 << 8 | 3,
        ] {
            assert_eq!(
                escalate(raw),
                Escalation::Inject(Exception::GeneralProtection),
                "{raw:#x}"
            );
        }
        // An invalid field (bit 31 clear) is no event.
        assert_eq!(
            escalate(hardware(8) & !VALID),
            Escalation::Inject(Exception::GeneralProtection)
        );
    }
}
