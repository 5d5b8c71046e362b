//! The virtual GIC at run time (GICv3 and GICv2): trapped GICD/GICR accesses,
//! injection through list registers, SGIs between a cell's vCPUs.
//!
//! The models (`model::vgic`) decide; this module applies their actions to
//! the physical GIC and owns the per-core list-register bookkeeping. A
//! hardware interrupt a cell owns (its SPIs, its virtual timer PPI 27) is
//! taken at EL2 once, priority-dropped, and put in a list register with the
//! HW bit: the guest's EOI deactivates it without another exit. An SGI
//! (trapped ICC_SGI1R_EL1 write) goes to the target vCPU's inbox; a remote
//! target is told with physical SGI 14 and fills its own list registers.

use core::sync::atomic::{AtomicBool, Ordering};

use spin::Mutex;

use super::gic::{self, Gic, GicOps, INJECT_SGI, KICK_SGI};
use super::model::esr::AccessSize;
use super::model::exit_cause::{ExitCause, InterruptCounters};
use super::model::vgic::action::Action;
use super::model::vgic::distributor::VirtualDistributor;
use super::model::vgic::intid::GicVersion;
use super::model::vgic::list::{InjectResult, ListRegisters, LrState, PendingQueue, VirtualIrq};
use super::model::vgic::redistributor::{FRAME_STRIDE, VirtualRedistributors, decode_sgi1r};
use super::{cpu, timer};
use crate::addr::IrqNum;
use crate::cell::{cpu_of, vcpu_of};
use crate::config::{
    CELL_COUNT, CELLS, CPU_COUNT, CellConsole, CellDesc, DEVICES, HYPERVISOR, PLATFORM, TABLES,
};

/// The GIC maintenance interrupt, as the platform names it (`maintenance-irq`;
/// 25 on every board Arm's SBSA describes, but a platform may differ, F16).
pub(super) const MAINTENANCE_PPI: u32 = PLATFORM.intc.maintenance_irq.0;
/// GICv2 GICD_SGIR, the distributor's SGI register.
const GICD_SGIR: u64 = 0xf00;

static DISTRIBUTORS: [Mutex<Option<VirtualDistributor>>; CELL_COUNT] =
    [const { Mutex::new(None) }; CELL_COUNT];
static REDISTRIBUTORS: [Mutex<Option<VirtualRedistributors>>; CELL_COUNT] =
    [const { Mutex::new(None) }; CELL_COUNT];
/// List-register bookkeeping of the vCPU on each core (only that core).
static LISTS: [Mutex<Option<ListRegisters>>; CPU_COUNT] = [const { Mutex::new(None) }; CPU_COUNT];
/// Interrupts other cores want injected on each core.
static INBOX: [Mutex<PendingQueue>; CPU_COUNT] =
    [const { Mutex::new(PendingQueue::new()) }; CPU_COUNT];
/// Interrupts delivered to each cell, by kind.
static DELIVERED: [InterruptCounters; CELL_COUNT] =
    [const { InterruptCounters::new() }; CELL_COUNT];
/// The level of each cell's virtual UART interrupt line, as the core last
/// reported it.
static UART_LINE: [AtomicBool; CELL_COUNT] = [const { AtomicBool::new(false) }; CELL_COUNT];

fn lr_state(lr: usize) -> LrState {
    Gic::read_lr(lr)
}

fn write_lr(lr: usize, irq: &VirtualIrq, state: LrState) {
    Gic::write_lr(lr, irq, state);
}

/// Interrupts of kind `kind` (`exit_cause::INTERRUPT_KINDS`) delivered to
/// `cell`.
pub(super) fn delivered(cell: usize, kind: usize) -> u64 {
    DELIVERED
        .get(cell)
        .and_then(|counters| counters.snapshot().get(kind).copied())
        .unwrap_or(0)
}

