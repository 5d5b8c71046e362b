//! `gpio`: edge interrupts from a passthrough PL061 GPIO controller.
//!
//! QEMU virt wires its power button to input 3 of the PL061 at 0x0903_0000
//! (INTID 39): `system_powerdown` on the QEMU monitor pulses that line high
//! for 100 ms. The cell owns the PL061, configures pin 3 for a rising-edge
//! interrupt, prints `gpio: armed`, then counts the edges it gets (the
//! handler reads GPIOMIS and clears it through GPIOIC) until it has seen
//! two, or 30 s of counter time pass; after the first it waits until the
//! pulse is over and prints `gpio: edge 1, ready` (for the next press). It prints the counts and powers the
//! cell off.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use core::sync::atomic::{AtomicU64, Ordering};

    use rt::{gic, println, timer};

    rt::entry!(main);

    const PL061: u64 = 0x0903_0000;
    const GPIO_INTID: u64 = 39;
    const PIN: u32 = 1 << 3;
    const EDGES: u64 = 2;

    /// PL061 registers used.
    const GPIOIS: u64 = 0x404;
    const GPIOIBE: u64 = 0x408;
    const GPIOIEV: u64 = 0x40c;
    const GPIOIE: u64 = 0x410;
    const GPIOMIS: u64 = 0x418;
    const GPIOIC: u64 = 0x41c;

    static EDGES_SEEN: AtomicU64 = AtomicU64::new(0);
    static OTHER: AtomicU64 = AtomicU64::new(0);

    fn write(offset: u64, value: u32) {
        // SAFETY: a register of the cell's own (passed-through) PL061.
        unsafe { ((PL061 + offset) as *mut u32).write_volatile(value) };
    }

    fn read(offset: u64) -> u32 {
        // SAFETY: as in `write`; reads have no side effects.
        unsafe { ((PL061 + offset) as *const u32).read_volatile() }
    }

    fn irq() {
        let iar = gic::acknowledge();
        if gic::intid(iar) == GPIO_INTID {
            let masked = read(GPIOMIS);
            if masked & PIN != 0 {
                rt::bump(&EDGES_SEEN);
            }
            write(GPIOIC, masked);
        } else if gic::intid(iar) < 1020 {
            rt::bump(&OTHER);
        }
        gic::end(iar);
    }

    fn main() -> ! {
        gic::init_distributor();
        gic::init_cpu(0);
        rt::set_irq_handler(irq);
        // Pin 3: edge-sensitive (IS = 0), one edge (IBE = 0), rising (IEV =
        // 1), unmasked; anything latched before is cleared.
        write(GPIOIE, 0);
        write(GPIOIS, read(GPIOIS) & !PIN);
        write(GPIOIBE, read(GPIOIBE) & !PIN);
        write(GPIOIEV, read(GPIOIEV) | PIN);
        write(GPIOIC, 0xff);
        write(GPIOIE, PIN);
        gic::enable_spi(GPIO_INTID, 0x80);
        gic::unmask_irqs();
        println!("gpio: armed");
        let deadline = rt::counter() + rt::counter_freq() * 30;
        let mut reported = 0;
        while reported < EDGES && rt::counter() < deadline {
            timer::wait_for_interrupt();
            let seen = EDGES_SEEN.load(Ordering::Relaxed);
            if seen > reported && seen < EDGES {
                // Ready for the next press once this pulse is surely over.
                rt::delay_ms(300);
                println!("gpio: edge {seen}, ready");
            }
            reported = seen;
        }
        gic::mask_irqs();
        let edges = EDGES_SEEN.load(Ordering::Relaxed);
        let other = OTHER.load(Ordering::Relaxed);
        println!("gpio: {edges} rising edges on pin 3, {other} other interrupts");
        // The exits that delivered them: taken while the guest ran, or
        // while the hypervisor waited on its trapped WFI (GICv2).
        let count = |index| rt::cell_counter(index).unwrap_or(u64::MAX);
        let irq_exits = count(rt::counters::IRQ);
        let wfi_exits = count(rt::counters::WFI);
        let delivered = count(rt::counters::SPI);
        println!(
            "gpio: exits: {irq_exits} irq + {wfi_exits} wfi for {delivered} device interrupts delivered"
        );
        rt::system_off();
        rt::park()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("guest-gpio is a bare-metal guest: `cargo xtask build` builds it for its cell");
}
