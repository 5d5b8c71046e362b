//! A fake back end for host tests of the core's policy (Hafnium's model).
//!
//! [`FakeArch`] records every request the core makes of the machine as an
//! [`Event`], keeps the console's output and each cell's RAM in memory, and
//! is deliberately unforgiving:
//! - memory writes and reads outside a cell's RAM regions panic (the core
//!   must check every range);
//! - a second power-off panics (the last cell stops exactly once);
//! - `halt`, `power_off` and, when asked, the first wait end the calling
//!   "CPU" by unwinding with [`Halted`], [`PoweredOff`] or [`Waited`], so a
//!   test can run the core's `-> !` paths and look at what they did;
//! - `relax` gives up after a bound, so a wait that never ends fails the
//!   test instead of hanging it.
//!
//! Other CPUs are threads: [`FakeArch::spawn_parker`] and
//! [`FakeArch::spawn_stoppers`] run what a real CPU does when it is kicked.

use std::cell::Cell;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use super::{Arch, ConsoleUart, Next, Print, Wake};
use crate::addr::{CellId, CpuId, GuestPhysAddr, IrqNum, PhysAddr};
use crate::calls::dispatch::Call;
use crate::cell::access::AccessSize;
use crate::cell::counters::ExitKind;
use crate::cell::lifecycle::Start;
use crate::config::{
    Arch as ArchName, CellConsole, CellDesc, CpuDesc, FaultPolicy, HypervisorDesc, ImageDesc,
    ImageKind, IntcDesc, LogTransport, MemRange, PhysicalTimer, PlatformDesc, RegionDesc,
    RegionKind, SegmentDesc, Tables, UartDesc, UartKind, VirtualCounter,
};
use crate::console::virtual_uart::VirtualUart;
use crate::hypervisor::Hypervisor;
use crate::mm::Perm;

/// The hypervisor over the fake: 4 CPUs, 2 cells.
pub(crate) type TestHv = Hypervisor<FakeArch, 4, 2>;

/// How a fake CPU's `-> !` path ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unwound {
    /// `Arch::halt`.
    Halted,
    /// `Arch::power_off`.
    PoweredOff,
    /// A wait, with [`FakeArch::stop_at_first_wait`].
    Waited,
}

pub(crate) use Unwound::{Halted, PoweredOff, Waited};

/// What the core asked of the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    Kick(usize),
    Doorbell(usize),
    WaitForStart(usize),
    Idle(usize),
    Halt(usize),
    PowerOff,
    Drained,
    RouteInput(Option<usize>),
    /// `console_input_served`.
    InputServed,
    UartLine {
        cell: usize,
        level: bool,
    },
    PrepareStart(usize),
    ResetDevices(usize),
    RunVcpu {
        cpu: usize,
        cell: usize,
        vcpu: usize,
        entry: u64,
        context: u64,
    },
    FirmwareCall(u32, [u64; 3]),
    BuildCellMaps,
    /// A fake CPU thread parked its vCPU (not asked of the arch: recorded by
    /// [`FakeArch::spawn_parker`]).
    Parked(usize),
}

/// The fake's exit kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FakeExit {
    Call,
    Io,
    Fault,
}

impl ExitKind for FakeExit {
    const ALL: &'static [Self] = &[Self::Call, Self::Io, Self::Fault];
    const FAULT: Self = Self::Fault;

    fn index(self) -> usize {
        self as usize
    }

    fn name(self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::Io => "io",
            Self::Fault => "fault",
        }
    }

    fn of_call(_: &Call) -> Self {
        Self::Call
    }
}

/// The fake's virtual UART: remembers what it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FakeUart {
    /// Bytes typed for the cell, in order.
    pub(crate) received: Vec<u8>,
    /// Bytes the guest sent.
    pub(crate) transmitted: usize,
}

impl VirtualUart for FakeUart {
    const RESET: Self = Self {
        received: Vec::new(),
        transmitted: 0,
    };
    const WINDOW: u64 = 8;

    fn read(&mut self, _offset: u64, _size: AccessSize) -> u32 {
        if self.received.is_empty() {
            0
        } else {
            u32::from(self.received.remove(0))
        }
    }

    fn write(&mut self, offset: u64, value: u32, transmit: &mut dyn FnMut(u8)) {
        if offset == 0 {
            self.transmitted += 1;
            transmit(value as u8);
        }
    }

    fn receive(&mut self, byte: u8) {
        self.received.push(byte);
    }

