//! `entropy`: a passthrough virtio-mmio device and its interrupt.
//!
//! The cell owns QEMU virt's virtio-mmio transports (platform device
//! `virtio-mmio`, INTIDs 48..79). `cargo xtask run` adds a
//! `virtio-rng-device`, which QEMU puts in the last transport slot:
//! registers at 0x0a00_3e00, interrupt SPI 31 = INTID 79. QEMU's transport
//! is the legacy (version 1) one by default.
//!
//! The guest checks the slot (magic, version, device id 4 = entropy), sets
//! the device up as a legacy driver would (no features, one queue of
//! [`QUEUE_SIZE`] entries in a 4 KiB-aligned static buffer) and makes three
//! requests one after another, each one device-writable descriptor of
//! [`REQUEST_BYTES`] bytes. After each it sleeps in WFI until the device's
//! interrupt has been counted and the used ring has advanced (at most
//! [`TIMEOUT_S`] s of counter time; the virtual timer wakes it if nothing
//! else does), then prints
//! `entropy: request N: L bytes, interrupt`. At the end it prints
//! `entropy: R requests, I interrupts, O other` and powers the cell off.
//!
//! # DMA addresses
//!
//! The device does DMA with host-physical addresses: there is no IOMMU,
//! and the cell's stage-2 translation does not apply to it. The configs
//! (`tests/configs/qemu/entropy*.toml`) back the cell's RAM at
//! gpa 0x4000_0000 with hpa 0x4100_0000, so every address handed to the
//! device is the guest-physical one plus [`DMA_OFFSET`] (the config's
//! `hpa - gpa`). A passthrough DMA device without an IOMMU can reach all of
//! host memory; that is a known limit, and this test is about the
//! interrupt path.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use core::arch::asm;
    use core::sync::atomic::{AtomicU64, Ordering};

    use rt::{gic, println, timer};

    rt::entry!(main);

    /// The virtio-mmio slot QEMU gives its first virtio-mmio device.
    const VIRTIO: u64 = 0x0a00_3e00;
    /// Its interrupt: SPI 31.
    const VIRTIO_INTID: u64 = 79;
    /// The virtual timer's PPI (only armed as a timeout).
    const TIMER_PPI: u64 = 27;

    /// Host-physical minus guest-physical address of the cell's RAM, as
    /// the config maps it (gpa 0x4000_0000 -> hpa 0x4100_0000): the device
    /// sees host-physical addresses (no IOMMU).
    const DMA_OFFSET: u64 = 0x0100_0000;

    // Legacy virtio-mmio registers (virtio 1.0 spec, 4.2.4).
    const MAGIC_VALUE: u64 = 0x000;
    const VERSION: u64 = 0x004;
    const DEVICE_ID: u64 = 0x008;
    const HOST_FEATURES: u64 = 0x010;
    const HOST_FEATURES_SEL: u64 = 0x014;
    const GUEST_FEATURES: u64 = 0x020;
    const GUEST_FEATURES_SEL: u64 = 0x024;
    const GUEST_PAGE_SIZE: u64 = 0x028;
    const QUEUE_SEL: u64 = 0x030;
    const QUEUE_NUM_MAX: u64 = 0x034;
    const QUEUE_NUM: u64 = 0x038;
    const QUEUE_ALIGN: u64 = 0x03c;
    const QUEUE_PFN: u64 = 0x040;
    const QUEUE_NOTIFY: u64 = 0x050;
    const INTERRUPT_STATUS: u64 = 0x060;
    const INTERRUPT_ACK: u64 = 0x064;
    const STATUS: u64 = 0x070;

    /// "virt", little-endian.
    const MAGIC: u32 = 0x7472_6976;
    const ENTROPY_DEVICE: u32 = 4;

    const STATUS_ACKNOWLEDGE: u32 = 1;
    const STATUS_DRIVER: u32 = 2;
    const STATUS_DRIVER_OK: u32 = 4;
    const STATUS_FAILED: u32 = 128;

    const PAGE: u64 = 4096;
    /// Entries in queue 0.
    const QUEUE_SIZE: u64 = 8;
    /// Bytes each request asks for.
    const REQUEST_BYTES: u32 = 16;
    const REQUESTS: u64 = 3;
    const TIMEOUT_S: u64 = 10;

    /// `VIRTQ_DESC_F_WRITE`: the device writes this buffer.
    const DESC_F_WRITE: u16 = 2;

    // Layout of the queue memory (offsets from its start). Legacy split
    // virtqueue: descriptors (16 bytes each), then the available ring
    // (flags, idx, ring[QUEUE_SIZE], used_event; u16 each), then, at the
    // next QueueAlign (one page) boundary, the used ring (flags u16,
    // idx u16, ring[QUEUE_SIZE] of {id u32, len u32}, avail_event u16).
    // The request buffer has the third page.
    const DESC: u64 = 0;
    const AVAIL: u64 = DESC + 16 * QUEUE_SIZE;
    const USED: u64 = PAGE;
    const BUFFER: u64 = 2 * PAGE;
    const _: () = assert!(AVAIL + 2 * (3 + QUEUE_SIZE) <= USED);
    const _: () = assert!(USED + 4 + 8 * QUEUE_SIZE + 2 <= BUFFER);

    /// The queue and the request buffer, in the cell's RAM (`.bss`), page
    /// aligned as legacy QueuePFN needs. Only reached through raw pointers
    /// with volatile accesses (the MMU is off: Device-nGnRnE).
    #[repr(C, align(4096))]
    struct QueueMemory([u8; 3 * PAGE as usize]);

    static mut QUEUE: QueueMemory = QueueMemory([0; 3 * PAGE as usize]);

    static DEVICE_IRQS: AtomicU64 = AtomicU64::new(0);
    static TIMEOUT_IRQS: AtomicU64 = AtomicU64::new(0);
    static OTHER: AtomicU64 = AtomicU64::new(0);

    fn read_reg(offset: u64) -> u32 {
        // SAFETY: a register of the cell's own (passed-through) virtio-mmio
        // transport; 32-bit accesses are what the transport defines.
        unsafe { ((VIRTIO + offset) as *const u32).read_volatile() }
    }

    fn write_reg(offset: u64, value: u32) {
        // SAFETY: as in `read_reg`.
        unsafe { ((VIRTIO + offset) as *mut u32).write_volatile(value) };
    }

    /// Guest-physical address of `offset` in the queue memory.
    fn queue_gpa(offset: u64) -> u64 {
        (&raw mut QUEUE) as u64 + offset
    }

    /// The address the device uses for `offset` in the queue memory.
    fn queue_dma(offset: u64) -> u64 {
        queue_gpa(offset) + DMA_OFFSET
    }

    fn write16(offset: u64, value: u16) {
        debug_assert!(offset.is_multiple_of(2) && offset + 2 <= 3 * PAGE);
        // SAFETY: an aligned u16 inside `QUEUE`, which only this vCPU's
        // main loop (and the device) touch.
        unsafe { (queue_gpa(offset) as *mut u16).write_volatile(value) };
    }

    fn write32(offset: u64, value: u32) {
        debug_assert!(offset.is_multiple_of(4) && offset + 4 <= 3 * PAGE);
        // SAFETY: as in `write16`, an aligned u32.
        unsafe { (queue_gpa(offset) as *mut u32).write_volatile(value) };
    }

    fn write64(offset: u64, value: u64) {
        debug_assert!(offset.is_multiple_of(8) && offset + 8 <= 3 * PAGE);
        // SAFETY: as in `write16`, an aligned u64.
        unsafe { (queue_gpa(offset) as *mut u64).write_volatile(value) };
    }

    fn read16(offset: u64) -> u16 {
        debug_assert!(offset.is_multiple_of(2) && offset + 2 <= 3 * PAGE);
        // SAFETY: as in `write16`.
        unsafe { (queue_gpa(offset) as *const u16).read_volatile() }
    }

    fn read32(offset: u64) -> u32 {
        debug_assert!(offset.is_multiple_of(4) && offset + 4 <= 3 * PAGE);
        // SAFETY: as in `write32`.
        unsafe { (queue_gpa(offset) as *const u32).read_volatile() }
    }

    fn read64(offset: u64) -> u64 {
        debug_assert!(offset.is_multiple_of(8) && offset + 8 <= 3 * PAGE);
        // SAFETY: as in `write64`.
        unsafe { (queue_gpa(offset) as *const u64).read_volatile() }
    }

    /// Orders this vCPU's memory accesses against the device's (full
    /// system barrier).
    fn barrier() {
        // SAFETY: a barrier only orders memory accesses.
        unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
    }

    fn irq() {
        let iar = gic::acknowledge();
        match gic::intid(iar) {
            VIRTIO_INTID => {
                // Level-triggered: acknowledging every cause in
                // InterruptStatus lowers the line before the EOI.
                let status = read_reg(INTERRUPT_STATUS);
                write_reg(INTERRUPT_ACK, status);
                rt::bump(&DEVICE_IRQS);
            }
            TIMER_PPI => {
                timer::stop();
                rt::bump(&TIMEOUT_IRQS);
            }
            // Spurious (nothing to end).
            1020..=1023 => return,
            _ => {
                rt::bump(&OTHER);
            }
        }
        gic::end(iar);
    }

    /// Reports `why`, marks the device FAILED and powers the cell off.
    fn give_up(why: core::fmt::Arguments<'_>) -> ! {
        println!("entropy: {why}");
        write_reg(STATUS, read_reg(STATUS) | STATUS_FAILED);
        rt::system_off();
        rt::park()
    }

    /// Checks the slot and sets up the device and queue 0.
    fn init_device() {
        let magic = read_reg(MAGIC_VALUE);
        let version = read_reg(VERSION);
        let device = read_reg(DEVICE_ID);
        if magic != MAGIC {
            println!("entropy: no virtio-mmio transport at {VIRTIO:#010x} (magic {magic:#010x})");
            rt::system_off();
            rt::park();
        }
        if device != ENTROPY_DEVICE {
            println!(
                "entropy: no virtio-rng at {VIRTIO:#010x} (version {version}, device {device})"
            );
            rt::system_off();
            rt::park();
        }
        if version != 1 {
            println!(
                "entropy: virtio-rng at {VIRTIO:#010x} is not legacy (version {version}, device {device})"
            );
            rt::system_off();
            rt::park();
        }
        println!("entropy: virtio-rng at {VIRTIO:#010x} (version {version}, device {device})");

        write_reg(STATUS, 0);
        write_reg(STATUS, STATUS_ACKNOWLEDGE);
        write_reg(STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        // virtio-rng needs no feature; accept none.
        write_reg(HOST_FEATURES_SEL, 0);
        let _offered = read_reg(HOST_FEATURES);
        write_reg(GUEST_FEATURES_SEL, 0);
        write_reg(GUEST_FEATURES, 0);
        write_reg(GUEST_PAGE_SIZE, PAGE as u32);

        write_reg(QUEUE_SEL, 0);
        let pfn = read_reg(QUEUE_PFN);
        if pfn != 0 {
            give_up(format_args!("queue 0 already in use (pfn {pfn:#x})"));
        }
        let max = u64::from(read_reg(QUEUE_NUM_MAX));
        if max < QUEUE_SIZE {
            give_up(format_args!(
                "queue 0 holds {max} entries, {QUEUE_SIZE} needed"
            ));
        }
        // A clean queue (`.bss` already is; a restarted cell may not be).
        let mut offset = 0;
        while offset < BUFFER {
            write64(offset, 0);
            offset += 8;
        }
        barrier();
        write_reg(QUEUE_NUM, QUEUE_SIZE as u32);
        write_reg(QUEUE_ALIGN, PAGE as u32);
        write_reg(QUEUE_PFN, (queue_dma(0) / PAGE) as u32);
        write_reg(
            STATUS,
            STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK,
        );
    }

    /// Sleeps until `done` holds or the counter passes `deadline`. IRQs are
    /// masked while `done` is checked, so an interrupt between the check
    /// and the WFI is not lost: WFI wakes on a pending interrupt even when
    /// masked, and the brief unmask takes it.
    fn wait_until(done: impl Fn() -> bool, deadline: u64) -> bool {
        timer::arm_at(deadline);
        let result = loop {
            gic::mask_irqs();
            if done() {
                break true;
            }
            if rt::counter() >= deadline {
                break false;
            }
            timer::wait_for_interrupt();
            gic::unmask_irqs();
            // SAFETY: a context synchronisation, so the pending interrupt
            // is taken before IRQs are masked again.
            unsafe { asm!("isb", options(nostack, preserves_flags)) };
        };
        timer::stop();
        gic::unmask_irqs();
        result
    }

    /// Makes request `n` (1-based) and waits for it; the used length or
    /// `None` on a timeout.
    fn request(n: u64) -> Option<u32> {
        let slot = (n - 1) % QUEUE_SIZE;
        write64(BUFFER, 0);
        write64(BUFFER + 8, 0);
        // Descriptor 0: the whole buffer, device-writable.
        write64(DESC, queue_dma(BUFFER));
        write32(DESC + 8, REQUEST_BYTES);
        write16(DESC + 12, DESC_F_WRITE);
        write16(DESC + 14, 0);
        // avail.ring[slot] = descriptor 0, then (ordered after it) idx.
        write16(AVAIL + 4 + 2 * slot, 0);
        barrier();
        write16(AVAIL + 2, n as u16);
        barrier();
        // Read before the notify: the interrupt may come at once.
        let interrupts_before = DEVICE_IRQS.load(Ordering::Relaxed);
        write_reg(QUEUE_NOTIFY, 0);

        let deadline = rt::counter() + TIMEOUT_S * rt::counter_freq();
        let done = || {
            DEVICE_IRQS.load(Ordering::Relaxed) > interrupts_before && read16(USED + 2) == n as u16
        };
        if !wait_until(done, deadline) {
            return None;
        }
        barrier();
        let id = read32(USED + 4 + 8 * slot);
        let len = read32(USED + 4 + 8 * slot + 4);
        if id != 0 {
            println!("entropy: request {n}: used element names descriptor {id}, not 0");
        }
        if len > 0 && read64(BUFFER) == 0 && read64(BUFFER + 8) == 0 {
            println!("entropy: request {n}: buffer still all zero");
        }
        Some(len)
    }

    fn main() -> ! {
        gic::init_distributor();
        gic::init_cpu(1 << TIMER_PPI);
        gic::enable_spi(VIRTIO_INTID, 0x80);
        rt::set_irq_handler(irq);
        gic::unmask_irqs();

        init_device();

        let mut completed = 0;
        for n in 1..=REQUESTS {
            match request(n) {
                Some(len) => {
                    println!("entropy: request {n}: {len} bytes, interrupt");
                    completed += 1;
                }
                None => {
                    let irqs = DEVICE_IRQS.load(Ordering::Relaxed);
                    let used = read16(USED + 2);
                    println!(
                        "entropy: request {n}: timed out after {TIMEOUT_S} s (used idx {used}, {irqs} interrupts)"
                    );
                    break;
                }
            }
        }

        gic::mask_irqs();
        write_reg(STATUS, 0);
        let interrupts = DEVICE_IRQS.load(Ordering::Relaxed);
        let other = OTHER.load(Ordering::Relaxed);
        println!("entropy: {completed} requests, {interrupts} interrupts, {other} other");
        rt::system_off();
        rt::park()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("guest-entropy is a bare-metal guest: `cargo xtask build` builds it for its cell");
}
