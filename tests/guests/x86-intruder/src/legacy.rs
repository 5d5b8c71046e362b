//! Boot argument 0, the isolation demo's intruder: a single-vCPU guest (RAM: guest-physical 0..4 MiB) that
//! tries to reach outside its cell and prints a line before and after each
//! attempt; everything it tries must be contained by the hypervisor.
//!
//! In order: (1) read port 0x70 (the CMOS index, a device it does not
//! own: all ones); (2) write 0xfe to port 0x64 (the PS/2 controller's
//! "pulse reset line": on hardware, a machine reset); (3) read
//! `IA32_FEATURE_CONTROL` and clear x2APIC mode in `IA32_APIC_BASE`
//! (MSRs outside the allow-list: `#GP`, or dropped); (4) a fixed IPI and an
//! INIT to x2APIC id 0, the victim's core (dropped); (5) a self IPI
//! through the ICR shorthand (allowed: counted by its own handler); (6)
//! PSCI `CPU_ON` of vCPU 7, which its cell does not have
//! (`INVALID_PARAMETERS`), and a `VMCALL` with a function id nobody
//! defines (`NOT_SUPPORTED`, -1), both reported by the hypervisor; (7)
//! a write to the victim's canary through a guest-physical address
//! outside its RAM: an EPT violation, after which the hypervisor halts
//! this cell, so the line after it and `SYSTEM_OFF` are never reached
//! when isolation holds.
//!
//! In a cell with more vCPUs, vCPU 0 first starts vCPU 1, which spins
//! without ever exiting: halting the cell must stop it too (the hypervisor
//! reports each vCPU it stops).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use rt::{Gp, println};

/// Set by vCPU 1 once it spins.
static SPINNING: AtomicU64 = AtomicU64::new(0);

/// vCPU 1: announce, then spin forever without a single VM exit.
pub(crate) fn spinner(_context: u64) -> ! {
    println!("intruder: vcpu 1 spinning without exits");
    SPINNING.store(1, Relaxed);
    let mut turns: u64 = 0;
    loop {
        turns = turns.wrapping_add(1);
        core::hint::black_box(turns);
        core::hint::spin_loop();
    }
}

/// (1) The CMOS/RTC index port.
const CMOS_INDEX: u16 = 0x70;
/// (2) The PS/2 controller's command port and its "pulse reset" command.
const PS2_COMMAND: u16 = 0x64;
const PS2_PULSE_RESET: u8 = 0xfe;
/// (3) `IA32_FEATURE_CONTROL` and `IA32_APIC_BASE`.
const MSR_FEATURE_CONTROL: u32 = 0x3a;
const MSR_APIC_BASE: u32 = 0x1b;
/// `IA32_APIC_BASE.EXTD`: x2APIC mode.
const APIC_BASE_EXTD: u64 = 1 << 10;
/// What `IA32_APIC_BASE` holds in x2APIC mode (base 0xfee0_0000,
/// enabled, x2APIC) if reading it raises `#GP`.
const APIC_BASE_DEFAULT: u64 = 0xfee0_0c00;
/// (4) The victim's core and the vector it counts as foreign.
const VICTIM_APIC_ID: u32 = 0;
const FOREIGN_VECTOR: u8 = 0x40;
/// ICR: INIT (delivery mode 5), level assert, to x2APIC id 0.
const ICR_INIT: u64 = ((VICTIM_APIC_ID as u64) << 32) | (5 << 8) | (1 << 14);
/// (5) This guest's own vector.
const SELF_VECTOR: u8 = 0x41;
/// (5) How long to wait for the self IPI: polls of 1000 `PAUSE`s.
const SELF_IPI_POLLS: u32 = 1000;
/// (6) A vCPU index no cell here has (CPU_ON's target).
const FOREIGN_VCPU: u64 = 7;
/// (6) A function id in Bulkhead's own hypercall range that it does
/// not define.
const UNKNOWN_CALL: u32 = 0xc600_00ff;
/// (7) The victim's canary (guest 0x30_0000 in a cell whose RAM is at
/// host 0x0100_0000) as a guest-physical address here: outside this
/// cell's 4 MiB.
const VICTIM_CANARY: u64 = 0x0130_0000;
const MARK: u64 = 0xdead_beef_0bad_c0de;

static SELF_IPIS: AtomicU64 = AtomicU64::new(0);

fn on_self_ipi(_vector: u8) {
    SELF_IPIS.fetch_add(1, Relaxed);
}

fn outcome(result: Result<(), Gp>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(Gp) => "#GP",
    }
}

