//! Jobs vCPU 1 runs for the other groups (`cpus::give`).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rt::gic;

/// SGI 9 to vCPU 0, [`STORM_SGIS`] times.
pub(crate) const SGI_STORM: u8 = 1;
/// UARTFR polled [`POLLS`] times.
pub(crate) const UART_POLL: u8 = 2;
/// [`FLOOD_WRITES`] `CONSOLE_WRITE`s of 256 bytes.
pub(crate) const CONSOLE_FLOOD: u8 = 3;
/// Spin without ever trapping, until the cell is stopped or restarted.
pub(crate) const SPIN: u8 = 4;
/// `SYSTEM_OFF`.
pub(crate) const SYSTEM_OFF: u8 = 5;
/// `SYSTEM_RESET`.
pub(crate) const SYSTEM_RESET: u8 = 6;

pub(crate) const STORM_SGIS: u64 = 100_000;
pub(crate) const POLLS: u64 = 100_000;
pub(crate) const FLOOD_WRITES: u64 = 100;
/// Iterations vCPU 1 spun (so a test can tell it ran).
pub(crate) static SPINS: AtomicU64 = AtomicU64::new(0);

/// 256 printable bytes for the flood.
pub(crate) static FLOOD: [u8; 256] = {
    let mut bytes = [b'f'; 256];
    bytes[255] = b'\n';
    bytes
};

pub(crate) fn run(job: u8) {
    match job {
        SGI_STORM => {
            for _ in 0..STORM_SGIS {
                gic::send_sgi(9, 0);
            }
        }
        UART_POLL => {
            for _ in 0..POLLS {
                let _ = rt::probe_read32(crate::memory::UART + 0x18);
            }
        }
        CONSOLE_FLOOD => {
            for _ in 0..FLOOD_WRITES {
                let _ = rt::console_write(&FLOOD);
            }
        }
        SPIN => loop {
            SPINS.store(SPINS.load(Relaxed) + 1, Relaxed);
        },
        SYSTEM_OFF => {
            rt::system_off();
        }
        SYSTEM_RESET => {
            rt::system_reset();
        }
        _ => {}
    }
}
