//! The shared console: cells' output tagged per line, input switched
//! between cells.

pub mod budget;
pub mod hub;
pub mod mux;
