//! Guest-driven fuzzing (issue 13, deliverable 4): seeded random sequences
//! of everything a guest can ask of the hypervisor. Each operation is one
//! of: an HVC or SMC with a random or near-known function id and random
//! arguments; an access to an emulated window (the virtual GIC's
//! distributor and redistributors, the virtual UART) at a random offset
//! with a random width and value, or in a form no syndrome describes (pair,
//! writeback, SIMD, exclusive); an access to a trapped system register
//! whose instruction is generated at run time; set/way cache maintenance
//! with a random operand; a read or write of a random address outside the
//! cell's RAM. The fuzzer survives its own faults (policy `inject`); what
//! must hold is that the hypervisor and every other cell keep running
//! unaffected (the harness checks).
//!
//! It never asks for what would stop it: `CPU_OFF`, `SYSTEM_OFF`,
//! `SYSTEM_RESET`, `SYSTEM_RESET2`, or `CPU_ON` (a random entry point would
//! run random bytes of its own image on vCPU 1).

use core::arch::asm;
use core::fmt::Write;

use rt::{LineBuf, Rng, gic, probe, probe_exec, probe_read, probe_write, probe_write32};

/// Its RAM (16 MiB at 0x4000_0000): never a target of its own random writes.
const OWN_RAM: core::ops::Range<u64> = 0x4000_0000..0x4100_0000;
/// A page of its RAM for generated instructions.
const CODE: u64 = 0x4010_0000;
/// Emulated windows: base and size.
const GICD: (u64, u64) = (0x0800_0000, 0x1_0000);
const GICR: (u64, u64) = (0x080a_0000, 0x4_0000);
const UART: (u64, u64) = (0x0900_0000, 0x1000);

/// What a run did.
#[derive(Default)]
struct Tally {
    ops: u64,
    faults: u64,
    calls: u64,
    mmio: u64,
    sysregs: u64,
}

fn say(args: core::fmt::Arguments<'_>) {
    let mut line = LineBuf::<160>::new();
    let _ = line.write_fmt(args);
    let _ = line.write_str("\n");
    // Through the hypervisor, not the virtual UART: the fuzzer may have
    // turned its UART off.
    let _ = rt::console_write(line.as_bytes());
}

/// Runs `ops` operations (0: for ever) from `seed`.
pub(crate) fn run(seed: u64, ops: u64) -> ! {
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    say(format_args!(
        "fuzz: seed {seed:#x}, {ops} ops (0: for ever)"
    ));
    while ops == 0 || tally.ops < ops {
        let faulted = match rng.below(8) {
            0 | 1 => {
                tally.calls += 1;
                call(&mut rng)
            }
            2 | 3 => {
                tally.mmio += 1;
                mmio(&mut rng)
            }
            4 => {
                tally.sysregs += 1;
                sysreg(&mut rng)
            }
            5 => set_way(&mut rng),
            6 => foreign(&mut rng),
            _ => sgi(&mut rng),
        };
        tally.ops += 1;
        tally.faults += u64::from(faulted);
        if tally.ops % 20_000 == 0 {
            say(format_args!(
                "fuzz: {} ops, {} faults",
                tally.ops, tally.faults
            ));
        }
    }
    say(format_args!(
        "fuzz: done seed {seed:#x}: {} ops ({} calls, {} mmio, {} sysregs), {} faults",
        tally.ops, tally.calls, tally.mmio, tally.sysregs, tally.faults
    ));
    rt::system_off();
    rt::park()
}

/// A function id: random, or near one the hypervisor knows.
fn function_id(rng: &mut Rng) -> u32 {
    let low = rng.bits() as u32;
    match rng.below(8) {
        0 => 0x8400_0000 | (low & 0x1f),
        1 => 0xc400_0000 | (low & 0x1f),
        2 => 0xc600_0000 | (low & 0xf),
        3 => 0xc600_ff00 | (low & 0xf),
        4 => 0x8600_ff00 | (low & 0xf),
        5 => 0x8000_0000 | (low & 0xffff),
        6 => 0xc600_0000 | (low & 0xffff),
        _ => low,
    }
}

