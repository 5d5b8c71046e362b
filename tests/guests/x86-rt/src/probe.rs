//! Probes: run instructions that may fault and learn which exception they
//! raised, instead of dying ([`try_insn!`](crate::try_insn)).
//!
//! Each vCPU has one probe slot: `[start, end, resume, vector + 1,
//! error]`. While it is armed (start != 0), an exception (vectors 0..32
//! but the double fault) whose RIP lies in `start..end` is recorded in the
//! slot and execution resumes at `resume`, at the privilege level it was
//! raised at, with every other register as it was. Works at CPL 3 too
//! ([`run_user`](crate::run_user)): the slot is in user-accessible memory.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::{MAX_VCPUS, vcpu_index};

/// Words in a probe slot.
const SLOT_WORDS: usize = 5;

/// Per vCPU: its probe slot (see the module documentation).
static SLOTS: [[AtomicU64; SLOT_WORDS]; MAX_VCPUS] =
    [const { [const { AtomicU64::new(0) }; SLOT_WORDS] }; MAX_VCPUS];

/// An exception a probe raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The vector (6 `#UD`, 13 `#GP`, 14 `#PF`, ...).
    pub vector: u8,
    /// The error code the CPU (or the hypervisor) pushed, 0 if none.
    pub error: u64,
}

impl Fault {
    /// `#UD`.
    pub const UD: u8 = 6;
    /// `#GP`.
    pub const GP: u8 = 13;
    /// `#PF`.
    pub const PF: u8 = 14;
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.vector {
            0 => "#DE",
            1 => "#DB",
            3 => "#BP",
            6 => "#UD",
            7 => "#NM",
            10 => "#TS",
            11 => "#NP",
            12 => "#SS",
            13 => "#GP",
            14 => "#PF",
            16 => "#MF",
            17 => "#AC",
            19 => "#XM",
            v => return write!(f, "exception {v}"),
        };
        match self.vector {
            10..=14 | 17 => write!(f, "{name}({:#x})", self.error),
            _ => f.write_str(name),
        }
    }
}

/// This vCPU's probe slot, for [`try_insn!`](crate::try_insn) and probes
/// written by hand (offsets 0, 8, 16: start, end, resume; 24, 32: the
/// outcome, written by the exception handler).
pub fn probe_slot() -> *mut u64 {
    SLOTS[vcpu_index()].as_ptr() as *mut u64
}

/// The outcome of this vCPU's last probe: `Err` with the exception it
/// raised, `Ok` if it raised none.
pub fn probe_outcome() -> Result<(), Fault> {
    let slot = &SLOTS[vcpu_index()];
    match slot[3].swap(0, Relaxed) {
        0 => Ok(()),
        v => Err(Fault {
            vector: (v - 1) as u8,
            error: slot[4].load(Relaxed),
        }),
    }
}

/// Called by the exception handler with the faulting `rip`: if this
/// vCPU's probe is armed and covers it, records the exception, disarms
/// the probe and returns where to resume.
pub(crate) fn catch(vector: u64, error: u64, rip: u64) -> Option<u64> {
    let slot = &SLOTS[vcpu_index()];
    let start = slot[0].load(Relaxed);
    if start == 0 || vector == 8 || !(start..slot[1].load(Relaxed)).contains(&rip) {
        return None;
    }
    slot[0].store(0, Relaxed);
    slot[3].store(vector + 1, Relaxed);
    slot[4].store(error, Relaxed);
    Some(slot[2].load(Relaxed))
}

/// Runs the instructions (string literals, as for `asm!`) as a probe and
/// evaluates to `Result<(), rt::Fault>`: the exception the first faulting
/// one raised, after which the rest are skipped. Operands and options
/// follow a `;`, as in `asm!` (outputs are meaningless after a fault).
/// The template must not define the local labels `2:` and `3:`.
///
/// Expands to inline assembly: use it inside `unsafe`, vouching for what
/// the instructions do when they do not fault.
///
/// ```ignore
/// let result = unsafe { rt::try_insn!("vmxoff") };
/// let result = unsafe { rt::try_insn!("rdmsr"; in("ecx") 0x3a, out("eax") _, out("edx") _) };
/// ```
#[macro_export]
macro_rules! try_insn {
    ($($insn:literal),+ $(; $($operands:tt)*)?) => {{
        let __slot: *mut u64 = $crate::probe_slot();
        ::core::arch::asm!(
            "lea {__tmp}, [rip + 2f]",
            "mov [{__slot}], {__tmp}",
            "lea {__tmp}, [rip + 3f]",
            "mov [{__slot} + 8], {__tmp}",
            "mov [{__slot} + 16], {__tmp}",
            "2:",
            $($insn,)+
            "3:",
            "mov qword ptr [{__slot}], 0",
            __slot = in(reg) __slot,
            __tmp = out(reg) _,
            $($($operands)*)?
        );
        $crate::probe_outcome()
    }};
}
