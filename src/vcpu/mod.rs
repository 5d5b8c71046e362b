//! What a vCPU asks of the hypervisor: decoded traps and their answers.
//!
//! `mmio` decodes data-abort syndromes; `smccc`, `psci` and `hypercall`
//! answer the calls a guest makes with HVC or SMC.

pub mod hypercall;
pub mod mmio;
pub mod psci;
pub mod smccc;
