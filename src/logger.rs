//! The `defmt` global logger, for every architecture: log records go to the
//! transport the config's `[hypervisor] log` names, never to the console
//! UART, so they cannot interleave with a guest's output.
//!
//! - `ring`: an in-memory ring a debugger reads. `BULKHEAD_LOG_RING` holds
//!   the bytes, `BULKHEAD_LOG_RING_HEAD` the number ever written (the next
//!   byte goes to `head % RING_LEN`).
//! - `semihosting`: a host file (QEMU, a debug probe), through the back end
//!   ([`Arch::log_semihosting`]); AArch64 only.
//! - `none`: dropped.
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
/// Bytes gathered before one transport write. Every frame is written at
/// `release`; the longest frame the QEMU suites log is 26 bytes, so one
/// write per frame is the rule, and a longer frame takes two.
const BUFFER_LEN: usize = 64;
/// No CPU holds the logger.
const FREE: usize = usize::MAX;

#[unsafe(no_mangle)]
static BULKHEAD_LOG_RING: [AtomicU8; RING_LEN] = [const { AtomicU8::new(0) }; RING_LEN];
#[unsafe(no_mangle)]
static BULKHEAD_LOG_RING_HEAD: AtomicUsize = AtomicUsize::new(0);

/// The CPU holding [`STATE`] between `acquire` and `release`.
static OWNER: AtomicUsize = AtomicUsize::new(FREE);

/// The frame being gathered.
struct Sink {
    buffer: [u8; BUFFER_LEN],
    len: usize,
}

/// The encoder, the frame being gathered, and what `release` restores.
struct State {
    encoder: defmt::Encoder,
    sink: Sink,
    saved: usize,
}

static STATE: SpinMutex<State> = SpinMutex::new(State {
    encoder: defmt::Encoder::new(),
    sink: Sink {
        buffer: [0; BUFFER_LEN],
        len: 0,
    },
    saved: 0,
});

impl Sink {
    fn push(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if let Some(slot) = self.buffer.get_mut(self.len) {
                *slot = byte;
                self.len += 1;
            }
            if self.len == BUFFER_LEN {
                self.drain();
            }
        }
    }

    fn drain(&mut self) {
        let data = &self.buffer[..self.len];
        match HYPERVISOR.log {
            LogTransport::Ring => {
                let head = BULKHEAD_LOG_RING_HEAD.load(Ordering::Relaxed);
                for (i, &byte) in data.iter().enumerate() {
                    BULKHEAD_LOG_RING[(head + i) % RING_LEN].store(byte, Ordering::Relaxed);
                }
                BULKHEAD_LOG_RING_HEAD.store(head + data.len(), Ordering::Release);
            }
            LogTransport::Semihosting => HV.arch.log_semihosting(data),
            LogTransport::None => {}
        }
        self.len = 0;
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
        with_state(|state| state.sink.drain());
    }

    unsafe fn release() {
        let saved = with_state(
            |State {
                 encoder,
                 sink,
                 saved,
             }| {
                encoder.end_frame(|b| sink.push(b));
                sink.drain();
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
