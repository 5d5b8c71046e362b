//! VMX I/O bitmaps: which I/O ports a cell reaches without a VM exit.
//!
//! Two 4 KiB bitmaps (SDM 24.6.4 "I/O-Bitmap Addresses"): A covers ports
//! `0x0000..=0x7fff`, B `0x8000..=0xffff`, one bit a port, LSB first; a set
//! bit makes an access to that port exit. The CPU checks *every byte* of an
//! access (SDM 26.1.3): a 2-byte `IN` at `0x3ff` exits if port `0x3ff` or
//! `0x400` traps, and an access that wraps around the port space (a 2- or
//! 4-byte access starting near `0xffff`) always exits. `IoBitmaps::traps_access`
//! models that rule (tests).
//!
//! A cell's policy ([`IoBitmaps::for_cell`], docs/x86.md): the ports of
//! the devices it owns pass through; everything else traps, including the
//! hypervisor console's UART unless the cell owns it *and* has a
//! pass-through console.

use crate::config::{CellConsole, CellDesc, PortRange, Tables};

/// Bytes in one bitmap.
const BITMAP_BYTES: usize = 4096;

/// Ports one bitmap covers.
const PORTS_PER_BITMAP: u32 = (BITMAP_BYTES * 8) as u32;

/// Ports a 16550 UART decodes.
const UART_PORTS: u16 = 8;

/// I/O bitmaps A and B, in the layout the VMCS fields `IO_BITMAP_A` and
/// `IO_BITMAP_B` point to (each 4 KiB aligned; `b` follows `a`).
#[derive(Clone, PartialEq, Eq)]
#[repr(C, align(4096))]
pub(crate) struct IoBitmaps {
    /// Ports `0x0000..=0x7fff`; a set bit exits.
    pub(crate) a: [u8; BITMAP_BYTES],
    /// Ports `0x8000..=0xffff`; a set bit exits.
    pub(crate) b: [u8; BITMAP_BYTES],
}

impl core::fmt::Debug for IoBitmaps {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let allowed = (0..=u16::MAX).filter(|&p| !self.traps(p)).count();
        write!(f, "IoBitmaps {{ {allowed} ports allowed }}")
    }
}

impl IoBitmaps {
    /// Every port exits.
    pub(crate) const fn trap_all() -> Self {
        IoBitmaps {
            a: [0xff; BITMAP_BYTES],
            b: [0xff; BITMAP_BYTES],
        }
    }

    /// The byte and bit mask of `port`'s bit.
    fn slot(&mut self, port: u16) -> (&mut u8, u8) {
        let (bitmap, index) = if u32::from(port) < PORTS_PER_BITMAP {
            (&mut self.a, usize::from(port))
        } else {
            (&mut self.b, usize::from(port) - PORTS_PER_BITMAP as usize)
        };
        (&mut bitmap[index / 8], 1 << (index % 8))
    }

    /// The ports of `range`, clipped to the port space.
    fn ports(range: PortRange) -> impl Iterator<Item = u16> {
        let end = (u32::from(range.base) + u32::from(range.size)).min(0x1_0000);
        (u32::from(range.base)..end).map(|port| port as u16)
    }

    /// Lets accesses to the ports of `range` through (the part of it
    /// beyond `0xffff`, if any, does not exist and is ignored).
    pub(crate) fn allow(&mut self, range: PortRange) {
        for port in Self::ports(range) {
            let (byte, mask) = self.slot(port);
            *byte &= !mask;
        }
    }

    /// Makes accesses to the ports of `range` exit again.
    pub(crate) fn trap(&mut self, range: PortRange) {
        for port in Self::ports(range) {
            let (byte, mask) = self.slot(port);
            *byte |= mask;
        }
    }

    /// Whether port `port`'s bit is set (an access to it alone exits).
    pub(crate) fn traps(&self, port: u16) -> bool {
        let (bitmap, index) = if u32::from(port) < PORTS_PER_BITMAP {
            (&self.a, usize::from(port))
        } else {
            (&self.b, usize::from(port) - PORTS_PER_BITMAP as usize)
        };
        bitmap[index / 8] & (1 << (index % 8)) != 0
    }

    /// Whether a `size`-byte access at `port` exits, as the CPU decides
    /// it: if any of its bytes traps, or if it wraps past `0xffff`.
    #[cfg(test)]
    pub(crate) fn traps_access(&self, port: u16, size: u8) -> bool {
        let last = u32::from(port) + u32::from(size.max(1)) - 1;
        last > 0xffff || (u32::from(port)..=last).any(|p| self.traps(p as u16))
    }

    /// `cell`'s bitmaps: see [`IoBitmaps::apply_cell`].
    pub(crate) fn for_cell(tables: &Tables<'_>, cell: &CellDesc) -> Self {
        let mut bitmaps = Self::trap_all();
        bitmaps.apply_cell(tables, cell);
        bitmaps
    }

