//! A guest's general-purpose registers while it is in the hypervisor: the
//! frame the exception vectors push on this CPU's stack (and how a vCPU
//! first enters its guest, see `vcpu::enter`).

use core::mem::{offset_of, size_of};

/// Register state saved by the vector entry code.
#[repr(C)]
#[derive(Debug)]
pub(super) struct TrapFrame {
    /// x0 - x30.
    pub(super) x: [u64; 31],
    /// ELR_EL2 at entry (return address).
    pub(super) elr: u64,
    /// SPSR_EL2 at entry (interrupted PSTATE).
    pub(super) spsr: u64,
    _pad: u64,
}

impl TrapFrame {
    /// A frame that returns to `elr` with PSTATE `spsr`, `x0 = arg` and
    /// every other register zero.
    pub(super) fn new(elr: u64, spsr: u64, arg: u64) -> Self {
        let mut x = [0; 31];
        x[0] = arg;
        TrapFrame {
            x,
            elr,
            spsr,
            _pad: 0,
        }
    }
}

pub(super) const FRAME_SIZE: usize = size_of::<TrapFrame>();
pub(super) const FRAME_X30: usize = offset_of!(TrapFrame, x) + 30 * 8;
const FRAME_ELR: usize = offset_of!(TrapFrame, elr);
pub(super) const FRAME_SPSR: usize = offset_of!(TrapFrame, spsr);
const _: () = assert!(
    offset_of!(TrapFrame, x) == 0,
    "the asm stores x0.. at [sp, #0]"
);
const _: () = assert!(
    FRAME_SIZE.is_multiple_of(16),
    "SP must stay 16-byte aligned"
);
const _: () = assert!(FRAME_ELR == FRAME_X30 + 8, "x30/elr are saved with one STP");
const _: () = assert!(
    FRAME_SIZE < 4096 && FRAME_SPSR < 504,
    "immediate ranges in the asm"
);
