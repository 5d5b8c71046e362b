//! Catalogue 4.5: system registers and firmware (attempts 8, 40, 41, 43-46;
//! 42 is in `calls`).

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rt::{Fault, probe, probe_el0, probe_write32};

use crate::attempt::{Id, report};

/// Reads system register `$reg` (any encoding), its fault caught.
macro_rules! read_sysreg {
    ($reg:literal) => {{
        // SAFETY: a lone MRS in an asm block clobbering the C ABI; reading
        // these registers has no side effects; a fault is skipped.
        unsafe {
            probe(|| {
                let value: u64;
                asm!(concat!("mrs x0, ", $reg), out("x0") value, options(nostack), clobber_abi("C"));
                value
            })
        }
    }};
}

/// Writes `$value` to system register `$reg`, its fault caught.
macro_rules! write_sysreg {
    ($reg:literal, $value:expr) => {{
        let value: u64 = $value;
        // SAFETY: a lone MSR in an asm block clobbering the C ABI; the
        // registers written are debug, PMU, trace and IMPLEMENTATION
        // DEFINED ones the hypervisor must not let through (a write that
        // took effect would be reported as not contained, and none of them
        // changes this program's memory); a fault is skipped.
        unsafe {
            probe(|| asm!(concat!("msr ", $reg, ", x0"), in("x0") value, options(nostack), clobber_abi("C")))
        }
    }};
}

