//! `x86-faults`: a single-vCPU guest (RAM: guest-physical 0..4 MiB) that
//! exercises the hypervisor's restart paths and the `inject` fault policy.
//!
//! It counts its boots in a word of its RAM outside its image (at
//! guest-physical 0x38_0000, marked with a magic word on the first boot):
//! a restart reloads only the image's segments (its `.bss` is zeroed by
//! the runtime) and rewrites the boot area; the rest of the cell's RAM
//! keeps its contents. Each run prints `faults: boot <n>` (from 1), then:
//!
//! 1. PSCI `SYSTEM_RESET`: the hypervisor restarts the cell;
//! 2. a triple fault (an IDT with limit 0, then `ud2`: `#UD`, `#GP`, `#DF`
//!    cannot be delivered): with `fault-policy = "restart"`, restarted;
//! 3. a write outside its RAM (an EPT violation): restarted too;
//! 4. `faults: all restarts seen`, then `SYSTEM_OFF`.
//!
//! With boot argument 1 it tests `fault-policy = "inject"` instead: it
//! reads a guest-physical address outside its RAM through the runtime's
//! probe ([`rt::try_read_u64`]); the hypervisor injects `#GP(0)`, the probe
//! reports it, and the guest prints that it is still running and powers
//! its cell off.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use rt::println;

    rt::entry!(main);

    /// The boot counter: `[MAGIC, boots]`, above the image (which ends
    /// below 0x30_0000) and below the boot area (the top 32 KiB of the
    /// 4 MiB of RAM).
    const COUNTER_GPA: u64 = 0x38_0000;
    /// Marks the counter as written by an earlier boot of this cell.
    const MAGIC: u64 = 0xb007_c0de_fa17_5000;
    /// Outside the cell's 4 MiB of RAM: run 3's write.
    const OUTSIDE_WRITE: u64 = 0x0080_0000;
    /// Outside the cell's 4 MiB of RAM: the inject scenario's read.
    const OUTSIDE_READ: u64 = 0x0090_0000;
    /// The boot argument that selects the inject scenario.
    const INJECT: u64 = 1;
    /// What run 3 writes.
    const MARK: u64 = 0xdead_beef_0bad_c0de;

    /// Counts this boot and returns its number (1 on the first).
    fn count_boot() -> u64 {
        // SAFETY: two words of this cell's RAM used by nothing else (the
        // image ends below 0x30_0000, the boot area starts at 0x3f_8000).
        unsafe { rt::count_boot(COUNTER_GPA, MAGIC) }
    }

    /// Loads an IDT with limit 0 and executes `ud2`: the `#UD` cannot be
    /// delivered (`#GP`), nor can that (`#DF`), nor the double fault: a
    /// triple fault, which exits to the hypervisor.
    fn triple_fault() -> ! {
        #[repr(C, packed)]
        struct Idtr {
            limit: u16,
            base: u64,
        }
        let idtr = Idtr { limit: 0, base: 0 };
        // SAFETY: deliberately unrecoverable: with interrupts off, the
        // next exception shuts the vCPU down (under Bulkhead: a VM exit
        // handled by the cell's fault policy). Nothing after it runs.
        unsafe {
            core::arch::asm!(
                "cli",
                "lidt [{}]",
                "ud2",
                in(reg) &raw const idtr,
                options(noreturn, nostack)
            )
        }
    }

    fn power_off() -> ! {
        let status = rt::system_off();
        println!("faults: SYSTEM_OFF returned {status}");
        rt::park()
    }

    /// Boot argument 1: a read outside the cell's RAM must come back as
    /// `#GP(0)` (fault policy `inject`), and the guest runs on.
    fn inject() -> ! {
        println!("faults: reading gpa {OUTSIDE_READ:#x}, outside the cell's RAM");
        // SAFETY: outside this cell's RAM (no program data there); the
        // hypervisor answers with #GP(0), which the probe catches.
        match unsafe { rt::try_read_u64(OUTSIDE_READ) } {
            Err(gp) => {
                println!("faults: read of gpa {OUTSIDE_READ:#x} -> {gp}");
                println!("faults: #GP after the EPT violation, still running");
            }
            Ok(value) => println!(
                "faults: read of gpa {OUTSIDE_READ:#x} -> {value:#x}: no #GP (isolation broken)"
            ),
        }
        power_off()
    }

    fn main() -> ! {
        let boot = count_boot();
        println!("faults: boot {boot}");
        if rt::boot_arg() == INJECT {
            inject();
        }
        match boot {
            1 => {
                println!("faults: PSCI SYSTEM_RESET");
                let status = rt::system_reset();
                println!("faults: SYSTEM_RESET returned {status}");
            }
            2 => {
                println!("faults: triple fault (IDT limit 0, ud2)");
                triple_fault();
            }
            3 => {
                println!("faults: writing gpa {OUTSIDE_WRITE:#x}, outside the cell's RAM");
                // SAFETY: outside this cell's RAM (no program data there);
                // the hypervisor must restart the cell here.
                unsafe { (OUTSIDE_WRITE as *mut u64).write_volatile(MARK) };
                println!("faults: STILL RUNNING after the write (isolation broken)");
            }
            4 => {
                println!("faults: all restarts seen");
                power_off();
            }
            _ => println!("faults: unexpected boot {boot}"),
        }
        power_off()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "guest-x86-faults is a bare-metal x86_64 guest for a Bulkhead cell; build it for x86_64-unknown-none"
    );
}
