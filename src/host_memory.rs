//! Copying to and from cells' RAM through the hypervisor's identity map,
//! for both architectures (image loading, hypercall buffers). The core
//! checks every range against the cell's RAM first; here is only the copy.

/// Copies `data` to host address `host`, then zeroes `zeros` bytes after it.
///
/// # Safety
///
/// `host..host + data.len() + zeros` is RAM of one cell, identity-mapped
/// read-write in the hypervisor's own map, and no vCPU of that cell runs
/// (nothing reads or writes it concurrently).
pub(crate) unsafe fn load(host: u64, data: &[u8], zeros: u64) {
    // SAFETY: in-bounds and exclusive by the caller's contract; `data` is
    // the hypervisor image's read-only copy, which never overlaps cell RAM.
    unsafe {
        core::ptr::copy_nonoverlapping(data.as_ptr(), host as *mut u8, data.len());
        core::ptr::write_bytes((host + data.len() as u64) as *mut u8, 0, zeros as usize);
    }
}

/// Reads `buf.len()` bytes at host address `host`.
///
/// # Safety
///
/// `host..host + buf.len()` is RAM of one cell, identity-mapped readable
/// in the hypervisor's own map. Its vCPUs may be writing it: the bytes read
/// are whatever the guest left there (a torn read only hurts that guest).
pub(crate) unsafe fn read(host: u64, buf: &mut [u8]) {
    // SAFETY: in-bounds by the caller's contract; `buf` is hypervisor memory,
    // never cell RAM.
    unsafe { core::ptr::copy_nonoverlapping(host as *const u8, buf.as_mut_ptr(), buf.len()) };
}