    fn interrupt_pending(&self) -> bool {
        !self.received.is_empty()
    }
}

/// Everything the fake remembers.
#[derive(Default)]
struct State {
    events: Vec<Event>,
    console: Vec<u8>,
    typed: Vec<u8>,
    /// Cell RAM regions: host base and bytes.
    memory: Vec<(u64, Vec<u8>)>,
    online: u64,
    locks_unusable: bool,
    delivered: HashMap<(usize, usize), u64>,
    stop_at_wait: bool,
}

/// The fake console UART: into the shared state.
pub(crate) struct FakeConsole(Arc<Mutex<State>>);

impl ConsoleUart for FakeConsole {
    fn write_bytes(&mut self, bytes: &[u8]) {
        lock(&self.0).console.extend_from_slice(bytes);
    }

    fn read_byte(&mut self) -> Option<u8> {
        let mut state = lock(&self.0);
        (!state.typed.is_empty()).then(|| state.typed.remove(0))
    }

    fn drain(&mut self) {
        lock(&self.0).events.push(Event::Drained);
    }

    fn enable_receive_interrupt(&mut self) {}
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A test that failed while holding the lock already reported why.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

thread_local! {
    static CURRENT_CPU: Cell<usize> = const { Cell::new(0) };
}

/// Most `relax` calls one wait may make before the test fails.
const RELAX_LIMIT: u32 = 2_000_000;

/// The fake machine.
pub(crate) struct FakeArch {
    tables: &'static Tables<'static>,
    state: Arc<Mutex<State>>,
    started: Instant,
}

/// Guest base of the fake's virtual UART.
const UART_BASE: u64 = 0x0900_0000;
/// Each cell's RAM: 1 MiB at guest address 0x4000_0000.
const RAM_GPA: u64 = 0x4000_0000;
const RAM_SIZE: u64 = 0x10_0000;

fn leak<T>(value: Vec<T>) -> &'static [T] {
    Box::leak(value.into_boxed_slice())
}

fn cell_desc(
    id: u16,
    name: &'static str,
    cpus: &[u16],
    host: u64,
    policy: FaultPolicy,
    console: CellConsole,
) -> CellDesc {
    let image: Vec<u8> = (0..0x300u32)
        .map(|i| (i as u8) ^ (id as u8 * 0x5a))
        .collect();
    CellDesc {
        id: CellId(id),
        name,
        cpus: leak(cpus.iter().map(|&c| CpuId(c)).collect()),
        memory: leak(vec![RegionDesc {
            gpa: GuestPhysAddr::new(RAM_GPA),
            hpa: PhysAddr::new(host),
            size: RAM_SIZE,
            perm: Perm::RWX,
            kind: RegionKind::Ram,
        }]),
        devices: &[],
        irqs: &[],
        image: ImageDesc {
            kind: ImageKind::Raw,
            name: "fake",
            size: image.len() as u64,
            segments: leak(vec![SegmentDesc {
                gpa: GuestPhysAddr::new(RAM_GPA + 0x1000),
                memory_size: 0x2000,
                data: leak(image),
            }]),
        },
        entry: GuestPhysAddr::new(RAM_GPA + 0x1000),
        boot_arg: u64::from(id) * 0x10,
        console,
        fault_policy: policy,
        physical_timer: PhysicalTimer::Trap,
        virtual_counter: VirtualCounter::Physical,
    }
}

fn fake_tables(policy: FaultPolicy, beta_console: CellConsole) -> &'static Tables<'static> {
    let none = MemRange::new(PhysAddr::new(0), 0);
    let uart = UartDesc {
        device: 0,
        kind: UartKind::Pl011,
        base: PhysAddr::new(UART_BASE),
        port: 0,
    };
    let platform = Box::leak(Box::new(PlatformDesc {
        name: "fake",
        arch: ArchName::Aarch64,
        load_address: PhysAddr::new(0x4020_0000),
        ram: leak(vec![MemRange::new(
            PhysAddr::new(0x1_0000_0000),
            0x100_0000,
        )]),
        intc: IntcDesc {
            version: 3,
            distributor: none,
            redistributor: none,
            cpu_interface: none,
            virtual_control: none,
            virtual_cpu: none,
            maintenance_irq: IrqNum(25),
            irq_count: 64,
            io_apic: none,
        },
        console: uart,
    }));
    let hypervisor = Box::leak(Box::new(HypervisorDesc {
        memory: MemRange::new(PhysAddr::new(0x4020_0000), 0x20_0000),
        console: uart,
        log: LogTransport::None,
    }));
    let owners = [Some(0), Some(1), Some(1), None];
    Box::leak(Box::new(Tables {
        name: "fake",
        platform,
        hypervisor,
        cpus: leak(
            owners
                .iter()
                .enumerate()
                .map(|(i, owner)| CpuDesc {
                    hw_id: i as u64,
                    cell: owner.map(CellId),
                })
                .collect(),
        ),
        devices: &[],
        cells: leak(vec![
            cell_desc(
                0,
                "alpha",
                &[0],
                0x1_0000_0000,
                policy,
                CellConsole::Virtual,
            ),
            cell_desc(1, "beta", &[1, 2], 0x1_0010_0000, policy, beta_console),
        ]),
        channels: &[],
    }))
}

