//! The virtual PL011 against a reference model of its documented
//! semantics: arbitrary register accesses and console input never panic,
//! the receive FIFO never holds more than 32 bytes and returns them in
//! order, and what leaves the UART is exactly the low bytes of the words
//! written to UARTDR (looped back into the FIFO instead while UARTCR.LBE is
//! set).

use std::collections::VecDeque;

use proptest::prelude::*;

use super::config;
use crate::arch::aarch64::model::esr::AccessSize;
use crate::arch::aarch64::model::virtual_pl011::VirtualPl011;
use crate::console::virtual_uart::VirtualUart;

// Register offsets and bits, from the PL011 TRM (independent of the model).
const DR: u64 = 0x000;
const RSR: u64 = 0x004;
const FR: u64 = 0x018;
const CR: u64 = 0x030;
const IMSC: u64 = 0x038;
const RIS: u64 = 0x03c;
const MIS: u64 = 0x040;
const ICR: u64 = 0x044;
const CR_LBE: u32 = 1 << 7;
const INT_RX: u32 = 1 << 4;
const INT_TX: u32 = 1 << 5;
const INT_RT: u32 = 1 << 6;
const INT_OE: u32 = 1 << 10;
/// Receive FIFO depth of an r1p5.
const RX_FIFO_DEPTH: usize = 32;
/// The register window: one 4 KiB page.
const MMIO_SIZE: u64 = 0x1000;
/// UARTPeriphID0..3, UARTPCellID0..3 of an r1p5 PL011.
const IDS: [u32; 8] = [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

/// What the model must do, written from the module documentation.
#[derive(Default)]
struct Reference {
    fifo: VecDeque<u8>,
    control: u32,
    mask: u32,
    overrun_latched: bool,
    overrun_status: bool,
    sent: Vec<u8>,
}

impl Reference {
    fn new() -> Self {
        Self {
            control: 0x300,
            ..Self::default()
        }
    }

    fn receive(&mut self, byte: u8) -> bool {
        if self.fifo.len() < RX_FIFO_DEPTH {
            self.fifo.push_back(byte);
            true
        } else {
            self.overrun_latched = true;
            self.overrun_status = true;
            false
        }
    }

    fn raw(&self) -> u32 {
        let rx = if self.fifo.is_empty() {
            0
        } else {
            INT_RX | INT_RT
        };
        INT_TX | rx | if self.overrun_latched { INT_OE } else { 0 }
    }

    fn write(&mut self, offset: u64, value: u32) {
        match offset {
            DR if self.control & CR_LBE != 0 => {
                self.receive(value as u8);
            }
            DR => self.sent.push(value as u8),
            RSR => self.overrun_status = false,
            CR => self.control = value & 0xff87,
            IMSC => self.mask = value & 0x7ff,
            ICR if value & INT_OE != 0 => self.overrun_latched = false,
            _ => {}
        }
    }

    /// The value a word read returns, `None` where the reference does not
    /// say (registers that only store what was written).
    fn read(&mut self, offset: u64) -> Option<u32> {
        Some(match offset {
            DR => self.fifo.pop_front().map_or(0, u32::from),
            RSR => u32::from(self.overrun_status) << 3,
            FR => {
                let empty = if self.fifo.is_empty() { 1 << 4 } else { 0 };
                let full = if self.fifo.len() == RX_FIFO_DEPTH {
                    1 << 6
                } else {
                    0
                };
                1 << 7 | empty | full
            }
            CR => self.control,
            IMSC => self.mask,
            RIS => self.raw(),
            MIS => self.raw() & self.mask,
            0xfe0..MMIO_SIZE => IDS[((offset - 0xfe0) / 4) as usize],
            // Beyond the window: nothing.
            MMIO_SIZE.. => 0,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
enum Step {
    Read(u64, AccessSize),
    Write(u64, u32),
    Input(u8),
}

fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => (0u64..0x13).prop_map(|word| word * 4),
        2 => prop::sample::select(vec![DR, DR, DR, FR, CR, ICR]),
        1 => (0x3f8u64..0x400).prop_map(|word| word * 4),
        1 => 0u64..MMIO_SIZE,
        1 => any::<u64>(),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let size = prop_oneof![
        Just(AccessSize::Byte),
        Just(AccessSize::Half),
        Just(AccessSize::Word),
        Just(AccessSize::Double),
    ];
    let value = prop_oneof![
        3 => any::<u32>(),
        1 => Just(CR_LBE | 0x301),
        1 => Just(0x300u32),
        1 => Just(INT_OE),
    ];
    prop_oneof![
        3 => (offset(), size).prop_map(|(offset, size)| Step::Read(offset, size)),
        4 => (offset(), value).prop_map(|(offset, value)| Step::Write(offset, value)),
        3 => any::<u8>().prop_map(Step::Input),
    ]
}

proptest! {
    #![proptest_config(config(2_000))]

    #[test]
    fn pl011_matches_the_reference(
        steps in prop::collection::vec((step(), any::<bool>()), 1..150),
    ) {
        let mut uart = VirtualPl011::new();
        let mut reference = Reference::new();
        let mut sent = Vec::new();
        for (step, via_trait) in steps {
            match step {
                Step::Read(offset, size) => {
                    let value = if via_trait {
                        VirtualUart::read(&mut uart, offset, size)
                    } else {
                        uart.read(offset, size)
                    };
                    let mask = u32::try_from(size.mask()).unwrap_or(u32::MAX);
                    prop_assert_eq!(value & !mask, 0);
                    let expected = if offset % 4 == 0 { reference.read(offset) } else { Some(0) };
                    if let Some(expected) = expected {
                        prop_assert_eq!(value, expected & mask, "read {:#x}", offset);
                    }
                }
                Step::Write(offset, value) => {
                    if via_trait {
                        VirtualUart::write(&mut uart, offset, value, &mut |byte| sent.push(byte));
                    } else {
                        uart.write(offset, value, &mut |byte| sent.push(byte));
                    }
                    if offset % 4 == 0 {
                        reference.write(offset, value);
                    }
                }
                Step::Input(byte) => {
                    if via_trait {
                        VirtualUart::receive(&mut uart, byte);
                        reference.receive(byte);
                    } else {
                        prop_assert_eq!(uart.push_input(byte), reference.receive(byte));
                    }
                }
            }
            prop_assert!(uart.pending_input() <= RX_FIFO_DEPTH);
            prop_assert_eq!(uart.pending_input(), reference.fifo.len());
            prop_assert_eq!(&sent, &reference.sent);
            let line = reference.raw() & reference.mask != 0;
            prop_assert_eq!(uart.interrupt_pending(), line);
            prop_assert_eq!(VirtualUart::interrupt_pending(&uart), line);
        }
    }
}