pub(crate) fn run() -> ! {
    let vcpus = match rt::cell_info() {
        Some(cell) => {
            println!(
                "intruder: start (cell {}, {} vcpu, apic id {})",
                cell.cell_id,
                cell.vcpus,
                rt::apic_id()
            );
            cell.vcpus
        }
        None => {
            println!("intruder: start (no cell info, apic id {})", rt::apic_id());
            1
        }
    };
    if vcpus > 1 && rt::start_vcpu(1, 0) == rt::psci::SUCCESS {
        while SPINNING.load(Relaxed) == 0 {
            rt::delay_spins(1000);
        }
    }

    // (1) A port of a device this cell does not own.
    println!("intruder: reading port {CMOS_INDEX:#x}");
    let value = rt::inb(CMOS_INDEX);
    println!("intruder: port {CMOS_INDEX:#x} read -> {value:#x}");

    // (2) The PS/2 controller's reset line.
    println!("intruder: writing {PS2_PULSE_RESET:#x} to port {PS2_COMMAND:#x}");
    rt::outb(PS2_COMMAND, PS2_PULSE_RESET);
    println!("intruder: still alive after writing {PS2_PULSE_RESET:#x} to port {PS2_COMMAND:#x}");

    // (3) MSRs outside the allow-list.
    println!("intruder: reading msr {MSR_FEATURE_CONTROL:#x}");
    match rt::try_rdmsr(MSR_FEATURE_CONTROL) {
        Ok(value) => println!("intruder: rdmsr {MSR_FEATURE_CONTROL:#x} -> {value:#x}"),
        Err(Gp) => println!("intruder: rdmsr {MSR_FEATURE_CONTROL:#x} -> #GP"),
    }
    println!("intruder: clearing x2APIC mode in msr {MSR_APIC_BASE:#x}");
    let base = rt::try_rdmsr(MSR_APIC_BASE).unwrap_or(APIC_BASE_DEFAULT);
    // SAFETY: leaving x2APIC mode breaks nothing of this program's
    // memory (at worst, later x2APIC accesses raise #GP and the runtime
    // reports them).
    let result = unsafe { rt::try_wrmsr(MSR_APIC_BASE, base & !APIC_BASE_EXTD) };
    println!("intruder: wrmsr {MSR_APIC_BASE:#x} -> {}", outcome(result));

    // (4) IPIs to another cell's core.
    println!("intruder: sending IPI vector {FOREIGN_VECTOR:#x} to apic id {VICTIM_APIC_ID}");
    match rt::send_ipi(VICTIM_APIC_ID, FOREIGN_VECTOR) {
        Ok(()) => {
            println!("intruder: sent IPI vector {FOREIGN_VECTOR:#x} to apic id {VICTIM_APIC_ID}")
        }
        Err(Gp) => {
            println!("intruder: IPI vector {FOREIGN_VECTOR:#x} to apic id {VICTIM_APIC_ID} -> #GP")
        }
    }
    println!("intruder: sending INIT to apic id {VICTIM_APIC_ID}");
    match rt::send_icr(ICR_INIT) {
        Ok(()) => println!("intruder: sent INIT to apic id {VICTIM_APIC_ID}"),
        Err(Gp) => println!("intruder: INIT to apic id {VICTIM_APIC_ID} -> #GP"),
    }

    // (5) A self IPI (allowed).
    rt::set_handler(SELF_VECTOR, on_self_ipi);
    rt::enable_interrupts();
    println!("intruder: sending a self IPI (vector {SELF_VECTOR:#x})");
    match rt::send_self_ipi(SELF_VECTOR) {
        Ok(()) => {
            for _ in 0..SELF_IPI_POLLS {
                if SELF_IPIS.load(Relaxed) > 0 {
                    break;
                }
                rt::delay_spins(1000);
            }
            println!(
                "intruder: self IPI delivered {} times",
                SELF_IPIS.load(Relaxed)
            );
        }
        Err(Gp) => println!("intruder: self IPI -> #GP"),
    }
    rt::disable_interrupts();

    // (6) A vCPU outside the cell, a call nobody defines.
    println!("intruder: CPU_ON vcpu {FOREIGN_VCPU}");
    let status = rt::start_vcpu(FOREIGN_VCPU, 0);
    println!(
        "intruder: CPU_ON vcpu {FOREIGN_VCPU} -> {}",
        rt::psci::status_name(status)
    );
    println!("intruder: VMCALL {UNKNOWN_CALL:#x}");
    // SAFETY: a function id the hypervisor does not define, no
    // arguments: it can only be refused.
    let [status, ..] = unsafe { rt::hypercall(UNKNOWN_CALL, 0, 0, 0) };
    println!("intruder: VMCALL {UNKNOWN_CALL:#x} -> {}", status as i64);

    // (7) Another cell's RAM.
    println!("intruder: writing the victim's canary at gpa {VICTIM_CANARY:#x}");
    // SAFETY: the address is outside this program's image, stacks and
    // statics (and outside this cell's RAM: the hypervisor must stop
    // the cell here); the identity page tables map it.
    unsafe { (VICTIM_CANARY as *mut u64).write_volatile(MARK) };
    println!("intruder: STILL RUNNING after the write (isolation broken)");
    let status = rt::system_off();
    println!("intruder: SYSTEM_OFF returned {status}");
    rt::park()
}
