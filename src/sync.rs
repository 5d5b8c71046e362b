//! The two ways the hypervisor shares mutable statics between CPUs without
//! a lock, each with its safety argument written once.
//!
//! - [`BootCell`]: written by the boot CPU before any other CPU (or guest)
//!   runs, only read afterwards: page-table pools, stage-2 and EPT tables,
//!   bitmaps, the IDT.
//! - [`PerCpu`]: one element per CPU, each touched only by its own CPU:
//!   stacks, VMXON and VMCS regions.
//!
//! Everything else shared is an atomic or sits behind a `spin::Mutex`.

use core::cell::UnsafeCell;

/// A value the boot CPU fills before any other CPU runs; read-only after.
#[repr(transparent)]
pub(crate) struct BootCell<T>(UnsafeCell<T>);

// SAFETY: the only way to write is `boot_mut`, whose contract confines
// writes to the boot CPU while no other CPU runs and no reference from
// `get` exists; every access after that is a read, which any number of
// CPUs may make at once (`T: Sync`).
unsafe impl<T: Sync> Sync for BootCell<T> {}

impl<T> BootCell<T> {
    /// A cell holding `value`.
    pub(crate) const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    /// The value, to fill it.
    ///
    /// # Safety
    ///
    /// Only the boot CPU calls this, before it starts any other CPU or
    /// guest, and no other reference to the value (from `boot_mut` or
    /// `get`) is alive while the returned one is.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn boot_mut(&self) -> &mut T {
        // SAFETY: exclusive by the caller's contract.
        unsafe { &mut *self.0.get() }
    }

    /// The value, once boot filled it.
    #[cfg_attr(
        not(target_arch = "x86_64"),
        allow(
            dead_code,
            reason = "AArch64 reads its boot-built tables only through the MMU"
        )
    )]
    ///
    /// # Safety
    ///
    /// No `boot_mut` reference is alive (the caller runs after boot, or on
    /// the boot CPU after it finished writing).
    pub(crate) unsafe fn get(&self) -> &T {
        // SAFETY: no writer by the caller's contract.
        unsafe { &*self.0.get() }
    }

    /// Where the value lives (for the hardware: table roots, bitmaps).
    #[cfg_attr(
        not(target_arch = "x86_64"),
        allow(
            dead_code,
            reason = "AArch64 reads its boot-built tables only through the MMU"
        )
    )]
    pub(crate) const fn as_ptr(&self) -> *const T {
        self.0.get()
    }
}

/// One `T` per CPU, each used only by its own CPU.
#[repr(transparent)]
pub(crate) struct PerCpu<T, const CPUS: usize>(UnsafeCell<[T; CPUS]>);

// SAFETY: element `i` is only ever touched by CPU `i` (the contract of
// `get_mut`), so no element is shared; sending a `T` to the CPU that uses
// it requires `T: Send`.
unsafe impl<T: Send, const CPUS: usize> Sync for PerCpu<T, CPUS> {}

impl<T, const CPUS: usize> PerCpu<T, CPUS> {
    /// One element per CPU.
    pub(crate) const fn new(elements: [T; CPUS]) -> Self {
        Self(UnsafeCell::new(elements))
    }

    /// CPU `cpu`'s element.
    #[cfg_attr(
        not(target_arch = "x86_64"),
        allow(
            dead_code,
            reason = "AArch64's only per-CPU memory is its stacks, used through SP"
        )
    )]
    ///
    /// # Safety
    ///
    /// The caller runs on CPU `cpu` (or `cpu` does not run yet and the
    /// caller is the only CPU touching the element), and no other reference
    /// to the element is alive.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn get_mut(&self, cpu: usize) -> Option<&mut T> {
        let elements = self.0.get().cast::<T>();
        // SAFETY: in bounds (checked); exclusive by the caller's contract.
        (cpu < CPUS).then(|| unsafe { &mut *elements.add(cpu) })
    }

    /// Address of the first element (for assembly and the hardware).
    pub(crate) fn base_address(&self) -> u64 {
        self.0.get() as u64
    }
}
