//! The shared console: cells' output tagged per line, input switched
//! between cells.

#![forbid(unsafe_code)]

pub(crate) mod budget;
mod cell_consoles;
pub(crate) mod console_lock;
pub(crate) mod hub;
pub(crate) mod hypervisor_console;
pub(crate) mod mux;
mod sanitize;
pub(crate) mod virtual_uart;