/// (Re)creates `cell`'s virtual distributor and redistributors in their
/// reset state, with the cell's SPIs disabled and routed to its first
/// vCPU's core, whatever the physical GIC held before. Boot, and cell
/// restart (no vCPU of the cell runs).
pub(super) fn reset_cell(cell: &'static CellDesc) {
    let version = Gic::VERSION;
    // The model holds the cell's hardware SPIs and, with a virtual console,
    // the console's INTID, which only ever becomes a virtual interrupt.
    let mut spis: heapless::Vec<IrqNum, MAX_SPIS_PER_CELL> = heapless::Vec::new();
    for irq in cell
        .irqs
        .iter()
        .copied()
        .chain(virtual_spi(cell).map(IrqNum))
    {
        if spis.push(irq).is_err() {
            crate::log::warn!(
                "cell {=str}: more than {=usize} SPIs",
                cell.name,
                MAX_SPIS_PER_CELL
            );
            break;
        }
    }
    let mut distributor =
        VirtualDistributor::new(version, PLATFORM.intc.irq_count, &spis, cell.cpus.len());
    distributor.reset(&mut |action| apply(cell, action));
    if let Some(first) = cpu_of(cell, 0) {
        for irq in cell.irqs {
            gic::spi_enable(irq.0, false);
            gic::spi_pending(irq.0, false);
            Gic::spi_route(irq.0, first);
        }
    }
    *DISTRIBUTORS[cell.id.index()].lock() = Some(distributor);
    *REDISTRIBUTORS[cell.id.index()].lock() = Some(VirtualRedistributors::new(cell.cpus.len()));
}

/// Most SPIs one cell's model holds (its hardware SPIs and its virtual
/// console's).
const MAX_SPIS_PER_CELL: usize = 128;

/// The cell's purely virtual SPI: its virtual console's interrupt (the
/// board console's INTID, where the guest expects its UART's).
fn virtual_spi(cell: &CellDesc) -> Option<u32> {
    (cell.console == CellConsole::Virtual)
        .then(console_input_irq)
        .flatten()
}

/// The board console's interrupt, if the platform names one.
pub(super) fn console_input_irq() -> Option<u32> {
    DEVICES
        .get(HYPERVISOR.console.device)?
        .irqs
        .first()
        .map(|irq| irq.0)
}

/// A virtual device's interrupt line (`cell`'s virtual console) is `level`:
/// when high and the guest has enabled it, it is injected into the vCPU
/// the guest routed it to (a software interrupt: the guest's EOI needs no
/// exit; input arriving later injects it again).
pub(super) fn virtual_line(cell: &'static CellDesc, level: bool) {
    if let Some(line) = UART_LINE.get(cell.id.index()) {
        line.store(level, Ordering::Relaxed);
    }
    if !level {
        return;
    }
    let Some(intid) = virtual_spi(cell) else {
        return;
    };
    let target = DISTRIBUTORS[cell.id.index()].lock().as_ref().and_then(|d| {
        d.spi_enabled(intid)
            .then(|| (d.target_vcpu(intid), d.spi_priority(intid)))
    });
    if let Some((vcpu, priority)) = target {
        send(cell, vcpu, VirtualIrq::new(intid, priority));
    }
}

/// Resets this core's virtual CPU interface for its vCPU (boot, CPU_ON,
/// restart).
pub(super) fn reset_vcpu(cpu: usize) {
    Gic::reset_virtual_interface();
    // reset() wrote the control register with underflow off.
    UNDERFLOW[cpu].store(false, Ordering::Relaxed);
    *LISTS[cpu].lock() = Some(ListRegisters::new(Gic::list_register_count()));
    INBOX[cpu].lock().clear();
    for ppi in [timer::VTIMER_PPI, timer::PHYSICAL_TIMER_PPI] {
        Gic::ppi_enable(ppi, false);
        Gic::ppi_reset_state(ppi);
    }
    Gic::ppi_enable(MAINTENANCE_PPI, true);
}

/// The SPI an action is about, if any.
fn action_spi(action: &Action) -> Option<u32> {
    match *action {
        Action::Enable { intid }
        | Action::Disable { intid }
        | Action::SetPending { intid }
        | Action::ClearPending { intid }
        | Action::SetActive { intid }
        | Action::ClearActive { intid }
        | Action::Priority { intid, .. }
        | Action::Config { intid, .. }
        | Action::Route { intid, .. } => Some(intid),
        _ => None,
    }
}

