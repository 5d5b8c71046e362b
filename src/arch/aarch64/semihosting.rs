//! ARM semihosting calls (`hlt #0xf000` at EL2), used for log records.
//!
//! Only the calls the logger needs: open a host file, write to it. QEMU
//! handles them with `-semihosting-config enable=on,target=native`; the file
//! lands in QEMU's working folder. Without semihosting the `hlt` is an
//! undefined instruction: the EL2 exception handler recognises it, makes the
//! call return -1 and logging turns itself off (see `vectors`).

use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// Host file the log records go to (relative to QEMU's working folder);
/// xtask decodes it (`xtask/src/hvlog.rs` names the same file).
const LOG_FILE: &[u8] = b"bulkhead-defmt.bin\0";
/// The log file's handle: not opened yet, or -1 once it cannot be.
const UNOPENED: isize = -2;
static LOG_HANDLE: AtomicIsize = AtomicIsize::new(UNOPENED);
/// Set by the exception handler when a semihosting call trapped (no host):
/// logging then stops instead of trapping on every record.
pub(super) static UNAVAILABLE: AtomicBool = AtomicBool::new(false);

/// `SYS_OPEN`.
const SYS_OPEN: usize = 0x01;
/// `SYS_WRITE`.
const SYS_WRITE: usize = 0x05;
/// `SYS_OPEN` mode "wb": create or truncate, binary.
const MODE_WRITE_BINARY: usize = 5;

/// The instruction word of `hlt #0xf000`, for the exception handler.
pub(super) const HLT_SEMIHOSTING: u32 = 0xd45e_0000;

/// # Safety
/// `param` must point to the parameter block `op` expects, valid for the
/// whole call.
unsafe fn call(op: usize, param: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller provides a valid parameter block; the host only
    // reads memory through it for the calls used here. No `nomem`: the host
    // reads our memory, so the asm is a compiler barrier.
    unsafe {
        asm!(
            "hlt #0xf000",
            inout("x0") op => ret,
            in("x1") param,
            options(nostack, preserves_flags)
        );
    }
    ret
}

/// Opens a host file; `path` ends with a NUL byte. Returns the handle, or a
/// negative value on failure.
fn open(path: &[u8], mode: usize) -> isize {
    if path.last() != Some(&0) {
        return -1;
    }
    let block: [usize; 3] = [path.as_ptr() as usize, mode, path.len() - 1];
    // SAFETY: `block` and `path` live across the call; SYS_OPEN reads them.
    unsafe { call(SYS_OPEN, block.as_ptr() as usize) }
}

/// Writes `data` to `handle`; returns the number of bytes not written.
fn write(handle: isize, data: &[u8]) -> isize {
    let block: [usize; 3] = [handle as usize, data.as_ptr() as usize, data.len()];
    // SAFETY: `block` and `data` live across the call; SYS_WRITE reads them.
    unsafe { call(SYS_WRITE, block.as_ptr() as usize) }
}

/// Appends `data` to the log file, opening it on first use. The caller
/// holds the logger's lock, so calls never overlap.
pub(super) fn write_log(data: &[u8]) {
    if UNAVAILABLE.load(Ordering::Relaxed) {
        return;
    }
    let mut handle = LOG_HANDLE.load(Ordering::Relaxed);
    if handle == UNOPENED {
        let opened = open(LOG_FILE, MODE_WRITE_BINARY);
        handle = if opened < 0 { -1 } else { opened };
        LOG_HANDLE.store(handle, Ordering::Relaxed);
    }
    if handle >= 0 && !UNAVAILABLE.load(Ordering::Relaxed) {
        let _ = write(handle, data);
    }
}