impl FakeArch {
    /// Two cells: `alpha` on CPU 0, `beta` on CPUs 1 and 2, CPU 3 free;
    /// both with a virtual console and fault policy `halt`.
    pub(crate) fn two_cells() -> Self {
        Self::two_cells_with_policy(FaultPolicy::Halt)
    }

    /// [`two_cells`](Self::two_cells) with both cells' fault policy.
    pub(crate) fn two_cells_with_policy(policy: FaultPolicy) -> Self {
        Self::over(fake_tables(policy, CellConsole::Virtual))
    }

    /// [`two_cells`](Self::two_cells), `beta` with a passed-through console.
    pub(crate) fn with_passthrough_console() -> Self {
        Self::over(fake_tables(FaultPolicy::Halt, CellConsole::Passthrough))
    }

    fn over(tables: &'static Tables<'static>) -> Self {
        let memory = tables
            .cells
            .iter()
            .flat_map(|c| c.memory.iter())
            .map(|r| (r.hpa.as_u64(), vec![0u8; r.size as usize]))
            .collect();
        let state = State {
            memory,
            online: 1,
            ..State::default()
        };
        Self {
            tables,
            state: Arc::new(Mutex::new(state)),
            started: Instant::now(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn record(&self, event: Event) {
        self.state().events.push(event);
    }

    /// Everything recorded so far.
    pub(crate) fn events(&self) -> Vec<Event> {
        self.state().events.clone()
    }

    /// Forgets the events so far.
    pub(crate) fn clear_events(&self) {
        self.state().events.clear();
    }

    /// Where `event` was first recorded.
    pub(crate) fn position(&self, event: &Event) -> Option<usize> {
        self.state().events.iter().position(|e| e == event)
    }

    /// How many events match.
    pub(crate) fn count(&self, matches: impl Fn(&Event) -> bool) -> usize {
        self.state().events.iter().filter(|e| matches(e)).count()
    }

    /// The console's output so far.
    pub(crate) fn console_text(&self) -> String {
        String::from_utf8_lossy(&self.state().console).into_owned()
    }

    /// Bytes waiting to be read from the console UART.
    pub(crate) fn type_keys(&self, keys: &[u8]) {
        self.state().typed.extend_from_slice(keys);
    }

    /// The online CPUs.
    pub(crate) fn set_online(&self, mask: u64) {
        self.state().online = mask;
    }

    /// Whether spin locks work yet.
    pub(crate) fn set_locks_usable(&self, usable: bool) {
        self.state().locks_unusable = !usable;
    }

    /// Interrupts of delivery kind `kind` delivered to `cell`.
    pub(crate) fn set_delivered(&self, cell: usize, kind: usize, count: u64) {
        self.state().delivered.insert((cell, kind), count);
    }

    /// The next wait (for a start, or idle) ends the CPU with [`Waited`].
    pub(crate) fn stop_at_first_wait(&self) {
        self.state().stop_at_wait = true;
    }

    /// Sets every byte of every cell's RAM.
    pub(crate) fn fill_memory(&self, byte: u8) {
        for (_, bytes) in &mut self.state().memory {
            bytes.fill(byte);
        }
    }

    /// `len` bytes of cell RAM at host address `host`.
    pub(crate) fn memory(&self, host: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0; len];
        self.read_cell_memory(host, &mut buf);
        buf
    }

    /// Writes cell RAM (as a guest would).
    pub(crate) fn write_memory(&self, host: u64, bytes: &[u8]) {
        self.with_memory(host, bytes.len(), |ram| ram.copy_from_slice(bytes));
    }

    fn with_memory(&self, host: u64, len: usize, f: impl FnOnce(&mut [u8])) {
        let mut state = self.state();
        let region = state.memory.iter_mut().find_map(|(base, bytes)| {
            let offset = usize::try_from(host.checked_sub(*base)?).ok()?;
            bytes.get_mut(offset..offset.checked_add(len)?)
        });
        match region {
            Some(ram) => f(ram),
            None => panic!("fake: access to {host:#x}+{len:#x} is outside every cell's RAM"),
        }
    }

    /// Runs `f` as CPU `cpu`.
    pub(crate) fn as_cpu<R>(&self, cpu: usize, f: impl FnOnce() -> R) -> R {
        let before = CURRENT_CPU.with(|c| c.replace(cpu));
        let result = f();
        CURRENT_CPU.with(|c| c.set(before));
        result
    }

    /// Runs `f` as CPU `cpu`; `Some` with how it ended if it ended the CPU
    /// ([`Halted`], [`PoweredOff`], [`Waited`]), `None` if it returned.
    /// Other panics go on.
    pub(crate) fn catch<R>(&self, cpu: usize, f: impl FnOnce() -> R) -> Option<Unwound> {
        let before = CURRENT_CPU.with(|c| c.replace(cpu));
        let result = catch_unwind(AssertUnwindSafe(f));
        CURRENT_CPU.with(|c| c.set(before));
        match result {
            Ok(_) => None,
            Err(payload) => match payload.downcast::<Unwound>() {
                Ok(unwound) => Some(*unwound),
                Err(other) => resume_unwind(other),
            },
        }
    }

    /// A thread playing CPU `cpu`, whose vCPU runs guest code: when the kick
    /// arrives it exits, sees its cell stopped and parks, as the real loop
    /// does.
    pub(crate) fn spawn_parker<const CPUS: usize, const CELLS: usize>(
        &self,
        hv: &Arc<Hypervisor<FakeArch, CPUS, CELLS>>,
        cpu: usize,
    ) -> JoinHandle<()> {
        let hv = Arc::clone(hv);
        std::thread::spawn(move || {
            hv.arch.as_cpu(cpu, || {
                hv.arch.wait_for(&Event::Kick(cpu));
                let (cell, vcpu) = hv.vcpu_of(cpu).expect("a cell's CPU");
                assert_eq!(hv.after_exit(cpu, cell, vcpu, Next::Resume), Next::Park);
                hv.arch.record(Event::Parked(cpu));
                hv.life.park(cpu);
            });
        })
    }

    /// Threads playing `cpus`: each acknowledges a stop-all when kicked.
    pub(crate) fn spawn_stoppers<const CPUS: usize, const CELLS: usize>(
        &self,
        hv: &Arc<Hypervisor<FakeArch, CPUS, CELLS>>,
        cpus: &[usize],
    ) -> Vec<JoinHandle<()>> {
        cpus.iter()
            .map(|&cpu| {
                let hv = Arc::clone(hv);
                std::thread::spawn(move || {
                    hv.arch.wait_for(&Event::Kick(cpu));
                    let ended = hv.arch.catch(cpu, || hv.stop_if_requested());
                    assert_eq!(ended, Some(Halted));
                })
            })
            .collect()
    }

    /// Waits (bounded) until `event` was recorded.
    fn wait_for(&self, event: &Event) {
        for _ in 0..20_000 {
            if self.position(event).is_some() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
        panic!("fake: {event:?} never happened");
    }

    fn end_cpu_if_asked(&self) {
        if self.state().stop_at_wait {
            resume_unwind(Box::new(Waited));
        }
    }
}

impl Arch for FakeArch {
    type ExitKind = FakeExit;
    type VirtualUart = FakeUart;
    type ConsoleUart = FakeConsole;

    const PC_NAME: &'static str = "pc";
    const DELIVERY_KINDS: &'static [&'static str] = &["timer"];

    fn tables(&self) -> &'static Tables<'static> {
        self.tables
    }

    fn current_cpu(&self) -> usize {
        CURRENT_CPU.with(Cell::get)
    }

    fn kick(&self, cpu: usize) {
        self.record(Event::Kick(cpu));
    }

    fn ring_doorbell(&self, cpu: usize) {
        self.record(Event::Doorbell(cpu));
    }

    fn publish(&self) {}

    fn relax(&self) {
        thread_local! {
            static RELAXED: Cell<u32> = const { Cell::new(0) };
        }
        let count = RELAXED.with(|r| {
            r.set(r.get() + 1);
            r.get()
        });
        assert!(count < RELAX_LIMIT, "fake: a wait never ended");
        std::thread::yield_now();
    }

    fn wait_for_start(&self, cpu: usize) -> Wake {
        self.record(Event::WaitForStart(cpu));
        self.end_cpu_if_asked();
        Wake::default()
    }

    fn idle(&self, cpu: usize) -> Wake {
        self.record(Event::Idle(cpu));
        self.end_cpu_if_asked();
        Wake::default()
    }

    fn mask_interrupts(&self) {}

    fn halt(&self) -> ! {
        self.record(Event::Halt(self.current_cpu()));
        resume_unwind(Box::new(Halted))
    }

    fn power_off(&self) -> ! {
        let twice = self.position(&Event::PowerOff).is_some();
        self.record(Event::PowerOff);
        assert!(!twice, "fake: powered off twice");
        resume_unwind(Box::new(PoweredOff))
    }

    fn now_micros(&self) -> Option<u64> {
        Some(self.started.elapsed().as_micros() as u64)
    }

    fn log_enter(&self) -> usize {
        0
    }

    fn log_exit(&self, _saved: usize) {}

    fn console_uart(&self) -> FakeConsole {
        FakeConsole(Arc::clone(&self.state))
    }

    fn locks_usable(&self) -> bool {
        !self.state().locks_unusable
    }

    fn route_console_input(&self, cpu: Option<usize>) {
        self.record(Event::RouteInput(cpu));
    }

    fn console_input_served(&self) {
        self.record(Event::InputServed);
    }

    fn virtual_uart_base(&self) -> u64 {
        UART_BASE
    }

    fn virtual_uart_line(&self, cell: &'static CellDesc, level: bool) {
        self.record(Event::UartLine {
            cell: cell.id.index(),
            level,
        });
    }

    fn load_segment(&self, host: u64, data: &[u8], zeros: u64) {
        self.write_memory(host, data);
        self.with_memory(host + data.len() as u64, zeros as usize, |ram| ram.fill(0));
    }

    fn read_cell_memory(&self, host: u64, buf: &mut [u8]) {
        self.with_memory(host, buf.len(), |ram| buf.copy_from_slice(ram));
    }

    fn prepare_cell_start(&self, cell: &'static CellDesc) {
        self.record(Event::PrepareStart(cell.id.index()));
    }

    fn reset_cell_devices(&self, cell: &'static CellDesc) {
        self.record(Event::ResetDevices(cell.id.index()));
    }

    fn delivered(&self, cell: usize, kind: usize) -> u64 {
        self.state()
            .delivered
            .get(&(cell, kind))
            .copied()
            .unwrap_or(0)
    }

    fn run_vcpu(&self, cpu: usize, cell: &'static CellDesc, vcpu: usize, start: Start) {
        self.record(Event::RunVcpu {
            cpu,
            cell: cell.id.index(),
            vcpu,
            entry: start.entry,
            context: start.context,
        });
    }

    fn firmware_call(&self, function_id: u32, args: [u64; 3]) -> [u64; 4] {
        self.record(Event::FirmwareCall(function_id, args));
        [u64::MAX, 0, 0, 0]
    }

    fn init_boot_cpu(&self, cpu: usize, print: Print<'_>) {
        print(format_args!("fake boot cpu {cpu}"));
    }

    fn start_secondaries(&self, _cpu: usize, _print: Print<'_>) -> u64 {
        self.state().online
    }

    fn online_cpus(&self) -> u64 {
        self.state().online
    }

    fn build_cell_maps(&self) {
        self.record(Event::BuildCellMaps);
    }

    fn panic_selftest(&self, _print: Print<'_>) -> ! {
        panic!("fake: panic-selftest")
    }
}

impl TestHv {
    /// A hypervisor over `arch`.
    pub(crate) fn over(arch: FakeArch) -> Self {
        let names = leak(arch.tables.cells.iter().map(|c| c.name).collect());
        Hypervisor::new(arch, names)
    }

    /// Output written by `cell`'s guest.
    pub(crate) fn output_from_cell(&self, cell: usize, bytes: &[u8]) {
        self.console_output(cell, bytes);
    }

    /// A copy of `cell`'s virtual UART.
    pub(crate) fn virtual_uart_state(&self, cell: usize) -> FakeUart {
        self.consoles.uarts[cell].lock().clone()
    }
}
