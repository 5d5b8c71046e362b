//! `victim`: fills a 64 KiB canary with a deterministic pattern and checks
//! its FNV-1a checksum every ~200 ms, forever, reporting any corruption
//! (e.g. by an intruder in another cell).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use rt::println;

    rt::entry!(main);

    const WORDS: usize = 64 * 1024 / 8;

    /// The canary (in `.bss`; atomics only to avoid `static mut`: every
    /// access is a plain load or store).
    static CANARY: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];

    fn pattern(index: usize) -> u64 {
        (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xC0FF_EE00_B01D_FACE
    }

    /// 64-bit FNV-1a over the canary's bytes (little-endian words).
    fn checksum() -> u64 {
        CANARY.iter().fold(0xCBF2_9CE4_8422_2325, |hash, word| {
            word.load(Relaxed).to_le_bytes().iter().fold(hash, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
            })
        })
    }

    fn main() -> ! {
        for (i, word) in CANARY.iter().enumerate() {
            word.store(pattern(i), Relaxed);
        }
        let start = CANARY.as_ptr() as u64;
        println!(
            "victim: canary region {start:#x}..{:#x}",
            start + size_of_val(&CANARY) as u64
        );
        let expected = checksum();
        println!("victim: canary {expected:#018x} armed");
        for round in 1.. {
            rt::delay_ms(200);
            match checksum() {
                sum if sum == expected => println!("victim: canary ok {sum:#018x} round {round}"),
                sum => {
                    let bad = (0..WORDS).find(|&i| CANARY[i].load(Relaxed) != pattern(i));
                    let at = bad.map_or(0, |i| start + 8 * i as u64);
                    println!(
                        "victim: CANARY CORRUPTED expected {expected:#018x} got {sum:#018x} (first bad word at {at:#x})"
                    );
                }
            }
        }
        rt::park()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "guest-victim is a bare-metal AArch64 guest for a Bulkhead cell; build it for aarch64-unknown-none"
    );
}
