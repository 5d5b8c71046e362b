//! `bench`: deterministic cost figures, in a Bulkhead cell or directly on
//! QEMU (EL1, QEMU's own PSCI), meant to run under `-icount shift=0`.
//!
//! Under `-icount shift=0` QEMU's virtual clock advances 1 ns per executed
//! instruction (the hypervisor's too, in a cell) and CNTVCT_EL0 ticks at
//! 62.5 MHz, so one counter tick is 16 instructions and every figure is the
//! same on every run. Each figure is one line, in this order:
//!
//! * `bench: <figure> ticks=<T> n=<N>`: `T` counter ticks over `N`
//!   repetitions, for `first_instruction` (the counter at `_start`),
//!   `gic_setup`, `null_call` (PSCI_VERSION), `mmio_read` (the console
//!   UART's flag register), `timer_latency` (deadline to the IRQ handler's
//!   first instruction), `sgi_latency` (vCPU 0's send to vCPU 1's handler),
//!   `device_latency` (PL031 alarm due time to the handler), `compute`
//!   (with `check=<hex>`) and `memory_walk`;
//! * `bench: device_latency error=<why>` instead when an RTC alarm does
//!   not come within a second of when QEMU's PL031 makes it due;
//! * `bench: idle_exits exits=<E> seconds=1` and
//!   `bench: tick_exits exits=<E> ticks=<K> seconds=1`: the cell's exits
//!   (all causes, both vCPUs) during one second of WFI, without and with a
//!   1 kHz timer tick (`exits=n/a` without the hypervisor);
//!
//! then `bench: done`, and it powers off (`SYSTEM_OFF`).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use core::hint::black_box;
    use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

    use rt::{gic, println, timer};

    rt::entry!(main, secondary);

    const TIMER_PPI: u64 = 27;
    /// vCPU 0 -> vCPU 1: the SGI whose latency is measured.
    const PING: u64 = 1;
    /// vCPU 1 -> vCPU 0: "I have published"; only wakes vCPU 0's WFI.
    const WAKE: u64 = 2;
    const RTC: u64 = 0x0901_0000;
    const RTC_INTID: u64 = 34;
    /// The console PL011's flag register (UARTFR).
    const UART_FR: u64 = 0x0900_0018;
    /// Guest RAM `memory_walk` uses: past the image (which starts at
    /// 0x4020_0000 and is far smaller than 6 MiB), inside the cell's 16 MiB.
    const WALK_BASE: u64 = 0x4080_0000;
    const WALK_SIZE: u64 = 8 << 20;
    const WALK_STRIDE: u64 = 64;

    const NULL_CALLS: u64 = 1000;
    const MMIO_READS: u64 = 1000;
    const TIMER_SAMPLES: u64 = 100;
    const TIMER_DELAY: u64 = 10_000;
    const SGI_SAMPLES: u64 = 100;
    const ALARMS: u64 = 3;
    const TICK_HZ: u64 = 1000;

    /// What a virtual-timer interrupt means to the handler.
    const MODE_ONE_SHOT: u8 = 0;
    const MODE_TICK: u8 = 1;
    static TIMER_MODE: AtomicU8 = AtomicU8::new(MODE_ONE_SHOT);
    /// One-shot: the handler's counter, and that it fired.
    static TIMER_AT: AtomicU64 = AtomicU64::new(0);
    static TIMER_FIRED: AtomicBool = AtomicBool::new(false);
    /// Tick: delivered ticks and the period.
    static TICKS: AtomicU64 = AtomicU64::new(0);
    static PERIOD: AtomicU64 = AtomicU64::new(0);
    /// SGI: vCPU 1's handler counter and its flag; vCPU 0 saw the WAKE.
    static SGI_AT: AtomicU64 = AtomicU64::new(0);
    static SGI_PUBLISHED: AtomicBool = AtomicBool::new(false);
    static WOKEN: AtomicBool = AtomicBool::new(false);
    static PARTNER_READY: AtomicBool = AtomicBool::new(false);
    /// RTC: the handler's counter and that the alarm came.
    static ALARM_AT: AtomicU64 = AtomicU64::new(0);
    static ALARM_SEEN: AtomicBool = AtomicBool::new(false);
    /// Interrupts nobody asked for.
    static OTHER: AtomicU64 = AtomicU64::new(0);

    fn rtc(offset: u64) -> *mut u32 {
        (RTC + offset) as *mut u32
    }

    fn rtc_read(offset: u64) -> u32 {
        // SAFETY: a PL031 register (the cell's own, passed through; QEMU's
        // bare); 32-bit reads have no side effects.
        unsafe { rtc(offset).read_volatile() }
    }

    fn rtc_write(offset: u64, value: u32) {
        // SAFETY: a PL031 register; RTCMR (0x4), RTCCR (0xc), RTCIMSC
        // (0x10) and RTCICR (0x1c) only affect the RTC and its interrupt.
        unsafe { rtc(offset).write_volatile(value) };
    }

    /// Without the hypervisor (set before vCPU 1 starts).
    static BARE: AtomicBool = AtomicBool::new(false);

    /// Without the hypervisor only, what QEMU's GIC reset leaves undone for
    /// rt's bring-up (a cell's virtual GIC has it done already): on a GICv3
    /// (no security extensions) every interrupt resets to group 0, which
    /// rt's group-1 setup never signals, so this vCPU's SGIs/PPIs
    /// (GICR_IGROUPR0) and, on vCPU 0, INTIDs 32..63 (GICD_IGROUPR1) become
    /// group 1; on a GICv2 (group 0 is an IRQ once rt sets
    /// GICC_CTLR.EnableGrp0) the RTC's SPI targets no CPU until vCPU 0 is
    /// set in its GICD_ITARGETSR byte.
    fn bare_gic_setup() {
        const GICR_SGI_FRAME: u64 = 0x080b_0000;
        const GICR_STRIDE: u64 = 0x2_0000;
        if !BARE.load(Ordering::Relaxed) {
            return;
        }
        let vcpu = rt::vcpu_index() as u64;
        if !gic::is_v3() {
            if vcpu == 0 {
                // GICD_ITARGETSR8: INTIDs 32..35, one byte each.
                let shift = (RTC_INTID % 4) * 8;
                gic::write_distributor(0x800 + RTC_INTID / 4 * 4, 1 << shift);
            }
            return;
        }
        let igroupr0 = GICR_SGI_FRAME + vcpu * GICR_STRIDE + 0x80;
        // SAFETY: this vCPU's redistributor GICR_IGROUPR0 (QEMU's GICv3): a
        // 32-bit store only regroups its private interrupts.
        unsafe { (igroupr0 as *mut u32).write_volatile(u32::MAX) };
        if vcpu == 0 {
            gic::write_distributor(0x84, u32::MAX);
        }
    }

    /// The IRQ handler of both vCPUs.
    fn irq() {
        // The first statement: latencies end here.
        let now = rt::counter();
        let iar = gic::acknowledge();
        match gic::intid(iar) {
            TIMER_PPI => {
                if TIMER_MODE.load(Ordering::Relaxed) == MODE_TICK {
                    rt::bump(&TICKS);
                    timer::advance(PERIOD.load(Ordering::Relaxed));
                } else {
                    timer::stop();
                    TIMER_AT.store(now, Ordering::Relaxed);
                    TIMER_FIRED.store(true, Ordering::Release);
                }
            }
            PING => {
                SGI_AT.store(now, Ordering::Relaxed);
                SGI_PUBLISHED.store(true, Ordering::Release);
                gic::send_sgi(WAKE, 0);
            }
            WAKE => WOKEN.store(true, Ordering::Release),
            RTC_INTID => {
                // Mask and clear: the line is level-triggered.
                rtc_write(0x10, 0);
                rtc_write(0x1c, 1);
                ALARM_AT.store(now, Ordering::Relaxed);
                ALARM_SEEN.store(true, Ordering::Release);
            }
            _ => {
                rt::bump(&OTHER);
            }
        }
        gic::end(iar);
    }

    /// Waits with WFI until `done()`, IRQs masked around the check so an
    /// interrupt that sets the flag cannot slip in between the check and the
    /// WFI (a pending interrupt wakes WFI even while masked; unmasking then
    /// takes it).
    fn wait_until(done: impl Fn() -> bool) {
        gic::mask_irqs();
        while !done() {
            timer::wait_for_interrupt();
            gic::unmask_irqs();
            gic::mask_irqs();
        }
    }

    /// One-shot timer at `deadline`; returns the handler's counter.
    fn timer_at(deadline: u64) -> u64 {
        TIMER_MODE.store(MODE_ONE_SHOT, Ordering::Relaxed);
        TIMER_FIRED.store(false, Ordering::Relaxed);
        timer::arm_at(deadline);
        gic::unmask_irqs();
        while !TIMER_FIRED.load(Ordering::Acquire) {
            timer::wait_for_interrupt();
        }
        gic::mask_irqs();
        TIMER_AT.load(Ordering::Relaxed)
    }

    /// The sum of the cell's exit counters (indices 0..=13, every cause);
    /// 0 without the hypervisor.
    fn exits() -> u64 {
        (0..14).map(|i| rt::cell_counter(i).unwrap_or(0)).sum()
    }

    fn main() -> ! {
        let entry = rt::entry_counter();
        println!("bench: first_instruction ticks={entry} n=1");
        let in_cell = rt::cell_info().is_some();
        BARE.store(!in_cell, Ordering::Relaxed);
        // Outside the measured bring-up: a cell does not need it.
        bare_gic_setup();

        let start = rt::counter();
        gic::init_distributor();
        gic::init_cpu(1 << TIMER_PPI | 1 << WAKE);
        gic::enable_spi(RTC_INTID, 0x80);
        let ticks = rt::counter() - start;
        println!("bench: gic_setup ticks={ticks} n=1");
        rt::set_irq_handler(irq);
        let freq = rt::counter_freq();

        let start = rt::counter();
        for _ in 0..NULL_CALLS {
            black_box(rt::psci_version());
        }
        let ticks = rt::counter() - start;
        println!("bench: null_call ticks={ticks} n={NULL_CALLS}");

        let start = rt::counter();
        for _ in 0..MMIO_READS {
            // SAFETY: the console PL011's flag register: reading it has no
            // side effects.
            black_box(unsafe { (UART_FR as *const u32).read_volatile() });
        }
        let ticks = rt::counter() - start;
        println!("bench: mmio_read ticks={ticks} n={MMIO_READS}");

        let mut ticks = 0;
        for _ in 0..TIMER_SAMPLES {
            let deadline = rt::counter() + TIMER_DELAY;
            ticks += timer_at(deadline) - deadline;
        }
        println!("bench: timer_latency ticks={ticks} n={TIMER_SAMPLES}");

        sgi_latency();
        device_latency(freq);
        idle_exits(in_cell, freq);
        tick_exits(in_cell, freq);

        let start = rt::counter();
        let check = work::run(black_box(work::SEED));
        let ticks = rt::counter() - start;
        println!("bench: compute ticks={ticks} n=1 check={check:08x}");

        let start = rt::counter();
        black_box(memory_walk());
        let ticks = rt::counter() - start;
        println!("bench: memory_walk ticks={ticks} n=1");

        let other = OTHER.load(Ordering::Relaxed);
        if other != 0 {
            println!("bench: {other} unexpected interrupts");
        }
        println!("bench: done");
        rt::system_off();
        rt::park()
    }

    fn sgi_latency() {
        let status = rt::start_vcpu(1, 0);
        if status != rt::psci::SUCCESS {
            println!("bench: sgi_latency error=CPU_ON vcpu 1 -> {status}");
            return;
        }
        // vCPU 1 says it is ready with a WAKE: take that one first.
        wait_until(|| WOKEN.load(Ordering::Acquire) && PARTNER_READY.load(Ordering::Acquire));
        let mut ticks = 0;
        for _ in 0..SGI_SAMPLES {
            SGI_PUBLISHED.store(false, Ordering::Relaxed);
            WOKEN.store(false, Ordering::Relaxed);
            let sent = rt::counter();
            gic::send_sgi(PING, 1);
            // vCPU 1 publishes, then wakes us with WAKE: waiting for the
            // WAKE to be taken leaves none pending for the next round.
            wait_until(|| WOKEN.load(Ordering::Acquire));
            if !SGI_PUBLISHED.load(Ordering::Acquire) {
                println!("bench: sgi_latency error=woken before vcpu 1 published");
                return;
            }
            ticks += SGI_AT.load(Ordering::Relaxed) - sent;
        }
        println!("bench: sgi_latency ticks={ticks} n={SGI_SAMPLES}");
    }

    /// The RTC alarm, from the moment it is due to the handler. QEMU's PL031
    /// (`pl031_set_alarm`, QEMU 7.2) schedules the alarm at the time of the
    /// RTCMR write plus (RTCMR - RTCDR) seconds on the virtual clock, so
    /// with RTCMR = RTCDR + 1 it is due one second (`freq` ticks) after the
    /// write; the counter is read right after the write (the device is
    /// passed through, the write does not trap), which can only make the
    /// figure a few instructions smaller than the truth.
    fn device_latency(freq: u64) {
        rtc_write(0xc, 1); // RTCCR: start (QEMU's always counts)
        let mut total = 0i64;
        for _ in 0..ALARMS {
            ALARM_SEEN.store(false, Ordering::Relaxed);
            rtc_write(0x1c, 1);
            let second = rtc_read(0x0);
            rtc_write(0x4, second.wrapping_add(1));
            let written_at = rt::counter();
            rtc_write(0x10, 1);
            wait_until(|| ALARM_SEEN.load(Ordering::Acquire));
            let at = ALARM_AT.load(Ordering::Relaxed) as i64;
            let latency = at - (written_at + freq) as i64;
            if !(0..freq as i64).contains(&latency) {
                println!(
                    "bench: device_latency error=alarm {latency} ticks from its due time, outside 0..1 s"
                );
                return;
            }
            total += latency;
        }
        println!("bench: device_latency ticks={total} n={ALARMS}");
    }

    fn idle_exits(in_cell: bool, freq: u64) {
        if !in_cell {
            println!("bench: idle_exits exits=n/a");
            return;
        }
        // What taking the exit sums itself costs (hypercalls), measured
        // back to back and subtracted below.
        let first = exits();
        let overhead = exits() - first;
        let before = exits();
        // Nothing enabled but one timer deadline, a second away, to end it.
        timer_at(rt::counter() + freq);
        let exits = exits() - before - overhead;
        println!("bench: idle_exits exits={exits} seconds=1");
    }

    fn tick_exits(in_cell: bool, freq: u64) {
        if !in_cell {
            println!("bench: tick_exits exits=n/a");
            return;
        }
        let first = exits();
        let overhead = exits() - first;
        let period = freq / TICK_HZ;
        PERIOD.store(period, Ordering::Relaxed);
        TICKS.store(0, Ordering::Relaxed);
        TIMER_MODE.store(MODE_TICK, Ordering::Relaxed);
        let before = exits();
        let start = rt::counter();
        let end = start + freq;
        timer::arm_at(start + period);
        gic::unmask_irqs();
        while rt::counter() < end {
            timer::wait_for_interrupt();
        }
        gic::mask_irqs();
        timer::stop();
        let exits = exits() - before - overhead;
        let ticks = TICKS.load(Ordering::Relaxed);
        TIMER_MODE.store(MODE_ONE_SHOT, Ordering::Relaxed);
        println!("bench: tick_exits exits={exits} ticks={ticks} seconds=1");
    }

    /// Writes then sums one word every [`WALK_STRIDE`] bytes of
    /// [`WALK_SIZE`] bytes of RAM from [`WALK_BASE`].
    fn memory_walk() -> u64 {
        let words = WALK_SIZE / WALK_STRIDE;
        for i in 0..words {
            let address = WALK_BASE + i * WALK_STRIDE;
            // SAFETY: RAM this guest owns and nothing else uses (past the
            // image and its stacks, inside the cell's RAM or QEMU's); the
            // address is 8-byte aligned.
            unsafe { (address as *mut u64).write_volatile(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)) };
        }
        let mut sum = 0u64;
        for i in 0..words {
            let address = WALK_BASE + i * WALK_STRIDE;
            // SAFETY: as above; written by the loop before.
            sum = sum.wrapping_add(unsafe { (address as *const u64).read_volatile() });
        }
        sum
    }

    fn secondary(_: u64) -> ! {
        bare_gic_setup();
        gic::init_cpu(1 << PING);
        gic::mask_irqs();
        PARTNER_READY.store(true, Ordering::Release);
        gic::send_sgi(WAKE, 0);
        gic::unmask_irqs();
        loop {
            timer::wait_for_interrupt();
        }
    }

    /// A CoreMark-like fixed workload: linked-list, matrix, state-machine
    /// and CRC kernels, folded into one checksum.
    mod work {
        pub(super) const SEED: u32 = 0x3415;
        const ITERATIONS: u32 = 1000;
        const NODES: usize = 64;
        const NIL: u8 = u8::MAX;
        const N: usize = 10;
        const TEXT: usize = 160;

        fn crc16(mut crc: u16, data: u16) -> u16 {
            for bit in 0..16 {
                let x = ((data >> bit) ^ crc) & 1;
                crc >>= 1;
                if x != 0 {
                    crc ^= 0xa001;
                }
            }
            crc
        }

        fn lcg(state: &mut u32) -> u32 {
            *state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            *state >> 8
        }

        /// An index-linked list in two arrays: fill, sort (insertion),
        /// reverse, search.
        fn list(seed: &mut u32, mut crc: u16) -> u16 {
            let mut data = [0u16; NODES];
            let mut next = [NIL; NODES];
            for value in data.iter_mut() {
                *value = lcg(seed) as u16;
            }
            // Insertion sort, node by node, into a new list.
            let mut head = NIL;
            for node in 0..NODES as u8 {
                let value = data[usize::from(node)];
                if head == NIL || value <= data[usize::from(head)] {
                    next[usize::from(node)] = head;
                    head = node;
                    continue;
                }
                let mut at = head;
                while next[usize::from(at)] != NIL
                    && data[usize::from(next[usize::from(at)])] < value
                {
                    at = next[usize::from(at)];
                }
                next[usize::from(node)] = next[usize::from(at)];
                next[usize::from(at)] = node;
            }
            // Reverse.
            let mut reversed = NIL;
            while head != NIL {
                let following = next[usize::from(head)];
                next[usize::from(head)] = reversed;
                reversed = head;
                head = following;
            }
            // Fold in order, and find the position of a value.
            let wanted = data[(*seed as usize) % NODES];
            let mut at = reversed;
            let mut position = 0u16;
            let mut found = u16::MAX;
            while at != NIL {
                crc = crc16(crc, data[usize::from(at)]);
                if found == u16::MAX && data[usize::from(at)] == wanted {
                    found = position;
                }
                position += 1;
                at = next[usize::from(at)];
            }
            crc16(crc, found)
        }

        /// `C = A * B + k` on small integer matrices (B held transposed),
        /// folded by rows.
        fn matrix(seed: &mut u32, mut crc: u16) -> u16 {
            let mut a = [[0i32; N]; N];
            let mut b_columns = [[0i32; N]; N];
            for (row, column) in a.iter_mut().zip(b_columns.iter_mut()) {
                for (x, y) in row.iter_mut().zip(column.iter_mut()) {
                    *x = (lcg(seed) & 0xff) as i32 - 128;
                    *y = (lcg(seed) & 0xff) as i32 - 128;
                }
            }
            let k = (lcg(seed) & 0xf) as i32;
            for row in a.iter() {
                let mut fold = 0i32;
                for (col, column) in b_columns.iter().enumerate() {
                    let sum = row
                        .iter()
                        .zip(column.iter())
                        .fold(k, |sum, (x, y)| sum.wrapping_add(x.wrapping_mul(*y)));
                    fold = fold.wrapping_add(sum ^ (col as i32));
                }
                crc = crc16(crc, fold as u16);
                crc = crc16(crc, (fold >> 16) as u16);
            }
            crc
        }

        /// Classifies comma-separated tokens (integer, decimal, scientific,
        /// invalid) of a generated text with a state machine.
        fn state_machine(seed: &mut u32, mut crc: u16) -> u16 {
            const ALPHABET: &[u8; 16] = b"0123456789.e-,,x";
            let mut text = [0u8; TEXT];
            for byte in text.iter_mut() {
                *byte = ALPHABET[(lcg(seed) & 0xf) as usize];
            }
            #[derive(Clone, Copy, PartialEq)]
            enum State {
                Start,
                Sign,
                Int,
                Frac,
                Exp,
                ExpDigits,
                Invalid,
            }
            let mut counts = [0u16; 7];
            let mut state = State::Start;
            for &byte in text.iter() {
                state = match (state, byte) {
                    (_, b',') => {
                        counts[state as usize] += 1;
                        State::Start
                    }
                    (State::Start, b'-') => State::Sign,
                    (State::Start | State::Sign | State::Int, b'0'..=b'9') => State::Int,
                    (State::Int, b'.') => State::Frac,
                    (State::Frac, b'0'..=b'9') => State::Frac,
                    (State::Int | State::Frac, b'e') => State::Exp,
                    (State::Exp, b'-') | (State::Exp | State::ExpDigits, b'0'..=b'9') => {
                        State::ExpDigits
                    }
                    _ => State::Invalid,
                };
            }
            counts[state as usize] += 1;
            for count in counts {
                crc = crc16(crc, count);
            }
            crc
        }

        /// The whole workload: `ITERATIONS` rounds of every kernel.
        pub(super) fn run(seed: u32) -> u32 {
            let mut state = seed;
            let (mut list_crc, mut matrix_crc, mut state_crc) = (0u16, 0u16, 0u16);
            for _ in 0..ITERATIONS {
                list_crc = list(&mut state, list_crc);
                matrix_crc = matrix(&mut state, matrix_crc);
                state_crc = state_machine(&mut state, state_crc);
            }
            (u32::from(crc16(list_crc, matrix_crc)) << 16) | u32::from(crc16(state_crc, list_crc))
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("guest-bench is a bare-metal guest: `cargo xtask build` builds it for its cell");
}
