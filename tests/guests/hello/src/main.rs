//! `hello`: the smallest Bulkhead test guest.
//!
//! Runs at EL1 with the MMU off, prints one line on the cell's console (a
//! PL011 at guest-physical 0x0900_0000) and idles in WFI.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use core::panic::PanicInfo;

    /// Guest-physical address of the cell's (virtual) PL011 data register.
    const UART_DATA: *mut u32 = 0x0900_0000 as *mut u32;

    core::arch::global_asm!(
        ".section .text.boot, \"ax\"",
        ".global _start",
        "_start:",
        "    ldr x1, =__stack_top",
        "    mov sp, x1",
        "    bl {main}",
        "1:  wfi",
        "    b 1b",
        main = sym guest_main,
    );

    fn put(text: &str) {
        for byte in text.bytes() {
            // SAFETY: the cell's console is mapped (or trapped) at this
            // guest-physical address; a 32-bit store is a valid access.
            unsafe { UART_DATA.write_volatile(u32::from(byte)) };
        }
    }

    extern "C" fn guest_main() {
        put("hello from a Bulkhead cell\n");
    }

    #[panic_handler]
    fn panic(_: &PanicInfo<'_>) -> ! {
        loop {
            core::hint::spin_loop();
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("guest-hello runs inside a Bulkhead cell; build it with `cargo xtask build`");
}
