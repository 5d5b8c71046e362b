//! Addresses defined by the linker script (`linker/aarch64.ld` + `memory.ld`).

use core::ops::Range;

unsafe extern "C" {
    // Only the *addresses* of these symbols are meaningful; they are never read.
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __hv_end: u8;
}

/// Everything the hypervisor may have written before its MMU was enabled:
/// `.data`, `.bss`, page tables and stacks.
pub(crate) fn writable_image() -> Range<u64> {
    (&raw const __data_start) as u64..(&raw const __hv_end) as u64
}

/// Code: mapped read-execute.
pub(crate) fn text() -> Range<u64> {
    (&raw const __text_start) as u64..(&raw const __text_end) as u64
}

/// Read-only data: mapped read-only, never executable.
pub(crate) fn rodata() -> Range<u64> {
    (&raw const __rodata_start) as u64..(&raw const __rodata_end) as u64
}
