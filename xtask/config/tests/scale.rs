//! Item 9 of the security review's checker work: checking time grows
//! about linearly with the number of regions. A config with 8,000 memory
//! regions is checked here for correctness only (accepted as written,
//! rejected with exactly the planted overlap); the elapsed time is printed
//! (`cargo test -p bulkhead-config --test scale -- --nocapture`), never
//! asserted: shared CI machines are too noisy for that.

mod common;

use std::fmt::Write;
use std::time::Instant;

use common::{Scratch, real_platform};

/// `cells` cells of `per_cell` 4 KiB RAM regions each, interleaved in host
/// memory (cell 0 takes every `cells`-th page, ...) and listed in
/// descending guest order, so no pass can rely on the config's order.
/// With `overlap`, the last region of the last cell reuses the first
/// region's host page.
fn big_config(cells: usize, per_cell: usize, overlap: bool) -> String {
    let mut text = String::from(
        "platform = \"test\"\n\n[hypervisor]\nmemory = { base = 0x4020_0000, size = \"14M\" }\n",
    );
    for cell in 0..cells {
        let _ = write!(
            text,
            "\n[[cell]]\nname = \"c{cell}\"\ncpus = [{cell}]\nimage = {{ path = \"tiny.bin\", kind = \"raw\" }}\n"
        );
        for i in (0..per_cell).rev() {
            let page = (i * cells + cell) as u64;
            let mut hpa = 0x4100_0000 + page * 0x1000;
            if overlap && cell == cells - 1 && i == 0 {
                hpa = 0x4100_0000;
            }
            let gpa = 0x4000_0000 + i as u64 * 0x1000;
            let _ = write!(
                text,
                "\n[[cell.memory]]\ngpa = {gpa:#x}\nhpa = {hpa:#x}\nsize = 0x1000\nperm = \"rwx\"\n"
            );
        }
    }
    text
}

#[test]
fn eight_thousand_regions_are_checked_correctly() {
    let platform = real_platform("qemu-virt-aarch64");
    let scratch = Scratch::new("scale");

    let config = big_config(4, 2_000, false);
    let start = Instant::now();
    let loaded = scratch.load(&platform, &config, false);
    let accept_time = start.elapsed();
    let loaded = loaded.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        loaded.cells.iter().map(|c| c.memory.len()).sum::<usize>(),
        8_000
    );

    let config = big_config(4, 2_000, true);
    let start = Instant::now();
    let errors = scratch.load(&platform, &config, false).unwrap_err();
    let reject_time = start.elapsed();
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert!(
        errors.0[0]
            .message
            .contains("overlaps cell `c0` memory[1999]"),
        "{errors}"
    );
    println!(
        "8,000 regions: accepted in {:.3} s, rejected in {:.3} s",
        accept_time.as_secs_f64(),
        reject_time.as_secs_f64()
    );
}