/// Applies a model's action on the cell's virtual SPI: nothing physical;
/// enabling it or setting it pending may inject it.
fn apply_virtual(cell: &'static CellDesc, action: Action) {
    match action {
        Action::Enable { .. } => {
            let level = UART_LINE
                .get(cell.id.index())
                .is_some_and(|line| line.load(Ordering::Relaxed));
            virtual_line(cell, level);
        }
        Action::SetPending { .. } => virtual_line(cell, true),
        _ => {}
    }
}

/// Applies a model's action to the physical GIC (or to a vCPU).
fn apply(cell: &'static CellDesc, action: Action) {
    if action_spi(&action).is_some() && action_spi(&action) == virtual_spi(cell) {
        apply_virtual(cell, action);
        return;
    }
    match action {
        Action::Enable { intid } => gic::spi_enable(intid, true),
        Action::Disable { intid } => gic::spi_enable(intid, false),
        Action::SetPending { intid } => gic::spi_pending(intid, true),
        Action::ClearPending { intid } => gic::spi_pending(intid, false),
        Action::SetActive { intid } => gic::spi_active(intid, true),
        Action::ClearActive { intid } => gic::spi_active(intid, false),
        Action::Priority { intid, priority } => gic::spi_priority(intid, priority),
        Action::Config { intid, edge } => gic::spi_config(intid, edge),
        Action::Route { intid, vcpu } => {
            if let Some(cpu) = cpu_of(cell, vcpu) {
                Gic::spi_route(intid, cpu);
            }
        }
        Action::SendSgi { intid, targets } => {
            let source = vcpu_of(&TABLES, cpu::current_index()).map_or(0, |(_, v)| v as u8);
            for vcpu in 0..cell.cpus.len().min(8) {
                if targets & (1 << vcpu) != 0 {
                    send(
                        cell,
                        vcpu,
                        VirtualIrq::sgi(intid, priority(cell, vcpu, intid), source),
                    );
                }
            }
        }
        Action::PrivateEnable { vcpu, intid } | Action::PrivateDisable { vcpu, intid } => {
            let on = matches!(action, Action::PrivateEnable { .. });
            // The cell's timer PPIs are physical on the vCPU's own core.
            if timer::owns_timer_ppi(cell, intid)
                && cpu_of(cell, vcpu) == Some(cpu::current_index())
            {
                Gic::ppi_enable(intid, on);
            }
        }
        Action::PrivatePending { vcpu, intid } => {
            send(
                cell,
                vcpu,
                VirtualIrq::new(intid, priority(cell, vcpu, intid)),
            );
        }
        Action::PrivateClearPending { .. } => {}
    }
}

/// The guest-programmed priority of private interrupt `intid` of `vcpu`.
fn priority(cell: &CellDesc, vcpu: usize, intid: u32) -> u8 {
    REDISTRIBUTORS[cell.id.index()]
        .lock()
        .as_ref()
        .map_or(0xa0, |r| r.priority(vcpu, intid))
}

/// Queues `irq` for `vcpu` of `cell`: directly when it runs on this core,
/// through its inbox and an SGI otherwise.
fn send(cell: &CellDesc, vcpu: usize, irq: VirtualIrq) {
    let Some(cpu) = cpu_of(cell, vcpu) else {
        return;
    };
    // Counted before it can be seen: the target may read its counters as
    // soon as the interrupt arrives.
    if let Some(counters) = DELIVERED.get(cell.id.index()) {
        counters.record(irq.intid);
    }
    if cpu == cpu::current_index() {
        inject(cpu, irq);
    } else {
        // One notification per batch: a non-empty inbox already has an
        // SGI 14 on its way, which will drain this one too.
        let notify = {
            let mut inbox = INBOX[cpu].lock();
            let was_empty = inbox.is_empty();
            let _ = inbox.push(irq);
            was_empty
        };
        if notify {
            Gic::send_sgi(INJECT_SGI, cpu);
        }
    }
}

