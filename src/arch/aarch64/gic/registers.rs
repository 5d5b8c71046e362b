//! The GIC's memory-mapped register frames (the registers the hypervisor
//! uses), declared with `tock-registers`.

use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    /// GIC distributor (GICD), both versions.
    pub(crate) DistributorRegisters {
        (0x0000 => pub(crate) ctlr: ReadWrite<u32>),
        (0x0004 => typer: ReadOnly<u32>),
        (0x0008 => _reserved0),
        (0x0080 => pub(crate) igroupr: [ReadWrite<u32>; 32]),
        (0x0100 => pub(crate) isenabler: [ReadWrite<u32>; 32]),
        (0x0180 => pub(crate) icenabler: [ReadWrite<u32>; 32]),
        (0x0200 => pub(crate) ispendr: [ReadWrite<u32>; 32]),
        (0x0280 => pub(crate) icpendr: [ReadWrite<u32>; 32]),
        (0x0300 => pub(crate) isactiver: [ReadWrite<u32>; 32]),
        (0x0380 => pub(crate) icactiver: [ReadWrite<u32>; 32]),
        (0x0400 => pub(crate) ipriorityr: [ReadWrite<u8>; 1024]),
        (0x0800 => pub(crate) itargetsr: [ReadWrite<u8>; 1024]),
        (0x0c00 => pub(crate) icfgr: [ReadWrite<u32>; 64]),
        (0x0d00 => _reserved1),
        (0x0f00 => pub(crate) sgir: WriteOnly<u32>),
        (0x0f04 => _reserved2),
        (0x0f10 => pub(crate) cpendsgir: [ReadWrite<u8>; 16]),
        (0x0f20 => _reserved4),
        (0x6000 => pub(crate) irouter: [ReadWrite<u64>; 1020]),
        (0x7fe0 => _reserved3),
        (0x8000 => @END),
    }
}

register_structs! {
    /// GICv3 redistributor, RD_base frame.
    pub(crate) RedistributorRegisters {
        (0x000 => ctlr: ReadWrite<u32>),
        (0x004 => iidr: ReadOnly<u32>),
        (0x008 => pub(crate) typer: ReadOnly<u64>),
        (0x010 => _reserved0),
        (0x014 => pub(crate) waker: ReadWrite<u32>),
        (0x018 => _reserved1),
        (0x1000 => @END),
    }
}

register_structs! {
    /// GICv3 redistributor, SGI_base frame (64 KiB above RD_base).
    pub(crate) RedistributorSgiRegisters {
        (0x000 => _reserved0),
        (0x080 => pub(crate) igroupr0: ReadWrite<u32>),
        (0x084 => _reserved1),
        (0x100 => pub(crate) isenabler0: ReadWrite<u32>),
        (0x104 => _reserved2),
        (0x180 => pub(crate) icenabler0: ReadWrite<u32>),
        (0x184 => _reserved3),
        (0x280 => pub(crate) icpendr0: ReadWrite<u32>),
        (0x284 => _reserved5),
        (0x380 => pub(crate) icactiver0: ReadWrite<u32>),
        (0x384 => _reserved6),
        (0x400 => pub(crate) ipriorityr: [ReadWrite<u8>; 32]),
        (0x420 => _reserved4),
        (0x1000 => @END),
    }
}

register_structs! {
    /// GICv2 CPU interface (GICC).
    pub(crate) CpuInterfaceRegisters {
        (0x000 => pub(crate) ctlr: ReadWrite<u32>),
        (0x004 => pub(crate) pmr: ReadWrite<u32>),
        (0x008 => _reserved0),
        (0x00c => pub(crate) iar: ReadOnly<u32>),
        (0x010 => pub(crate) eoir: WriteOnly<u32>),
        (0x014 => _reserved1),
        (0x1000 => pub(crate) dir: WriteOnly<u32>),
        (0x1004 => _reserved2),
        (0x2000 => @END),
    }
}

register_structs! {
    /// GICv2 virtual interface control (GICH), banked per core.
    pub(crate) VirtualControlRegisters {
        (0x000 => pub(crate) hcr: ReadWrite<u32>),
        (0x004 => pub(crate) vtr: ReadOnly<u32>),
        (0x008 => pub(crate) vmcr: ReadWrite<u32>),
        (0x00c => _reserved0),
        (0x0f0 => pub(crate) apr: ReadWrite<u32>),
        (0x0f4 => _reserved1),
        (0x100 => pub(crate) lr: [ReadWrite<u32>; 64]),
        (0x200 => @END),
    }
}

/// A register frame at a fixed physical address.
///
/// # Safety
///
/// `address` is a GIC frame of type `T` from the generated platform table,
/// identity-mapped as Device memory at EL2 for the hypervisor's whole life
/// (the EL2 map covers every GIC frame the platform names).
pub(crate) unsafe fn frame<T>(address: u64) -> &'static T {
    // SAFETY: the caller's contract; the register structs only allow
    // volatile accesses.
    unsafe { &*(address as *const T) }
}
