//! What a guest asks of the hypervisor with HVC, SMC or VMCALL, and the
//! answers.
//!
//! `smccc`, `psci` and `hypercall` answer the calls a guest makes; their
//! docs are the ABI.

#![forbid(unsafe_code)]

pub mod hypercall;
pub mod psci;
pub mod smccc;