/// Injects `irq` into the vCPU on this core `cpu`.
fn inject(cpu: usize, irq: VirtualIrq) {
    let mut lists = LISTS[cpu].lock();
    let Some(lists) = lists.as_mut() else {
        return;
    };
    // Current list-register states first, so an interrupt the guest has
    // completed is not taken for one still pending.
    lists.refill(lr_state, &mut |lr, irq, state: LrState| {
        write_lr(lr, &irq, state)
    });
    if let InjectResult::Written { lr, irq, state } = lists.inject(irq) {
        write_lr(lr, &irq, state);
    }
}

/// Brings this core's list registers up to date: pulls the inbox, frees
/// what the guest completed, fills from the queue. Called at every exit
/// before the guest resumes.
pub(super) fn sync(cpu: usize) {
    // First the live list-register states (what the guest completed frees
    // its slot), then what other cores sent.
    let needs_underflow = {
        let mut lists = LISTS[cpu].lock();
        let Some(lists) = lists.as_mut() else {
            return;
        };
        lists.refill(lr_state, &mut |lr, irq, state: LrState| {
            write_lr(lr, &irq, state)
        });
        // What is drained now needs no notification any more: a pending
        // SGI 14 would only cost an exit that finds an empty inbox. Cleared
        // before draining, so an interrupt pushed after the drain brings a
        // new one.
        // One lock for the common empty case; a sender that pushes after
        // the drain finds the inbox empty again and notifies anew.
        let mut inbox = INBOX[cpu].lock();
        if !inbox.is_empty() {
            Gic::clear_pending_sgi(INJECT_SGI);
            while let Some(irq) = inbox.pop() {
                if let InjectResult::Written { lr, irq, state } = lists.inject(irq) {
                    write_lr(lr, &irq, state);
                }
            }
        }
        lists.needs_underflow_maintenance()
    };
    // The control register is written (with its ISB) only when the
    // underflow interrupt is switched, not on every exit.
    if UNDERFLOW[cpu].swap(needs_underflow, Ordering::Relaxed) != needs_underflow {
        Gic::set_underflow_maintenance(needs_underflow);
    }
    // The maintenance interrupt this exit took is level-sensitive: held
    // active until the list registers were refilled and the underflow
    // interrupt switched above, it is not taken again for a condition that
    // is gone (and, if the condition holds, it comes back only after the
    // guest ran again).
    if MAINTENANCE_ACTIVE[cpu].swap(false, Ordering::AcqRel) {
        Gic::deactivate(MAINTENANCE_PPI);
    }
}

/// Whether each core holds the maintenance interrupt active (taken, its
/// priority dropped, not deactivated until `sync`).
static MAINTENANCE_ACTIVE: [AtomicBool; CPU_COUNT] = [const { AtomicBool::new(false) }; CPU_COUNT];

/// Whether the underflow maintenance interrupt is on, per core (mirrors
/// ICH_HCR_EL2.UIE / GICH_HCR.UIE as last written).
static UNDERFLOW: [AtomicBool; CPU_COUNT] = [const { AtomicBool::new(false) }; CPU_COUNT];

/// Whether the vCPU on `cpu` has a virtual interrupt waiting to be taken
/// (in a list register, its queue, or its inbox).
pub(super) fn has_pending(cpu: usize) -> bool {
    if !INBOX[cpu].lock().is_empty() {
        return true;
    }
    let mut lists = LISTS[cpu].lock();
    let Some(lists) = lists.as_mut() else {
        return false;
    };
    lists.refill(lr_state, &mut |lr, irq, state: LrState| {
        write_lr(lr, &irq, state)
    });
    lists.has_pending()
}

