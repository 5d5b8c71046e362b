//! The virtual 16550 against a reference model of its documented
//! semantics: arbitrary port accesses and console input never panic, the
//! receive FIFO never holds more than 16 bytes and returns them in order,
//! and what leaves the UART is exactly the bytes written to THR (offset 0
//! with LCR.DLAB clear).

use std::collections::VecDeque;

use proptest::prelude::*;

use super::config;
use crate::arch::x86_64::model::virtual_16550::{self, Virtual16550};
use crate::cell::access::AccessSize;
use crate::console::virtual_uart::VirtualUart;

/// Ports of a 16550's register block.
const PORTS: u16 = 8;
/// Receive FIFO depth of a 16550A.
const RX_FIFO: usize = 16;

/// What the model must do, written from the module documentation.
struct Reference {
    ier: u8,
    lcr: u8,
    mcr: u8,
    scr: u8,
    dll: u8,
    dlm: u8,
    fifo: VecDeque<u8>,
    overrun: bool,
    sent: Vec<u8>,
}

impl Reference {
    fn new() -> Self {
        Self {
            ier: 0,
            lcr: 0x03,
            mcr: 0,
            scr: 0,
            dll: 1,
            dlm: 0,
            fifo: VecDeque::new(),
            overrun: false,
            sent: Vec::new(),
        }
    }

    fn dlab(&self) -> bool {
        self.lcr & 0x80 != 0
    }

    fn receive(&mut self, byte: u8) {
        if self.fifo.len() < RX_FIFO {
            self.fifo.push_back(byte);
        } else {
            self.overrun = true;
        }
    }

    fn read(&mut self, offset: u16) -> u8 {
        match offset {
            0 if self.dlab() => self.dll,
            0 => self.fifo.pop_front().unwrap_or(0),
            1 if self.dlab() => self.dlm,
            1 => self.ier,
            2 => 0xc1,
            3 => self.lcr,
            4 => self.mcr,
            5 => {
                let ready = u8::from(!self.fifo.is_empty());
                let overrun = u8::from(core::mem::take(&mut self.overrun)) << 1;
                0x60 | ready | overrun
            }
            6 => 0xb0,
            7 => self.scr,
            _ => 0xff,
        }
    }

    fn write(&mut self, offset: u16, value: u8) {
        match offset {
            0 if self.dlab() => self.dll = value,
            0 => self.sent.push(value),
            1 if self.dlab() => self.dlm = value,
            1 => self.ier = value & 0x0f,
            3 => self.lcr = value,
            4 => self.mcr = value & 0x1f,
            7 => self.scr = value,
            _ => {}
        }
    }
}

#[derive(Clone, Debug)]
enum Step {
    Read(u16),
    Write(u16, u32),
    Input(u8),
}

fn step() -> impl Strategy<Value = Step> {
    let offset = prop_oneof![8 => 0u16..PORTS, 1 => any::<u16>()];
    let value = prop_oneof![
        3 => any::<u32>(),
        1 => Just(0x80u32),
        1 => Just(0x03u32),
    ];
    prop_oneof![
        3 => offset.clone().prop_map(Step::Read),
        4 => (offset, value).prop_map(|(offset, value)| Step::Write(offset, value)),
        3 => any::<u8>().prop_map(Step::Input),
    ]
}

proptest! {
    #![proptest_config(config(2_000))]

    /// Through the model's own API (any 16-bit port offset) and through
    /// [`VirtualUart`] (offsets inside its window, which is all the console
    /// hands it).
    #[test]
    fn uart16550_matches_the_reference(
        steps in prop::collection::vec((step(), any::<bool>()), 1..150),
    ) {
        prop_assert_eq!(<Virtual16550 as VirtualUart>::WINDOW, u64::from(PORTS));
        prop_assert_eq!(virtual_16550::RX_FIFO, RX_FIFO);
        let mut uart = Virtual16550::new();
        let mut reference = Reference::new();
        let mut sent = Vec::new();
        for (step, via_trait) in steps {
            let via_trait = via_trait && match step {
                Step::Read(offset) | Step::Write(offset, _) => offset < PORTS,
                Step::Input(_) => true,
            };
            match step {
                Step::Read(offset) => {
                    let value = if via_trait {
                        VirtualUart::read(&mut uart, u64::from(offset), AccessSize::Byte)
                    } else {
                        u32::from(uart.read(offset))
                    };
                    prop_assert_eq!(value, u32::from(reference.read(offset)), "read {:#x}", offset);
                }
                Step::Write(offset, value) => {
                    if via_trait {
                        let offset = u64::from(offset);
                        VirtualUart::write(&mut uart, offset, value, &mut |b| sent.push(b));
                    } else {
                        uart.write(offset, value as u8, &mut |b| sent.push(b));
                    }
                    reference.write(offset, value as u8);
                }
                Step::Input(byte) => {
                    if via_trait {
                        VirtualUart::receive(&mut uart, byte);
                    } else {
                        uart.push_input(byte);
                    }
                    reference.receive(byte);
                }
            }
            prop_assert_eq!(&sent, &reference.sent);
            prop_assert!(reference.fifo.len() <= RX_FIFO);
            prop_assert!(!VirtualUart::interrupt_pending(&uart));
        }
        // Drain: the FIFO holds exactly what the reference holds, in order.
        uart.write(3, 0x03, &mut |_| {});
        reference.write(3, 0x03);
        for _ in 0..=RX_FIFO {
            prop_assert_eq!(uart.read(0), reference.read(0));
        }
    }
}
