//! Catalogue 4.3 item 28, 4.4 items 37 and 38, 4.8 item 62: the cell
//! stopped and restarted under itself. Its progress survives the restarts
//! in RAM outside its image (a restart reloads only the image).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use rt::{gic, timer};

use crate::attempt::{Id, report};
use crate::{cpus, jobs};

/// Where the progress lives: magic, step, boots.
const STATE: u64 = rt::RAM_BASE + 0xf0_0000;
const MAGIC: u64 = 0xca7a_1095_0000_0001;
/// The virtual timer's PPI.
const TIMER_PPI: u64 = 27;
/// Restarts of the storm.
const STORM: u64 = 10;

/// The IRQ handler leaves the timer's interrupt active (no EOI) and resets
/// the cell from inside the handler.
pub(crate) static RESET_IN_HANDLER: AtomicBool = AtomicBool::new(false);
/// Timer interrupts taken since boot.
pub(crate) static TICKS: AtomicU64 = AtomicU64::new(0);

fn word(index: u64) -> u64 {
    rt::probe_read(STATE + 8 * index).unwrap_or(0)
}

fn set_word(index: u64, value: u64) {
    // SAFETY: own RAM outside the image, used only for this state.
    let _ = unsafe { rt::probe_write(STATE + 8 * index, value) };
}

fn set_step(step: u64) {
    set_word(1, step);
}

pub(crate) fn run() {
    if word(0) != MAGIC {
        set_word(0, MAGIC);
        set_word(1, 0);
        set_word(2, 0);
    }
    let boots = word(2) + 1;
    set_word(2, boots);
    let step = word(1);
    rt::println!("catalogue: lifecycle step {step}, boot {boots}");
    gic::init_distributor();
    gic::init_cpu(1 << TIMER_PPI);
    match step {
        0 => stopped_in_handler(),
        1 => {
            after_reset_in_handler();
            set_step(2);
            rt::system_reset();
        }
        s if s < 2 + STORM => {
            set_step(s + 1);
            rt::system_reset();
        }
        s if s == 2 + STORM => {
            report(
                Id(62, 1),
                format_args!("restart storm of {STORM}"),
                boots == 3 + STORM,
                format_args!("{boots} boots"),
            );
            spinning_vcpu_restarted();
        }
        s if s == 3 + STORM => {
            let vcpu1 = rt::affinity_info(1, 0);
            report(
                Id(38, 1),
                format_args!("vcpu 1 spinning without exits while the cell restarts"),
                vcpu1 == rt::psci::AFFINITY_OFF,
                format_args!("vcpu 1 affinity {vcpu1} after the restart"),
            );
            simultaneous_resets(boots);
        }
        s if s == 4 + STORM => {
            let before = word(3);
            report(
                Id(37, 1),
                format_args!("system_reset on both vcpus at once"),
                boots == before + 1,
                format_args!("{} restarts", boots - before),
            );
            off_racing_reset();
        }
        s if s == 5 + STORM => {
            report(
                Id(37, 2),
                format_args!("system_off racing system_reset"),
                true,
                format_args!("the reset won: this is the restarted cell"),
            );
            rt::println!("catalogue: done");
            rt::system_off();
        }
        _ => rt::println!("catalogue: lifecycle: unexpected step {step}"),
    }
    rt::park()
}

/// 28: the timer's interrupt taken, never ended, and the cell reset from
/// inside the handler.
fn stopped_in_handler() {
    set_step(1);
    RESET_IN_HANDLER.store(true, Relaxed);
    timer::arm_at(rt::counter() + rt::counter_freq() / 1000);
    gic::unmask_irqs();
    loop {
        timer::wait_for_interrupt();
    }
}

/// 28 (after the reset): the timer's interrupts arrive again.
fn after_reset_in_handler() {
    let period = rt::counter_freq() / 1000;
    let end = rt::counter() + 50 * period;
    timer::arm_at(rt::counter() + period);
    gic::unmask_irqs();
    // Spin, not WFI: if the interrupt never came (the bug this checks), a
    // WFI would wait for ever instead of reporting it.
    while rt::counter() < end {
        core::hint::spin_loop();
    }
    gic::mask_irqs();
    timer::stop();
    let ticks = TICKS.load(Relaxed);
    report(
        Id(28, 1),
        format_args!("timer after a reset inside its handler"),
        ticks >= 10,
        format_args!("{ticks} ticks in 50 ms"),
    );
}

/// Called by the IRQ handler for the timer: the next deadline, or the
/// reset of 28.
pub(crate) fn tick() -> bool {
    if RESET_IN_HANDLER.load(Relaxed) {
        rt::system_reset();
    }
    TICKS.store(TICKS.load(Relaxed) + 1, Relaxed);
    timer::advance(rt::counter_freq() / 1000);
    true
}

/// 38: vCPU 1 spins without exits; vCPU 0 resets the cell.
fn spinning_vcpu_restarted() {
    cpus::start_worker();
    let _ = cpus::give_async(jobs::SPIN);
    rt::delay_ms(20);
    set_step(3 + STORM);
    rt::system_reset();
}

/// 37: both vCPUs call SYSTEM_RESET at once: one restart.
fn simultaneous_resets(boots: u64) {
    set_word(3, boots);
    cpus::start_worker();
    set_step(4 + STORM);
    let _ = cpus::give_async(jobs::SYSTEM_RESET);
    rt::system_reset();
}

/// 37: vCPU 1 calls SYSTEM_OFF while vCPU 0 calls SYSTEM_RESET: either the
/// cell stops for good (then nothing of it runs again: the harness checks)
/// or it restarts.
fn off_racing_reset() {
    cpus::start_worker();
    set_step(5 + STORM);
    rt::println!("catalogue: racing system_off and system_reset");
    let _ = cpus::give_async(jobs::SYSTEM_OFF);
    rt::system_reset();
}
