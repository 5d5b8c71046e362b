//! `intruder`: a single-vCPU guest that tries to reach outside its cell and
//! prints one line per attempt with its outcome; accesses use
//! `rt::probe_*`, so an abort the hypervisor injects back is survived.
//!
//! In order: read and write other cells' RAM, read the hypervisor's RAM,
//! touch devices it was not given, `CPU_ON` foreign cores, set/way cache
//! maintenance, SMC/HVC with pseudo-random function ids, then PSCI
//! `SYSTEM_OFF` (which must stop only this cell).
//!
//! A successful access outside the cell prints `(NOT CONTAINED)`. Addresses
//! inside this cell's own RAM window (`rt::RAM_BASE`, 4 MiB in its config)
//! print `(own RAM)` instead: stage 2 maps them to this cell's memory.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use core::arch::asm;
    use core::sync::atomic::{AtomicU64, Ordering::Acquire, Ordering::Release};
    use rt::{Fault, RAM_BASE, println, psci};

    /// (1), (2): RAM of other cells (host addresses of the victim and of
    /// the multi-core cell in configs/qemu-virt-isolation.toml, which this
    /// cell's stage-2 does not map): each is read, then written.
    const FOREIGN_RAM: [u64; 2] = [0x4300_0000, 0x4100_0000];
    /// (3): the hypervisor's RAM (host 0x4020_0000..0x4100_0000; this cell
    /// owns only guest 0x4000_0000..0x4040_0000, so these addresses are
    /// outside its map).
    const HYPERVISOR_RAM: u64 = 0x4080_0000;
    /// This cell's RAM in configs/qemu-virt-isolation.toml: 4 MiB.
    const OWN_RAM_SIZE: u64 = 4 << 20;
    /// (4): devices this cell was not given: read the PL031 RTC's data
    /// register, write the PL061 GPIO's data register (address mask 0:
    /// changes no pin).
    const RTC: u64 = 0x0901_0000;
    const GPIO: u64 = 0x0903_0000;
    /// (5): MPIDRs of cores outside this single-vCPU cell.
    const FOREIGN_MPIDRS: [u64; 4] = [1, 2, 3, 0x100];
    /// (6): set/way operands (level in bits 3:1, set from bit 6, way at the top).
    const SET_WAYS: [u64; 4] = [0, 0x2, (1 << 31) | (5 << 6), (1 << 30) | (0x7f << 6) | 0x2];
    /// (7): how many pseudo-random SMC and HVC function ids to try.
    const SMC_CALLS: usize = 20;
    const HVC_CALLS: usize = 4;
    const SEED: u64 = 0x2545_F491_4F6C_DD1D;
    /// What (2) writes.
    const MARK: u64 = 0xDEAD_BEEF_0BAD_C0DE;

    rt::entry!(main, secondary);

    /// Context id + 1 of the last vCPU a foreign `CPU_ON` started.
    static CAME_UP: AtomicU64 = AtomicU64::new(0);

    /// How a successful access to `addr` should be read.
    fn verdict(addr: u64) -> &'static str {
        if (RAM_BASE..RAM_BASE + OWN_RAM_SIZE).contains(&addr) {
            "own RAM"
        } else {
            "NOT CONTAINED"
        }
    }

    fn read(addr: u64, result: Result<u64, Fault>) {
        match result {
            Ok(value) => println!(
                "intruder: read {addr:#x} -> read {value:#x} ({})",
                verdict(addr)
            ),
            Err(fault) => println!("intruder: read {addr:#x} -> {fault}"),
        }
    }

    fn write(addr: u64, value: u64, result: Result<(), Fault>) {
        match result {
            Ok(()) => println!(
                "intruder: write {addr:#x} -> wrote {value:#x} ({})",
                verdict(addr)
            ),
            Err(fault) => println!("intruder: write {addr:#x} -> {fault}"),
        }
    }

    fn call(kind: &str, id: u32, result: Result<[u64; 4], Fault>) {
        match result {
            Ok([x0, ..]) => println!("intruder: {kind} {id:#010x} -> x0={}", x0 as i64),
            Err(fault) => println!("intruder: {kind} {id:#010x} -> {fault}"),
        }
    }

    /// Runs `dc <op>` on every operand of [`SET_WAYS`]; prints one line.
    macro_rules! dc_set_way {
        ($op:literal) => {{
            let faults = SET_WAYS.iter().find_map(|&sw| {
                // SAFETY: a lone set/way maintenance instruction in an asm
                // block clobbering the C ABI's registers. With the MMU off
                // this guest's data accesses are non-cacheable, so even an
                // invalidate loses none of its data; a fault is skipped.
                unsafe {
                    rt::probe(|| {
                        asm!(concat!("dc ", $op, ", {}"), in(reg) sw, options(nostack), clobber_abi("C"))
                    })
                }
                .err()
            });
            match faults {
                None => println!(concat!("intruder: dc ", $op, " ok")),
                Some(fault) => println!(concat!("intruder: dc ", $op, " -> {}"), fault),
            }
        }};
    }

    fn main() -> ! {
        match (rt::abi_version(), rt::cell_info()) {
            (Some(abi), Some(cell)) => {
                println!(
                    "intruder: start (bulkhead abi {abi:#x}, cell {}, {} vcpu)",
                    cell.cell_id, cell.vcpus
                )
            }
            _ => println!("intruder: start (no bulkhead hypervisor)"),
        }

        // (1), (2) Other cells' RAM.
        for addr in FOREIGN_RAM {
            read(addr, rt::probe_read(addr));
        }
        for addr in FOREIGN_RAM {
            // SAFETY: neither address is in this image, its stacks or its
            // statics (the image starts at 0x4020_0000 and is far smaller
            // than 16 MiB; the first 2 MiB are unused).
            write(addr, MARK, unsafe { rt::probe_write(addr, MARK) });
        }
        // (3) The hypervisor's RAM.
        read(HYPERVISOR_RAM, rt::probe_read(HYPERVISOR_RAM));
        // (4) Devices of other cells.
        read(RTC, rt::probe_read32(RTC).map(u64::from));
        // SAFETY: a device register, not memory of this program.
        write(GPIO, 0, unsafe { rt::probe_write32(GPIO, 0) });

        // (5) Foreign cores.
        for mpidr in FOREIGN_MPIDRS {
            let status = rt::start_vcpu(mpidr, mpidr);
            let verdict = if status == psci::SUCCESS {
                ", NOT CONTAINED"
            } else {
                ""
            };
            println!(
                "intruder: cpu_on mpidr {mpidr:#x} -> {status} ({}{verdict})",
                psci::status_name(status)
            );
            // Let a started vCPU report before going on (keeps the output
            // in order; at most ~1 s).
            for _ in 0..1000 {
                if status != psci::SUCCESS || CAME_UP.load(Acquire) == mpidr + 1 {
                    break;
                }
                rt::delay_ms(1);
            }
        }

        // (6) Set/way cache maintenance (trapped by the hypervisor).
        dc_set_way!("cisw");
        dc_set_way!("isw");
        dc_set_way!("csw");

        // (7) Pseudo-random SMC and HVC function ids (xorshift64; PSCI ids
        // are skipped so a draw cannot switch the cell off early).
        let mut state = SEED;
        let mut ids = core::iter::repeat_with(move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u32
        })
        .filter(|&id| !psci::is_psci(id));
        for id in ids.by_ref().take(SMC_CALLS) {
            // SAFETY: a random non-PSCI id with zero arguments: the
            // hypervisor must refuse or answer it without touching this
            // cell (standalone, EL1 has no SMC: undefined, and skipped).
            call("smc", id, unsafe { rt::try_smc(id, 0, 0, 0) });
        }
        for id in ids.take(HVC_CALLS) {
            // SAFETY: as for the SMCs (standalone, QEMU's PSCI emulation
            // answers every HVC: NOT_SUPPORTED for these ids).
            call("hvc", id, unsafe { rt::try_hvc(id, 0, 0, 0) });
        }

        // (7b) SMCCC workaround queries and a workaround call, as Linux
        // makes them at boot: answered (forwarded only to firmware that
        // implements SMCCC 1.1), never fatal.
        for (what, args) in [
            ("arch_features(workaround_1)", [0x8000_8000u64, 0, 0]),
            ("arch_features(workaround_2)", [0x8000_7fff, 0, 0]),
            ("workaround_2(disable)", [0, 0, 0]),
        ] {
            let id = if what.starts_with("arch_features") {
                0x8000_0001
            } else {
                0x8000_7fff
            };
            // SAFETY: SMCCC architectural calls with defined, harmless effects.
            let result = unsafe { rt::try_smc(id, args[0], args[1], args[2]) };
            match result {
                Ok([x0, ..]) => println!("intruder: smccc {what} -> x0={}", x0 as i64),
                Err(fault) => println!("intruder: smccc {what} -> {fault}"),
            }
        }

        // (8) Power off: must stop this cell only.
        println!("intruder: done, calling SYSTEM_OFF");
        let status = rt::system_off();
        println!(
            "intruder: SYSTEM_OFF returned {status} ({})",
            psci::status_name(status)
        );
        rt::park()
    }

    /// Only reached if a foreign `CPU_ON` succeeded.
    fn secondary(context: u64) -> ! {
        println!(
            "intruder: vcpu {} came up via CPU_ON (context {context:#x}): NOT CONTAINED",
            rt::vcpu_index()
        );
        CAME_UP.store(context + 1, Release);
        rt::cpu_off();
        rt::park()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "guest-intruder is a bare-metal AArch64 guest for a Bulkhead cell; build it for aarch64-unknown-none"
    );
}
