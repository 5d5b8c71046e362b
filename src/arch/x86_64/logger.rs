//! The `defmt` global logger on x86_64: frames go to a memory ring a
//! debugger can read (`log = "ring"`) or nowhere (`log = "none"`); x86 has
//! no semihosting, which the config checker rejects. Frames never touch the
//! console UART. The hypervisor runs with interrupts masked, so one spin
//! lock for all CPUs suffices; a frame is written whole.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::config::{HYPERVISOR, LogTransport};

/// Size of the in-memory ring.
const RING_LEN: usize = 16 * 1024;

/// The ring: `BULKHEAD_LOG_RING` holds the bytes, `BULKHEAD_LOG_RING_HEAD`
/// the total ever written (the next byte goes to `head % RING_LEN`).
#[unsafe(no_mangle)]
static BULKHEAD_LOG_RING: RingCell = RingCell(UnsafeCell::new([0; RING_LEN]));
#[unsafe(no_mangle)]
static BULKHEAD_LOG_RING_HEAD: AtomicUsize = AtomicUsize::new(0);

struct RingCell(UnsafeCell<[u8; RING_LEN]>);
// SAFETY: written only by the CPU that holds `TAKEN`.
unsafe impl Sync for RingCell {}

struct EncoderCell(UnsafeCell<defmt::Encoder>);
// SAFETY: used only by the CPU that holds `TAKEN`.
unsafe impl Sync for EncoderCell {}

static ENCODER: EncoderCell = EncoderCell(UnsafeCell::new(defmt::Encoder::new()));
static TAKEN: AtomicBool = AtomicBool::new(false);

fn write_ring(bytes: &[u8]) {
    if HYPERVISOR.log != LogTransport::Ring {
        return;
    }
    let head = BULKHEAD_LOG_RING_HEAD.load(Ordering::Relaxed);
    // SAFETY: the lock holder is the only writer.
    let ring = unsafe { &mut *BULKHEAD_LOG_RING.0.get() };
    for (i, &byte) in bytes.iter().enumerate() {
        ring[(head + i) % RING_LEN] = byte;
    }
    BULKHEAD_LOG_RING_HEAD.store(head + bytes.len(), Ordering::Release);
}

#[defmt::global_logger]
struct Logger;

// SAFETY: `acquire` takes a spin lock that `release` gives back; between
// them only the holder touches the encoder and the ring.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        while TAKEN
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        // SAFETY: lock held.
        unsafe { (*ENCODER.0.get()).start_frame(write_ring) };
    }

    unsafe fn flush() {}

    unsafe fn release() {
        // SAFETY: lock held (caller's contract).
        unsafe { (*ENCODER.0.get()).end_frame(write_ring) };
        TAKEN.store(false, Ordering::Release);
    }

    unsafe fn write(bytes: &[u8]) {
        // SAFETY: lock held (caller's contract).
        unsafe { (*ENCODER.0.get()).write(bytes, write_ring) };
    }
}

defmt::timestamp!("{=u64}", {
    // SAFETY: RDTSC has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
});