/// Whether `id` would stop the fuzzer or start code it does not control.
fn stops_the_fuzzer(id: u32) -> bool {
    matches!(
        id & !0x4000_0000,
        0x8400_0002 | 0x8400_0003 | 0x8400_0008 | 0x8400_0009 | 0x8400_0012
    )
}

fn call(rng: &mut Rng) -> bool {
    let id = function_id(rng);
    if stops_the_fuzzer(id) {
        return false;
    }
    let mut args = [rng.bits(), rng.bits(), rng.bits()];
    // CONSOLE_WRITE: short, so the console is not flooded with garbage.
    if id & 0xbfff_ffff == 0x8600_0002 {
        args[1] &= 0x3f;
    }
    // SAFETY: no id that starts code or stops this cell is used; the
    // others touch no memory of this program (CONSOLE_WRITE only reads).
    let result = unsafe {
        if rng.below(2) == 0 {
            rt::try_hvc(id, args[0], args[1], args[2])
        } else {
            rt::try_smc(id, args[0], args[1], args[2])
        }
    };
    result.is_err()
}

fn mmio(rng: &mut Rng) -> bool {
    let (base, size) = match rng.below(3) {
        0 => GICD,
        1 => GICR,
        _ => UART,
    };
    let address = base + rng.below(size);
    let value = rng.bits();
    // SAFETY: an emulated device register (trapped by the hypervisor):
    // lone loads and stores in asm blocks clobbering the C ABI; a fault is
    // skipped.
    let result = unsafe {
        probe(|| match rng.below(12) {
            0 => {
                asm!("ldrb w0, [x1]", out("x0") _, in("x1") address, options(nostack), clobber_abi("C"))
            }
            1 => {
                asm!("ldrh w0, [x1]", out("x0") _, in("x1") address, options(nostack), clobber_abi("C"))
            }
            2 => {
                asm!("ldr w0, [x1]", out("x0") _, in("x1") address, options(nostack), clobber_abi("C"))
            }
            3 => {
                asm!("ldr x0, [x1]", out("x0") _, in("x1") address, options(nostack), clobber_abi("C"))
            }
            4 => {
                asm!("strb w0, [x1]", in("x0") value, in("x1") address, options(nostack), clobber_abi("C"))
            }
            5 => {
                asm!("strh w0, [x1]", in("x0") value, in("x1") address, options(nostack), clobber_abi("C"))
            }
            6 => {
                asm!("str w0, [x1]", in("x0") value, in("x1") address, options(nostack), clobber_abi("C"))
            }
            7 => {
                asm!("str x0, [x1]", in("x0") value, in("x1") address, options(nostack), clobber_abi("C"))
            }
            8 => {
                asm!("ldp x2, x3, [x1]", out("x2") _, out("x3") _, in("x1") address, options(nostack), clobber_abi("C"))
            }
            9 => {
                asm!("ldr w2, [x1], #4", out("x2") _, inout("x1") address => _, options(nostack), clobber_abi("C"))
            }
            10 => {
                asm!("ldr q0, [x1]", out("v0") _, in("x1") address, options(nostack), clobber_abi("C"))
            }
            _ => {
                asm!("ldxr x2, [x1]", out("x2") _, in("x1") address, options(nostack), clobber_abi("C"))
            }
        })
    };
    result.is_err()
}

