//! Cells: the partitions Bulkhead runs, and what each may reach.

pub mod stage2;
