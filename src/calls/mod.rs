//! What a guest asks of the hypervisor with HVC, SMC or VMCALL, and the
//! answers.
//!
//! `dispatch` decodes a call and routes it; `smccc`, `psci` and
//! `hypercall` answer it (their docs are the ABI); `outcome` is what the
//! answer asks the hypervisor to do; `front_end` carries it out for the
//! calling cell, the same on every architecture.

#![forbid(unsafe_code)]

pub(crate) mod dispatch;
#[cfg(test)]
mod fake_cell;
mod front_end;
pub(crate) mod hypercall;
pub(crate) mod outcome;
#[cfg(test)]
mod proptests;
pub(crate) mod psci;
pub(crate) mod smccc;
