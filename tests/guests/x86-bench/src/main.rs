//! `x86-bench`: what a Bulkhead cell costs an x86_64 guest, measured with
//! the TSC (the x86_64 counterpart of `bench`; `cargo xtask bench` runs it
//! under Bochs, tests/configs/bench/bochs-bench.toml).
//!
//! Bochs has no `-icount`, but with `clock: sync=none` its TSC advances
//! with the instructions it emulates. The guest prints, all on vCPU 0:
//!
//! * `bench: tsc_empty ticks=<T>`: two back-to-back `RDTSC`s;
//! * `bench: tsc_loop ticks=<T> n=<N> per=4`: `N` iterations of a
//!   4-instruction loop (4N instructions): the calibration, ticks per
//!   instruction = (loop - empty) / 4N;
//! * `bench: <figure> ticks=<T> n=<N>`: `T` TSC ticks over `N` repetitions
//!   (after a warm-up), loop included, for `null_call` (Bulkhead
//!   `ABI_VERSION` over `VMCALL`), `cpuid` (leaf 0: always exits),
//!   `io_read` (the virtual COM1's LSR, port 0x3fd: emulated) and
//!   `msr_read` (the x2APIC ID, MSR 0x802: passed through, no exit);
//!
//! then `bench: done`, and it powers off (`SYSTEM_OFF`).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use core::arch::asm;
    use core::hint::black_box;

    use rt::println;

    rt::entry!(main);

    /// Repetitions of each exit figure.
    const REPETITIONS: u64 = 1000;
    /// Untimed repetitions before each figure.
    const WARM_UP: u64 = 100;
    /// Iterations of the 4-instruction calibration loop.
    const LOOP_ITERATIONS: u64 = 100_000;
    /// The virtual COM1's line status register.
    const COM1_LSR: u16 = 0x3fd;
    /// The x2APIC ID register.
    const X2APIC_ID: u32 = 0x802;

    fn rdtsc() -> u64 {
        let (lo, hi): (u32, u32);
        // SAFETY: RDTSC only reads the time stamp counter.
        unsafe { asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
        u64::from(hi) << 32 | u64::from(lo)
    }

    /// TSC ticks from one `RDTSC` to the next with `iterations` turns of a
    /// 4-instruction loop between them (0: none, and no loop set-up
    /// either). With a loop there are `4 * iterations + 1` instructions
    /// more than without (the `MOV` that sets the count).
    fn tsc_loop(iterations: u64) -> u64 {
        let (start, end): (u64, u64);
        if iterations == 0 {
            // SAFETY: RDTSC and register arithmetic only.
            unsafe {
                asm!(
                    "rdtsc",
                    "shl rdx, 32",
                    "or rax, rdx",
                    "mov {start}, rax",
                    "rdtsc",
                    "shl rdx, 32",
                    "or rax, rdx",
                    start = out(reg) start,
                    out("rax") end,
                    out("rdx") _,
                    options(nomem, nostack),
                )
            };
        } else {
            // SAFETY: as above, plus a counted loop on registers.
            unsafe {
                asm!(
                    "rdtsc",
                    "shl rdx, 32",
                    "or rax, rdx",
                    "mov {start}, rax",
                    "mov rcx, {n}",
                    "2:",
                    "add {acc}, rcx",
                    "xor {acc}, 0x5a",
                    "dec rcx",
                    "jnz 2b",
                    "rdtsc",
                    "shl rdx, 32",
                    "or rax, rdx",
                    n = in(reg) iterations,
                    start = out(reg) start,
                    acc = inout(reg) 0u64 => _,
                    out("rax") end,
                    out("rcx") _,
                    out("rdx") _,
                    options(nomem, nostack),
                )
            };
        }
        end - start
    }

    /// `RDMSR` of `msr` (one the cell may read: no `#GP` recovery).
    fn rdmsr(msr: u32) -> u64 {
        let (lo, hi): (u32, u32);
        // SAFETY: reading an x2APIC register changes nothing.
        unsafe {
            asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack))
        };
        u64::from(hi) << 32 | u64::from(lo)
    }

    /// TSC ticks over [`REPETITIONS`] calls of `f`, after [`WARM_UP`]
    /// untimed ones.
    fn measure<T>(mut f: impl FnMut() -> T) -> u64 {
        for _ in 0..WARM_UP {
            black_box(f());
        }
        let start = rdtsc();
        for _ in 0..REPETITIONS {
            black_box(f());
        }
        rdtsc() - start
    }

    fn main() -> ! {
        // Warm-up, then the calibration: the loop's extra instructions are
        // known exactly.
        tsc_loop(0);
        tsc_loop(LOOP_ITERATIONS);
        let empty = tsc_loop(0);
        let ticks = tsc_loop(LOOP_ITERATIONS);
        println!("bench: tsc_empty ticks={empty}");
        println!(
            "bench: compute ticks={ticks} n=1 instructions={}",
            4 * LOOP_ITERATIONS + 1
        );

        let ticks = measure(|| {
            // SAFETY: ABI_VERSION only answers.
            unsafe { rt::hypercall(rt::HC_ABI_VERSION, 0, 0, 0) }
        });
        println!("bench: null_call ticks={ticks} n={REPETITIONS}");
        let ticks = measure(|| rt::cpuid(0, 0));
        println!("bench: cpuid ticks={ticks} n={REPETITIONS}");
        let ticks = measure(|| rt::inb(COM1_LSR));
        println!("bench: io_read ticks={ticks} n={REPETITIONS}");
        let ticks = measure(|| rdmsr(X2APIC_ID));
        println!("bench: msr_read ticks={ticks} n={REPETITIONS}");

        println!("bench: done");
        rt::system_off();
        rt::park()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "guest-x86-bench is a bare-metal x86_64 guest for a Bulkhead cell; build it for x86_64-unknown-none"
    );
}