/// Handles a physical interrupt taken while the guest on `cpu` ran. Returns
/// whether it was one of the virtual GIC's.
pub(super) fn handle_irq(cpu: usize, intid: u32) -> bool {
    let Some((cell, vcpu)) = vcpu_of(&TABLES, cpu) else {
        return false;
    };
    match intid {
        timer_ppi if timer::owns_timer_ppi(cell, timer_ppi) => {
            // Priority drop only: the guest's EOI deactivates it (HW bit).
            Gic::end_of_interrupt(intid);
            let irq = VirtualIrq::hardware(intid, priority(cell, vcpu, intid), intid);
            inject(cpu, irq);
            DELIVERED[cell.id.index()].record(intid);
            true
        }
        INJECT_SGI => {
            Gic::end_of_interrupt(intid);
            Gic::deactivate(intid);
            true
        }
        // Priority drop only: the interrupt stays active (so the loop that
        // took it does not take it again while its condition, e.g. an
        // underflow, still holds) until `sync` has dealt with the list
        // registers. Taking it again and again here kept the core in the
        // hypervisor for ever once a guest emptied its list registers with
        // more interrupts queued (found by catalogue attempt 30).
        MAINTENANCE_PPI => {
            Gic::end_of_interrupt(intid);
            MAINTENANCE_ACTIVE[cpu].store(true, Ordering::Release);
            true
        }
        spi if spi >= 32 && cell.irqs.iter().any(|i| i.0 == spi) => {
            Gic::end_of_interrupt(intid);
            let priority = DISTRIBUTORS[cell.id.index()]
                .lock()
                .as_ref()
                .map_or(0xa0, |d| d.spi_priority(spi));
            inject(cpu, VirtualIrq::hardware(spi, priority, spi));
            DELIVERED[cell.id.index()].record(spi);
            true
        }
        spi if spi >= 32 => {
            // Another cell's interrupt reached this core (a routing change in
            // flight): send it where its owner's vGIC routes it, pending
            // again, so an edge is delivered late rather than lost (F16).
            Gic::end_of_interrupt(spi);
            let owner = CELLS.iter().find(|c| c.irqs.iter().any(|i| i.0 == spi));
            let target = owner.and_then(|owner| {
                let vcpu = DISTRIBUTORS[owner.id.index()]
                    .lock()
                    .as_ref()
                    .map_or(0, |d| d.target_vcpu(spi));
                cpu_of(owner, vcpu)
            });
            match target {
                Some(target) => Gic::spi_route(spi, target),
                // Nobody owns it: keep it off.
                None => gic::spi_enable(spi, false),
            }
            Gic::deactivate(spi);
            if target.is_some() {
                gic::spi_pending(spi, true);
            }
            true
        }
        _ => false,
    }
}

/// Whether `ipa` is in the guest's view of the GIC distributor.
pub(super) fn is_distributor(ipa: u64) -> bool {
    let d = PLATFORM.intc.distributor;
    ipa >= d.base.as_u64() && ipa < d.end().as_u64()
}

/// Whether `ipa` is in the guest's view of the redistributors.
pub(super) fn is_redistributor(ipa: u64) -> bool {
    let r = PLATFORM.intc.redistributor;
    ipa >= r.base.as_u64() && ipa < r.end().as_u64()
}

/// What a guest access to its distributor counts as: an SGI send for a
/// GICv2 GICD_SGIR write, an emulated GICD access otherwise.
pub(super) fn distributor_exit_cause(ipa: u64, write: bool) -> ExitCause {
    let offset = ipa.wrapping_sub(PLATFORM.intc.distributor.base.as_u64());
    if Gic::VERSION == GicVersion::V2 && offset == GICD_SGIR && write {
        ExitCause::SgiSend
    } else {
        ExitCause::MmioDistributor
    }
}

/// Emulates a guest access to its distributor.
pub(super) fn distributor_access(
    cell: &'static CellDesc,
    vcpu: usize,
    ipa: u64,
    size: AccessSize,
    write: Option<u64>,
) -> u64 {
    let offset = ipa - PLATFORM.intc.distributor.base.as_u64();
    let mut guard = DISTRIBUTORS[cell.id.index()].lock();
    let Some(distributor) = guard.as_mut() else {
        return 0;
    };
    // Applied after the model's lock is released (an action may need it);
    // one 32-bit write changes at most 32 interrupts.
    let mut actions: heapless::Vec<Action, 32> = heapless::Vec::new();
    let value = distributor.access(vcpu, offset, size, write, &mut |a| {
        let _ = actions.push(a);
    });
    drop(guard);
    for action in actions {
        apply(cell, action);
    }
    value
}

