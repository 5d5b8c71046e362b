//! The `defmt` global logger: frames go to semihosting or a memory ring.
//!
//! The transport is the config's `[hypervisor] log`. Frames never touch the
//! console UART, so they cannot interleave with a guest's output. One lock
//! for all cores, taken with interrupts masked; a frame is written whole.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use aarch64_cpu::registers::{CNTFRQ_EL0, CNTPCT_EL0, DAIF, MPIDR_EL1, Readable, Writeable};

use super::semihosting;
use crate::config::{HYPERVISOR, LogTransport};

/// Host file the frames go to (relative to QEMU's working folder); xtask
/// decodes it (`xtask/src/hvlog.rs` names the same file).
const LOG_FILE: &[u8] = b"bulkhead-defmt.bin\0";
/// Bytes gathered before one transport write.
const BUFFER_LEN: usize = 256;
/// Size of the in-memory ring (`log = "ring"`).
const RING_LEN: usize = 16 * 1024;

const FREE: usize = usize::MAX;
static OWNER: AtomicUsize = AtomicUsize::new(FREE);
/// Set by the exception handler when a semihosting call trapped (no host):
/// logging then stops instead of trapping on every frame.
pub(crate) static SEMIHOSTING_UNAVAILABLE: AtomicBool = AtomicBool::new(false);

const HANDLE_UNOPENED: isize = -2;

/// The ring a debugger reads when `log = "ring"`: `BULKHEAD_LOG_RING` holds
/// the bytes, `BULKHEAD_LOG_RING_HEAD` the total number ever written (the
/// next byte goes to `head % RING_LEN`).
#[unsafe(no_mangle)]
static BULKHEAD_LOG_RING: RingCell = RingCell(UnsafeCell::new([0; RING_LEN]));
#[unsafe(no_mangle)]
static BULKHEAD_LOG_RING_HEAD: AtomicUsize = AtomicUsize::new(0);

struct RingCell(UnsafeCell<[u8; RING_LEN]>);
// SAFETY: written only by the core that owns the logger lock.
unsafe impl Sync for RingCell {}

struct Sink {
    buffer: [u8; BUFFER_LEN],
    len: usize,
    handle: isize,
}

struct State {
    encoder: defmt::Encoder,
    sink: Sink,
    saved_daif: u64,
}

struct StateCell(UnsafeCell<State>);
// SAFETY: only the core that owns `OWNER` touches the state, with interrupts
// masked, so accesses never overlap.
unsafe impl Sync for StateCell {}

static STATE: StateCell = StateCell(UnsafeCell::new(State {
    encoder: defmt::Encoder::new(),
    sink: Sink {
        buffer: [0; BUFFER_LEN],
        len: 0,
        handle: HANDLE_UNOPENED,
    },
    saved_daif: 0,
}));

/// # Safety
/// The caller owns the logger lock and holds no other reference from here.
#[allow(clippy::mut_from_ref)]
unsafe fn state() -> &'static mut State {
    // SAFETY: exclusive by lock ownership (caller's contract).
    unsafe { &mut *STATE.0.get() }
}

impl Sink {
    fn push(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.buffer[self.len] = byte;
            self.len += 1;
            if self.len == BUFFER_LEN {
                self.drain();
            }
        }
    }

    fn drain(&mut self) {
        let data = &self.buffer[..self.len];
        match HYPERVISOR.log {
            LogTransport::Semihosting => {
                if SEMIHOSTING_UNAVAILABLE.load(Ordering::Relaxed) {
                    self.handle = -1;
                }
                if self.handle == HANDLE_UNOPENED {
                    let handle = semihosting::open(LOG_FILE, semihosting::MODE_WRITE_BINARY);
                    self.handle = if handle < 0 { -1 } else { handle };
                }
                if self.handle >= 0 {
                    let _ = semihosting::write(self.handle, data);
                }
            }
            LogTransport::Ring => {
                let head = BULKHEAD_LOG_RING_HEAD.load(Ordering::Relaxed);
                // SAFETY: the lock owner is the only writer of the ring.
                let ring = unsafe { &mut *BULKHEAD_LOG_RING.0.get() };
                for (i, &byte) in data.iter().enumerate() {
                    ring[(head + i) % RING_LEN] = byte;
                }
                BULKHEAD_LOG_RING_HEAD.store(head + data.len(), Ordering::Release);
            }
            LogTransport::None => {}
        }
        self.len = 0;
    }
}

fn core_id() -> usize {
    (MPIDR_EL1.get() & 0xff_00ff_ffff) as usize
}

/// Masks IRQ, FIQ and SError on this core; returns the previous DAIF.
fn mask_interrupts() -> u64 {
    let saved = DAIF.get();
    DAIF.set(saved | (0b0111 << 6));
    saved
}

#[defmt::global_logger]
struct Logger;

// SAFETY: `acquire` gives one core at a time exclusive use (lock plus masked
// interrupts) and refuses re-entry on the same core; the other methods only
// run between `acquire` and `release`, as the trait requires.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        let me = core_id();
        loop {
            let daif = mask_interrupts();
            match OWNER.compare_exchange(FREE, me, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => {
                    // SAFETY: this core now owns the lock.
                    let state = unsafe { state() };
                    state.saved_daif = daif;
                    state.encoder.start_frame(|b| state.sink.push(b));
                    return;
                }
                Err(owner) if owner == me => {
                    // A log record inside a log record (e.g. from an
                    // exception taken while logging): a hypervisor bug.
                    DAIF.set(daif);
                    panic!("re-entrant log record on core {:#x}", me);
                }
                Err(_) => {
                    DAIF.set(daif);
                    while OWNER.load(Ordering::Relaxed) != FREE {
                        core::hint::spin_loop();
                    }
                }
            }
        }
    }

    unsafe fn flush() {
        // SAFETY: called between acquire and release on this core.
        unsafe { state() }.sink.drain();
    }

    unsafe fn release() {
        // SAFETY: called between acquire and release on this core.
        let state = unsafe { state() };
        state.encoder.end_frame(|b| state.sink.push(b));
        state.sink.drain();
        let daif = state.saved_daif;
        OWNER.store(FREE, Ordering::Release);
        DAIF.set(daif);
    }

    unsafe fn write(bytes: &[u8]) {
        // SAFETY: called between acquire and release on this core.
        let state = unsafe { state() };
        state.encoder.write(bytes, |b| state.sink.push(b));
    }
}

defmt::timestamp!("{=u64:us}", {
    let count = CNTPCT_EL0.get();
    let frequency = CNTFRQ_EL0.get().max(1);
    (count / frequency) * 1_000_000 + (count % frequency) * 1_000_000 / frequency
});
