//! x86_64 pure models: decoding and emulation with no register, VMCS or
//! memory access, built on the host too so they are unit-tested there.
//!
//! `exit_decode` decodes VM-exit information; `exit_kind` names what an exit
//! was for (the counters); `cpuid` filters what a guest's CPUID shows;
//! `x2apic` checks IPIs a guest sends; `xcr0` the XCR0 values it may set;
//! `injection` encodes the exceptions it gets; `io_bitmap` and `msr_bitmap` build
//! the pass-through bitmaps; `ept` and `host_paging` encode page-table
//! entries (a cell's EPT, the hypervisor's own tables); `boot_area` lays out
//! a guest's 64-bit boot state; `virtual_16550` is the UART a cell with a
//! virtual console sees; `vmx_caps` the VMX control arithmetic.

#![forbid(unsafe_code)]

pub(crate) mod boot_area;
pub(crate) mod cpuid;
pub(crate) mod ept;
pub(crate) mod exit_decode;
pub(crate) mod exit_kind;
pub(crate) mod host_paging;
pub(crate) mod injection;
pub(crate) mod io_bitmap;
pub(crate) mod msr_bitmap;
#[cfg(test)]
mod proptests;
pub(crate) mod virtual_16550;
pub(crate) mod vmx_caps;
pub(crate) mod x2apic;
pub(crate) mod xcr0;