    /// Resets `self` to `cell`'s policy, in place (for bitmaps in statics):
    /// everything traps except the ports of the devices the cell owns; the
    /// hypervisor console's 8 UART ports (if it is port-mapped) trap unless
    /// the cell owns the console's device and its console is
    /// [`CellConsole::Passthrough`].
    pub(crate) fn apply_cell(&mut self, tables: &Tables<'_>, cell: &CellDesc) {
        self.a.fill(0xff);
        self.b.fill(0xff);
        for &device in cell.devices {
            if let Some(desc) = tables.devices.get(device) {
                for &range in desc.ports {
                    self.allow(range);
                }
            }
        }
        let console = &tables.hypervisor.console;
        let owns_console =
            cell.console == CellConsole::Passthrough && cell.devices.contains(&console.device);
        if console.port != 0 && !owns_console {
            self.trap(PortRange::new(console.port, UART_PORTS));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{CellId, PhysAddr};
    use crate::config::{Arch, IntcDesc, MemRange, PlatformDesc};
    use crate::config::{
        DeviceDesc, FaultPolicy, HypervisorDesc, ImageDesc, ImageKind, LogTransport, PhysicalTimer,
        UartDesc, UartKind, VirtualCounter,
    };

    const COM1: UartDesc = UartDesc {
        device: 0,
        kind: UartKind::Ns16550,
        base: PhysAddr::new(0),
        port: 0x3f8,
    };

    const NONE: MemRange = MemRange::new(PhysAddr::new(0), 0);

    static PLATFORM: PlatformDesc = PlatformDesc {
        name: "pc",
        arch: Arch::X86_64,
        load_address: PhysAddr::new(0x10_0000),
        ram: &[],
        intc: IntcDesc {
            version: 0,
            distributor: NONE,
            redistributor: NONE,
            cpu_interface: NONE,
            virtual_control: NONE,
            virtual_cpu: NONE,
            maintenance_irq: crate::addr::IrqNum(0),
            irq_count: 0,
            io_apic: MemRange::new(PhysAddr::new(0), 0),
        },
        console: COM1,
    };

    static HYPERVISOR: HypervisorDesc = HypervisorDesc {
        memory: MemRange::new(PhysAddr::new(0x10_0000), 0x10_0000),
        console: COM1,
        log: LogTransport::None,
    };

    const fn device(name: &'static str, ports: &'static [PortRange]) -> DeviceDesc {
        DeviceDesc {
            name,
            compatible: "test",
            mmio: &[],
            irqs: &[],
            ports,
        }
    }

    /// COM1 (0), COM2 (1), a device at the A/B boundary (2), one at the top
    /// of the port space (3), one overlapping COM1's last port (4).
    static DEVICES: [DeviceDesc; 5] = [
        device("com1", &[PortRange::new(0x3f8, 8)]),
        device("com2", &[PortRange::new(0x2f8, 8)]),
        device(
            "edge",
            &[PortRange::new(0x7ffe, 4), PortRange::new(0x60, 1)],
        ),
        device("top", &[PortRange::new(0xfffc, 4)]),
        device("overlap", &[PortRange::new(0x3ff, 2)]),
    ];

    fn cell(devices: &'static [usize], console: CellConsole) -> CellDesc {
        CellDesc {
            id: CellId(0),
            name: "cell",
            cpus: &[],
            memory: &[],
            devices,
            irqs: &[],
            image: ImageDesc {
                kind: ImageKind::Raw,
                name: "image",
                size: 0,
                segments: &[],
            },
            entry: crate::addr::GuestPhysAddr::new(0),
            boot_arg: 0,
            console,
            fault_policy: FaultPolicy::Halt,
            physical_timer: PhysicalTimer::Trap,
            virtual_counter: VirtualCounter::Physical,
        }
    }

    fn tables() -> Tables<'static> {
        Tables {
            name: "test",
            platform: &PLATFORM,
            hypervisor: &HYPERVISOR,
            cpus: &[],
            devices: &DEVICES,
            cells: &[],
            channels: &[],
        }
    }

    fn allowed(bitmaps: &IoBitmaps) -> Vec<u16> {
        (0..=u16::MAX).filter(|&p| !bitmaps.traps(p)).collect()
    }

    #[test]
    fn layout() {
        assert_eq!(core::mem::size_of::<IoBitmaps>(), 8192);
        assert_eq!(core::mem::align_of::<IoBitmaps>(), 4096);
        assert_eq!(core::mem::offset_of!(IoBitmaps, b), 4096);
    }

    #[test]
    fn everything_traps_by_default() {
        let bitmaps = IoBitmaps::trap_all();
        assert!(allowed(&bitmaps).is_empty());
        assert!(bitmaps.a.iter().chain(&bitmaps.b).all(|&b| b == 0xff));
        let none = IoBitmaps::for_cell(&tables(), &cell(&[], CellConsole::Virtual));
        assert!(allowed(&none).is_empty());
    }

    #[test]
    fn bits_are_where_the_sdm_puts_them() {
        let mut bitmaps = IoBitmaps::trap_all();
        bitmaps.allow(PortRange::new(0x3f9, 1)); // A, byte 0x7f, bit 1
        bitmaps.allow(PortRange::new(0x8000, 1)); // B, byte 0, bit 0
        bitmaps.allow(PortRange::new(0xffff, 1)); // B, byte 0xfff, bit 7
        assert_eq!(bitmaps.a[0x7f], 0xfd);
        assert_eq!(bitmaps.b[0], 0xfe);
        assert_eq!(bitmaps.b[0xfff], 0x7f);
        assert_eq!(allowed(&bitmaps), [0x3f9, 0x8000, 0xffff]);
    }

    #[test]
    fn device_ports_pass_through() {
        let bitmaps = IoBitmaps::for_cell(&tables(), &cell(&[1, 2], CellConsole::Virtual));
        let mut expected = vec![0x60];
        expected.extend(0x2f8..=0x2ff);
        expected.extend(0x7ffe..=0x8001);
        assert_eq!(allowed(&bitmaps), expected);
    }

    #[test]
    fn range_edges() {
        let bitmaps = IoBitmaps::for_cell(&tables(), &cell(&[2, 3], CellConsole::None));
        // Across the A/B boundary.
        assert!(bitmaps.traps(0x7ffd));
        assert!(!bitmaps.traps(0x7fff) && !bitmaps.traps(0x8000));
        assert!(bitmaps.traps(0x8002));
        // The top of the port space.
        assert!(bitmaps.traps(0xfffb));
        assert!((0xfffc..=0xffff).all(|p| !bitmaps.traps(p)));
        assert!(bitmaps.traps(0));
        // A range running past 0xffff is clipped, not wrapped to port 0.
        let mut clipped = IoBitmaps::trap_all();
        clipped.allow(PortRange::new(0xfffe, 8));
        assert_eq!(allowed(&clipped), [0xfffe, 0xffff]);
    }

    #[test]
    fn accesses_exit_if_any_byte_traps_or_they_wrap() {
        let bitmaps = IoBitmaps::for_cell(&tables(), &cell(&[2, 3], CellConsole::None));
        assert!(!bitmaps.traps_access(0x7ffe, 4));
        assert!(bitmaps.traps_access(0x7ffd, 2)); // 0x7ffd traps
        assert!(bitmaps.traps_access(0x8000, 4)); // 0x8002 traps
        assert!(!bitmaps.traps_access(0xfffc, 4));
        assert!(!bitmaps.traps_access(0xffff, 1));
        assert!(bitmaps.traps_access(0xffff, 2)); // wraps to port 0
        assert!(bitmaps.traps_access(0xfffe, 4));
    }

    #[test]
    fn console_ports_stay_trapped() {
        let t = tables();
        // Owning COM1 with a virtual console, or no console: trapped.
        for console in [CellConsole::Virtual, CellConsole::None] {
            let bitmaps = IoBitmaps::for_cell(&t, &cell(&[0, 1], console));
            assert!((0x3f8..=0x3ff).all(|p| bitmaps.traps(p)), "{console:?}");
            assert!((0x2f8..=0x2ff).all(|p| !bitmaps.traps(p)));
        }
        // Another device overlapping COM1 does not open it either.
        let overlap = IoBitmaps::for_cell(&t, &cell(&[4], CellConsole::Passthrough));
        assert_eq!(allowed(&overlap), [0x400]);
        // A pass-through console without the device: still trapped.
        let without = IoBitmaps::for_cell(&t, &cell(&[1], CellConsole::Passthrough));
        assert!((0x3f8..=0x3ff).all(|p| without.traps(p)));
        // Owning it with a pass-through console: direct access.
        let owner = IoBitmaps::for_cell(&t, &cell(&[0], CellConsole::Passthrough));
        assert_eq!(allowed(&owner), (0x3f8..=0x3ff).collect::<Vec<_>>());
    }

    #[test]
    fn apply_cell_resets_first() {
        let t = tables();
        let mut bitmaps = IoBitmaps::trap_all();
        bitmaps.allow(PortRange::new(0, 0x100));
        bitmaps.apply_cell(&t, &cell(&[3], CellConsole::Virtual));
        assert_eq!(allowed(&bitmaps), [0xfffc, 0xfffd, 0xfffe, 0xffff]);
        bitmaps.trap(PortRange::new(0xfffe, 4));
        assert_eq!(allowed(&bitmaps), [0xfffc, 0xfffd]);
    }
}