/// A named register's write, then read.
type RegisterCase = (&'static str, Result<(), Fault>, Result<u64, Fault>);

/// A register access that must read as zero (after a write of ones, which
/// must be ignored) or be an Undefined Instruction (a register the core
/// does not have).
fn expect_raz_wi(id: Id, name: &str, write: Result<(), Fault>, read: Result<u64, Fault>) {
    let what = format_args!("{name}");
    match (write, read) {
        (_, Ok(0)) => report(id, what, true, format_args!("reads 0 after a write")),
        (_, Err(fault)) if fault.is_undefined() => {
            report(id, what, true, format_args!("undefined"))
        }
        (_, Ok(value)) => report(id, what, false, format_args!("reads {value:#x}")),
        (_, Err(fault)) => report(id, what, false, format_args!("{fault}")),
    }
}

pub(crate) fn run() {
    set_way_storm();
    debug_pmu_impdef();
    physical_timer();
    aarch32_el0();
    sve_sme();
    ras_trace_amu_spe();
    id_registers();
}

/// 8: data-cache maintenance by set/way over every set, way and level the
/// core reports (trapped; made clean+invalidate by the hypervisor).
fn set_way_storm() {
    let clidr = read_sysreg!("clidr_el1").unwrap_or(0);
    for (k, op) in ["isw", "csw", "cisw"].into_iter().enumerate() {
        let mut count = 0u64;
        let mut faults = 0u64;
        for level in 0..7u64 {
            // Data or unified cache at this level?
            if (clidr >> (3 * level)) & 0b111 < 2 {
                continue;
            }
            // SAFETY: selects the cache level whose geometry to read.
            unsafe { asm!("msr csselr_el1, {}", "isb", in(reg) level << 1, options(nostack)) };
            let ccsidr = read_sysreg!("ccsidr_el1").unwrap_or(0);
            let line_shift = (ccsidr & 0b111) + 4;
            let ways = ((ccsidr >> 3) & 0x3ff) + 1;
            let sets = ((ccsidr >> 13) & 0x7fff) + 1;
            let way_shift = (ways as u32 - 1).leading_zeros();
            for way in 0..ways {
                for set in 0..sets {
                    let operand = (way << way_shift) | (set << line_shift) | (level << 1);
                    // SAFETY: set/way maintenance selects a line by
                    // position; with the MMU off this guest holds no dirty
                    // lines; a fault is skipped.
                    let result = unsafe {
                        probe(|| match op {
                            "isw" => {
                                asm!("dc isw, {}", in(reg) operand, options(nostack), clobber_abi("C"))
                            }
                            "csw" => {
                                asm!("dc csw, {}", in(reg) operand, options(nostack), clobber_abi("C"))
                            }
                            _ => {
                                asm!("dc cisw, {}", in(reg) operand, options(nostack), clobber_abi("C"))
                            }
                        })
                    };
                    count += 1;
                    faults += u64::from(result.is_err());
                }
            }
        }
        report(
            Id(8, k + 1),
            format_args!("dc {op} over every set and way"),
            count > 0 && faults == 0,
            format_args!("{count} operations, {faults} faults"),
        );
    }
}

/// 40: debug, PMU, ACTLR and IMPLEMENTATION DEFINED registers read as zero
/// and ignore writes.
fn debug_pmu_impdef() {
    let ones = u64::MAX;
    let cases: [RegisterCase; 9] = [
        (
            "mdscr_el1",
            write_sysreg!("mdscr_el1", 0x8000),
            read_sysreg!("mdscr_el1"),
        ),
        (
            "dbgbvr0_el1",
            write_sysreg!("dbgbvr0_el1", ones),
            read_sysreg!("dbgbvr0_el1"),
        ),
        (
            "dbgbcr0_el1",
            write_sysreg!("dbgbcr0_el1", 0x1e7),
            read_sysreg!("dbgbcr0_el1"),
        ),
        (
            "oslar_el1, then oslsr_el1",
            write_sysreg!("oslar_el1", 1),
            read_sysreg!("oslsr_el1"),
        ),
        (
            "pmcr_el0",
            write_sysreg!("pmcr_el0", 0x7),
            read_sysreg!("pmcr_el0"),
        ),
        (
            "pmccntr_el0",
            write_sysreg!("pmccntr_el0", ones),
            read_sysreg!("pmccntr_el0"),
        ),
        (
            "pmuserenr_el0",
            write_sysreg!("pmuserenr_el0", 0xf),
            read_sysreg!("pmuserenr_el0"),
        ),
        (
            "actlr_el1",
            write_sysreg!("actlr_el1", ones),
            read_sysreg!("actlr_el1"),
        ),
        (
            "s3_1_c15_c2_0 (implementation defined)",
            write_sysreg!("s3_1_c15_c2_0", ones),
            read_sysreg!("s3_1_c15_c2_0"),
        ),
    ];
    for (k, (name, write, read)) in cases.into_iter().enumerate() {
        expect_raz_wi(Id(40, k + 1), name, write, read);
    }
}

/// Physical timer interrupts this vCPU took (its IRQ handler counts PPI 30).
pub(crate) static PHYSICAL_TIMER_IRQS: AtomicU64 = AtomicU64::new(0);

/// 41: the EL1 physical timer under `physical-timer = "trap"`: its
/// registers read as zero, and arming it raises no interrupt.
fn physical_timer() {
    let before = PHYSICAL_TIMER_IRQS.load(Relaxed);
    let now = rt::counter();
    let armed =
        write_sysreg!("cntp_cval_el0", now + 1000).and_then(|()| write_sysreg!("cntp_ctl_el0", 1));
    rt::gic::unmask_irqs();
    rt::delay_ms(5);
    rt::gic::mask_irqs();
    let ctl = read_sysreg!("cntp_ctl_el0");
    let _ = write_sysreg!("cntp_ctl_el0", 0);
    let irqs = PHYSICAL_TIMER_IRQS.load(Relaxed) - before;
    let what = format_args!("arm the el1 physical timer");
    match (armed, ctl) {
        (Ok(()), Ok(0)) if irqs == 0 => report(
            Id(41, 1),
            what,
            true,
            format_args!("ctl reads 0, no ppi 30"),
        ),
        (_, ctl) => report(
            Id(41, 1),
            what,
            false,
            format_args!("ctl {ctl:?}, {irqs} ppi 30"),
        ),
    }
}

/// A32 code at EL0: `$insn`, then `svc #0`.
fn a32_snippet(at: u64, insn: u32) {
    // SAFETY: own scratch RAM (executable), not used otherwise.
    unsafe {
        let _ = probe_write32(at, insn);
        let _ = probe_write32(at + 4, 0xef00_0000); // svc #0
    }
}

/// Scratch RAM for EL0 code.
const EL0_CODE: u64 = rt::RAM_BASE + 0x11_0000;

/// 43: an AArch32 task at EL0 (this guest's own EL1 drops to it) reading
/// the debug communications channel (MRC p14, trapped by MDCR_EL2.TDA) and
/// the physical timer (MRC p15 CNTP_CTL, trapped by `physical-timer =
/// "trap"` once EL1 lets EL0 at the timer): an Undefined Instruction at
/// the guest's AArch32 vector, the cell alive (finding F9).
fn aarch32_el0() {
    // CNTKCTL_EL1: EL0PCTEN, EL0VCTEN, EL0PTEN (the kernel allows EL0 the
    // counters and the physical timer).
    // SAFETY: only what EL0 may access changes.
    unsafe { asm!("msr cntkctl_el1, {}", "isb", in(reg) (1u64 << 9) | 0b11, options(nostack)) };
    for (k, (what, insn)) in [
        ("mrc p14 dbgdtrrxint", 0xee10_0e15u32),
        ("mrc p15 cntp_ctl", 0xee1e_0f32),
    ]
    .into_iter()
    .enumerate()
    {
        a32_snippet(EL0_CODE, insn);
        // SAFETY: the snippet ends in an SVC.
        let exit = unsafe { probe_el0(EL0_CODE, true, 0) };
        let undefined = exit.fault.is_undefined();
        report(
            Id(43, k + 1),
            format_args!("aarch32 el0 {what}"),
            undefined && exit.aarch32_vector,
            format_args!(
                "{} at the {} vector",
                exit.fault,
                if exit.aarch32_vector {
                    "aarch32"
                } else {
                    "aarch64"
                }
            ),
        );
    }
    // The control: an EL0 run that only calls SVC comes back with it.
    // SAFETY: as above.
    let exit = unsafe {
        let _ = probe_write32(EL0_CODE, 0xef00_0000);
        probe_el0(EL0_CODE, true, 0)
    };
    report(
        Id(43, 3),
        format_args!("aarch32 el0 svc (control)"),
        exit.fault.ec() == 0x11,
        format_args!("ec {:#x}", exit.fault.ec()),
    );
    // SAFETY: back to EL0 without timer access.
    unsafe { asm!("msr cntkctl_el1, {}", "isb", in(reg) 0b11u64, options(nostack)) };
}

/// 44: SVE and SME: their ID fields read as absent, their instructions and
/// registers are undefined (on a core with SVE the hypervisor traps them,
/// CPTR_EL2.TZ/TSM, and injects an Undefined Instruction: finding F9).
fn sve_sme() {
    let pfr0 = read_sysreg!("id_aa64pfr0_el1").unwrap_or(u64::MAX);
    let pfr1 = read_sysreg!("id_aa64pfr1_el1").unwrap_or(u64::MAX);
    report(
        Id(44, 1),
        format_args!("id_aa64pfr0/1 sve and sme fields"),
        (pfr0 >> 32) & 0xf == 0 && (pfr1 >> 24) & 0xf == 0,
        format_args!("pfr0 {pfr0:#x} pfr1 {pfr1:#x}"),
    );
    // CPACR_EL1.ZEN and SMEN: the guest enables them for itself.
    // SAFETY: only what traps at EL1 changes.
    unsafe {
        asm!("msr cpacr_el1, {}", "isb", in(reg) (3u64 << 20) | (3 << 16) | (3 << 24), options(nostack))
    };
    // RDVL x0, #1 and a ZCR_EL1 read.
    // SAFETY: a lone instruction, its fault caught.
    let rdvl = unsafe {
        probe(|| {
            let value: u64;
            asm!(".inst 0x04bf5020", out("x0") value, options(nostack), clobber_abi("C"));
            value
        })
    };
    let zcr = read_sysreg!("s3_0_c1_c2_0");
    // SMSTART (MSR SVCRSMZA, #3).
    // SAFETY: as above.
    let smstart = unsafe { probe(|| asm!(".inst 0xd503477f", options(nostack), clobber_abi("C"))) };
    for (k, (what, fault)) in [
        ("rdvl", rdvl.err()),
        ("zcr_el1", zcr.err()),
        ("smstart", smstart.err()),
    ]
    .into_iter()
    .enumerate()
    {
        let contained = fault.is_some_and(|f| f.is_undefined());
        report(
            Id(44, k + 2),
            format_args!("{what}"),
            contained,
            format_args!("{}", fault.map_or("ran", |f| f.ec_name())),
        );
    }
    // SAFETY: back to FP/SIMD only.
    unsafe { asm!("msr cpacr_el1, {}", "isb", in(reg) 3u64 << 20, options(nostack)) };
}

/// 45: RAS error records, trace, activity monitors and statistical
/// profiling: read as zero (trapped: HCR_EL2.TERR, CPTR_EL2.TTA/TAM,
/// MDCR_EL2.TTRF/TPMS) or undefined (a core without them).
fn ras_trace_amu_spe() {
    let cases: [RegisterCase; 6] = [
        (
            "errselr_el1",
            write_sysreg!("s3_0_c5_c3_1", 1),
            read_sysreg!("s3_0_c5_c3_1"),
        ),
        (
            "erxstatus_el1",
            write_sysreg!("s3_0_c5_c4_2", u64::MAX),
            read_sysreg!("s3_0_c5_c4_2"),
        ),
        (
            "trfcr_el1",
            write_sysreg!("s3_0_c1_c2_1", 0x63),
            read_sysreg!("s3_0_c1_c2_1"),
        ),
        (
            "trcprgctlr",
            write_sysreg!("s2_1_c0_c1_0", 1),
            read_sysreg!("s2_1_c0_c1_0"),
        ),
        (
            "amcntenset0_el0",
            write_sysreg!("s3_3_c13_c2_5", 0xf),
            read_sysreg!("s3_3_c13_c2_5"),
        ),
        (
            "pmscr_el1",
            write_sysreg!("s3_0_c9_c9_0", 0x3),
            read_sysreg!("s3_0_c9_c9_0"),
        ),
    ];
    for (k, (name, write, read)) in cases.into_iter().enumerate() {
        expect_raz_wi(Id(45, k + 1), name, write, read);
    }
}

/// 45 (continued): the ID registers show none of the trapped features.
fn id_registers() {
    let dfr0 = read_sysreg!("id_aa64dfr0_el1").unwrap_or(u64::MAX);
    // PMUVer, TraceVer, PMSVer, TraceFilt, TraceBuffer.
    let hidden = (dfr0 >> 8) & 0xf | (dfr0 >> 4) & 0xf | (dfr0 >> 32) & 0xf | (dfr0 >> 40) & 0xff;
    let pfr0 = read_sysreg!("id_aa64pfr0_el1").unwrap_or(u64::MAX);
    // RAS, AMU.
    let hidden = hidden | (pfr0 >> 28) & 0xf | (pfr0 >> 44) & 0xf;
    report(
        Id(45, 7),
        format_args!("id registers: pmu, trace, spe, ras, amu"),
        hidden == 0,
        format_args!("dfr0 {dfr0:#x} pfr0 {pfr0:#x}"),
    );
}
