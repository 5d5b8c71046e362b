//! The `defmt` global logger, for every architecture: log records go to the
//! transport the config's `[hypervisor] log` names, never to the console
//! UART, so they cannot interleave with a guest's output.
//!
//! - `ring`: an in-memory ring. `BULKHEAD_LOG_RING` holds the bytes,
//!   `BULKHEAD_LOG_RING_HEAD` the number ever written (the next byte goes
//!   to `head % RING_LEN`), published once a frame is complete. QEMU runs
//!   read it from the machine's RAM file (`xtask/src/log_ring.rs`), a
//!   debugger from a board.
//! - `none`: dropped (the ring is not even linked in).
//!
//! There is deliberately no semihosting transport: a guest at EL1 could
//! make the same calls to the host (finding F3 of the security review).
//!
//! One lock for every CPU, taken with interrupts masked ([`Arch::log_enter`]
//! and [`Arch::log_exit`]); a frame is written whole. A log record inside a
//! log record on the same CPU (an exception taken while logging) is a
//! hypervisor bug and panics instead of deadlocking.

use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use spin::mutex::SpinMutex;

use crate::arch::Arch;
#[cfg(target_arch = "aarch64")]
use crate::arch::aarch64::HV;
#[cfg(target_arch = "x86_64")]
use crate::arch::x86_64::HV;
use crate::config::{HYPERVISOR, LogTransport};

/// Size of the in-memory ring.
const RING_LEN: usize = 16 * 1024;
/// No CPU holds the logger.
const FREE: usize = usize::MAX;

#[unsafe(no_mangle)]
static BULKHEAD_LOG_RING: [AtomicU8; RING_LEN] = [const { AtomicU8::new(0) }; RING_LEN];
#[unsafe(no_mangle)]
static BULKHEAD_LOG_RING_HEAD: AtomicUsize = AtomicUsize::new(0);

/// The CPU holding [`STATE`] between `acquire` and `release`.
static OWNER: AtomicUsize = AtomicUsize::new(FREE);

/// Where the frame being written goes.
struct Sink {
    /// Bytes written, the frame's so far included (published at the end
    /// of the frame).
    head: usize,
}

/// The encoder, the frame being written, and what `release` restores.
struct State {
    encoder: defmt::Encoder,
    sink: Sink,
    saved: usize,
}

static STATE: SpinMutex<State> = SpinMutex::new(State {
    encoder: defmt::Encoder::new(),
    sink: Sink { head: 0 },
    saved: 0,
});

impl Sink {
    fn push(&mut self, bytes: &[u8]) {
        if HYPERVISOR.log != LogTransport::Ring {
            return;
        }
        for &byte in bytes {
            BULKHEAD_LOG_RING[self.head % RING_LEN].store(byte, Ordering::Relaxed);
            self.head = self.head.wrapping_add(1);
        }
    }

    /// Makes the bytes written so far visible to a reader.
    fn publish(&self) {
        if HYPERVISOR.log == LogTransport::Ring {
            BULKHEAD_LOG_RING_HEAD.store(self.head, Ordering::Release);
        }
    }
}

/// Runs `f` on the logger state held by this CPU (between `acquire` and
/// `release`).
fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    // SAFETY: only called between `acquire`, which took the lock and
    // forgot its guard, and `release`, which gives it back; the holder is
    // this CPU with interrupts masked, so nothing else touches the state.
    f(unsafe { &mut *STATE.as_mut_ptr() })
}

#[defmt::global_logger]
struct Logger;

// SAFETY: `acquire` gives one CPU at a time exclusive use (the lock, with
// interrupts masked) and refuses re-entry on the same CPU; the other
// methods only run between `acquire` and `release`, as the trait requires.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        let saved = HV.arch.log_enter();
        let me = HV.arch.current_cpu();
        if OWNER.load(Ordering::Relaxed) == me {
            HV.arch.log_exit(saved);
            panic!("re-entrant log record on cpu {me}");
        }
        // The guard is given back in `release`.
        core::mem::forget(STATE.lock());
        OWNER.store(me, Ordering::Relaxed);
        with_state(
            |State {
                 encoder,
                 sink,
                 saved: slot,
             }| {
                *slot = saved;
                encoder.start_frame(|b| sink.push(b));
            },
        );
    }

    unsafe fn flush() {
        with_state(|state| state.sink.publish());
    }

    unsafe fn release() {
        let saved = with_state(
            |State {
                 encoder,
                 sink,
                 saved,
             }| {
                encoder.end_frame(|b| sink.push(b));
                sink.publish();
                *saved
            },
        );
        OWNER.store(FREE, Ordering::Relaxed);
        // SAFETY: this CPU took the lock in `acquire` and forgot the guard.
        unsafe { STATE.force_unlock() };
        HV.arch.log_exit(saved);
    }

    unsafe fn write(bytes: &[u8]) {
        with_state(|State { encoder, sink, .. }| encoder.write(bytes, |b| sink.push(b)));
    }
}