/// Emulates a guest access to its redistributor frames.
pub(super) fn redistributor_access(
    cell: &'static CellDesc,
    ipa: u64,
    size: AccessSize,
    write: Option<u64>,
) -> u64 {
    let offset = ipa - PLATFORM.intc.redistributor.base.as_u64();
    let frame = (offset / FRAME_STRIDE) as usize;
    let mut guard = REDISTRIBUTORS[cell.id.index()].lock();
    let Some(redistributors) = guard.as_mut() else {
        return 0;
    };
    // Applied after the model's lock is released (an action may need it);
    // one 32-bit write changes at most 32 interrupts.
    let mut actions: heapless::Vec<Action, 32> = heapless::Vec::new();
    let value = redistributors.access(frame, offset % FRAME_STRIDE, size, write, &mut |a| {
        let _ = actions.push(a);
    });
    drop(guard);
    for action in actions {
        apply(cell, action);
    }
    value
}

/// A trapped ICC_SGI1R_EL1 write by `vcpu` of `cell`.
pub(super) fn send_sgi(cell: &'static CellDesc, vcpu: usize, value: u64) {
    if let Some(action) = decode_sgi1r(value, vcpu, cell.cpus.len()) {
        apply(cell, action);
    }
}

/// What [`take_pending`] found among the physical interrupts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Taken {
    /// Nothing (spurious).
    Nothing,
    /// Only the maintenance interrupt (list-register underflow).
    MaintenanceOnly,
    /// Only the kick.
    KickOnly,
    /// Something for the guest.
    Some,
}

/// What [`take_pending`] did.
#[derive(Clone, Copy)]
pub(super) struct Pending {
    /// The interrupts it took.
    pub(super) taken: Taken,
    /// The console's receive interrupt was among them: typed input waits.
    pub(super) console_input: bool,
}

/// Acknowledges and handles every physical interrupt pending at this core:
/// the vGIC's go to the vCPU on `cpu`; the console's is acknowledged and
/// reported (the caller moves the input); the kick only wakes.
pub(super) fn take_pending(cpu: usize) -> Pending {
    let mut pending = Pending {
        taken: Taken::Nothing,
        console_input: false,
    };
    let console = console_input_irq();
    while let Some(intid) = Gic::acknowledge() {
        pending.taken = match (pending.taken, intid) {
            (Taken::Nothing | Taken::MaintenanceOnly, MAINTENANCE_PPI) => Taken::MaintenanceOnly,
            (Taken::Nothing | Taken::KickOnly, KICK_SGI) => Taken::KickOnly,
            _ => Taken::Some,
        };
        if Some(intid) == console {
            // Priority drop only: the interrupt stays active, so this loop
            // does not take it again while the UART still holds the bytes
            // (a level interrupt); the core deactivates it once it moved
            // them (`console_input_served`).
            pending.console_input = true;
            Gic::end_of_interrupt(intid);
            CONSOLE_ACTIVE[cpu].store(true, Ordering::Release);
            continue;
        }
        if handle_irq(cpu, intid) {
            continue;
        }
        Gic::end_of_interrupt(intid);
        Gic::deactivate(intid);
        if intid != KICK_SGI {
            crate::log::warn!("unexpected interrupt {=u32} on cpu {=usize}", intid, cpu);
        }
    }
    pending
}

/// Whether each CPU holds the console's receive interrupt active.
static CONSOLE_ACTIVE: [AtomicBool; CPU_COUNT] = [const { AtomicBool::new(false) }; CPU_COUNT];

/// The typed bytes were moved: the console's receive interrupt that `cpu`
/// held active may come again.
pub(super) fn console_input_served(cpu: usize) {
    if let (Some(active), Some(irq)) = (CONSOLE_ACTIVE.get(cpu), console_input_irq())
        && active.swap(false, Ordering::AcqRel)
    {
        Gic::deactivate(irq);
    }
}

/// Routes the console's receive interrupt to `cpu`, or disables it.
pub(super) fn route_console_input(cpu: Option<usize>) {
    let Some(irq) = console_input_irq() else {
        return;
    };
    match cpu {
        Some(cpu) => {
            gic::spi_priority(irq, CONSOLE_INPUT_PRIORITY);
            Gic::spi_route(irq, cpu);
            gic::spi_enable(irq, true);
        }
        None => gic::spi_enable(irq, false),
    }
}

/// Priority of the console's input interrupt at the physical GIC.
const CONSOLE_INPUT_PRIORITY: u8 = 0xa0;