/// `(op0, op1, CRn, CRm, op2)` of a register the hypervisor traps, with
/// random fields inside its family.
fn trapped_register(rng: &mut Rng) -> (u32, u32, u32, u32, u32) {
    let r = rng.bits() as u32;
    match rng.below(8) {
        // Debug (MDCR_EL2.TDA, TDOSA, TDRA).
        0 => (2, 0, r & 1, (r >> 1) & 0xf, (r >> 5) & 7),
        // ID registers (HCR_EL2.TID3).
        1 => (3, 0, 0, 1 + (r & 7) % 7, (r >> 3) & 7),
        // PMU (MDCR_EL2.TPM).
        2 => (3, 3, 9, 12 + (r & 3) % 3, (r >> 2) & 7),
        3 => (3, 3, 14, 8 + (r & 7), (r >> 3) & 7),
        // IMPLEMENTATION DEFINED (HCR_EL2.TIDCP).
        4 => (
            3,
            r & 7,
            if r & 8 == 0 { 11 } else { 15 },
            (r >> 4) & 0xf,
            (r >> 8) & 7,
        ),
        // The EL1 physical timer (`physical-timer = "trap"`).
        5 => (3, 3, 14, 2, r % 3),
        // SGI registers (HCR_EL2.IMO/FMO).
        6 => (3, 0, 12, 11, 5 + r % 3),
        // RAS error records (HCR_EL2.TERR), ACTLR (TACR).
        _ => {
            if r & 1 == 0 {
                (3, 0, 5, 3 + (r >> 1) % 3, (r >> 3) & 7)
            } else {
                (3, 0, 1, 0, 1)
            }
        }
    }
}

/// One MRS or MSR of a trapped register, written as code and run.
fn sysreg(rng: &mut Rng) -> bool {
    let (op0, op1, crn, crm, op2) = trapped_register(rng);
    let fields = ((op0 - 2) << 19) | (op1 << 16) | (crn << 12) | (crm << 8) | (op2 << 5);
    let imm = (rng.bits() & 0xffff) as u32;
    let code: [u32; 3] = if rng.below(2) == 0 {
        // MRS x0, reg; (nop); RET
        [0xd530_0000 | fields, 0xd503_201f, 0xd65f_03c0]
    } else {
        // MOVZ x1, #imm; MSR reg, x1; RET
        [0xd280_0001 | (imm << 5), 0xd510_0001 | fields, 0xd65f_03c0]
    };
    for (i, word) in code.iter().enumerate() {
        // SAFETY: own scratch RAM for generated code.
        let _ = unsafe { probe_write32(CODE + 4 * i as u64, *word) };
    }
    // SAFETY: makes the new instructions visible to instruction fetch.
    unsafe {
        asm!(
            "dc cvau, {a}",
            "dsb ish",
            "ic ivau, {a}",
            "dsb ish",
            "isb",
            a = in(reg) CODE,
            options(nostack)
        )
    };
    // SAFETY: the code is one access to a register the hypervisor traps
    // and answers (or an undefined instruction, caught), then RET.
    unsafe { probe_exec(CODE) }.is_err()
}

fn set_way(rng: &mut Rng) -> bool {
    let operand = rng.bits() & 0xffff_fffe;
    // SAFETY: set/way maintenance selects a line by position; with the MMU
    // off this guest holds no dirty lines; a fault is skipped.
    let result = unsafe {
        probe(|| match rng.below(3) {
            0 => asm!("dc isw, x0", in("x0") operand, options(nostack), clobber_abi("C")),
            1 => asm!("dc csw, x0", in("x0") operand, options(nostack), clobber_abi("C")),
            _ => asm!("dc cisw, x0", in("x0") operand, options(nostack), clobber_abi("C")),
        })
    };
    result.is_err()
}

/// A random address outside own RAM and the emulated windows.
fn foreign(rng: &mut Rng) -> bool {
    let mut address = rng.below(1 << 40) & !7;
    if OWN_RAM.contains(&address) {
        address += 0x0100_0000;
    }
    let emulated = |(base, size): (u64, u64)| (base..base + size).contains(&address);
    if emulated(GICD)
        || emulated(GICR)
        || emulated(UART)
        || (0x0801_0000..0x0802_0000).contains(&address)
    {
        return false;
    }
    if rng.below(2) == 0 {
        probe_read(address).is_err()
    } else {
        // SAFETY: not this program's memory (outside its RAM).
        unsafe { probe_write(address, rng.bits()) }.is_err()
    }
}

/// An SGI request with random fields (the hypervisor keeps it in the
/// cell).
fn sgi(rng: &mut Rng) -> bool {
    gic::write_sgi1r(rng.bits());
    false
}
