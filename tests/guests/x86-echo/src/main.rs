//! `x86-echo`: console input on x86_64. A single-vCPU guest that reads its
//! virtual COM1 and echoes what it is typed, line by line.
//!
//! It prints `echo: ready`, then polls COM1's line status register (port
//! `0x3fd`, bit 0 = data ready) with a pause between polls (every poll is a
//! VM exit, counted as `io-console`), takes each byte from the receive
//! buffer (port `0x3f8`) and collects a line until CR or LF. A non-empty
//! line is printed back as `echo: <line>` (CR LF gives one line, not an
//! empty second one); the line `off` prints `echo: bye` and powers the cell
//! off (PSCI `SYSTEM_OFF`). Bytes beyond [`LINE`] are dropped, and
//! non-printable bytes are shown as `?`.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use rt::println;

    rt::entry!(main);

    /// COM1's receive buffer register.
    const COM1_RBR: u16 = 0x3f8;
    /// COM1's line status register.
    const COM1_LSR: u16 = 0x3fd;
    /// LSR: a received byte is waiting in the RBR.
    const LSR_DR: u8 = 1 << 0;
    /// `PAUSE` iterations between two LSR polls: the emulator's time goes
    /// to the machine, not to a storm of exits.
    const POLL_SPINS: u64 = 20_000;
    /// Longest line kept (the rest of a longer line is dropped).
    const LINE: usize = 64;

    /// The next byte typed on the cell's console (polls until there is one).
    fn read_byte() -> u8 {
        loop {
            if rt::inb(COM1_LSR) & LSR_DR != 0 {
                return rt::inb(COM1_RBR);
            }
            rt::delay_spins(POLL_SPINS);
        }
    }

    fn main() -> ! {
        println!("echo: ready");
        let mut line = [0u8; LINE];
        let mut len = 0;
        loop {
            let byte = read_byte();
            if byte != b'\r' && byte != b'\n' {
                if len < LINE {
                    line[len] = if byte.is_ascii_graphic() || byte == b' ' {
                        byte
                    } else {
                        b'?'
                    };
                    len += 1;
                }
                continue;
            }
            if len == 0 {
                continue;
            }
            // Only printable ASCII was stored: always UTF-8.
            let text = core::str::from_utf8(&line[..len]).unwrap_or("?");
            println!("echo: {text}");
            if text == "off" {
                println!("echo: bye");
                let status = rt::system_off();
                println!("echo: SYSTEM_OFF returned {status}");
                rt::park()
            }
            len = 0;
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "guest-x86-echo is a bare-metal x86_64 guest for a Bulkhead cell; build it for x86_64-unknown-none"
    );
}
