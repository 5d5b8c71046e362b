//! The physical GIC as the hypervisor drives it, both versions.
//!
//! What differs between GICv2 and GICv3 is one trait, [`GicOps`], with two
//! implementations (`v2::GicV2`, `v3::GicV3`); the platform's version picks
//! one at compile time as [`Gic`], so an image carries only its version's
//! code paths and nothing branches on the version at run time. The
//! distributor's shared interrupts are the same on both (`distributor`).
//!
//! The hypervisor uses two SGIs of its own: the kick (SGI 15), which pulls
//! a core out of its guest (HCR_EL2.IMO routes physical IRQs to EL2 while a
//! guest runs, so it always lands in the hypervisor) or wakes it from its
//! wait, and the inject notification (SGI 14), which tells a core it has
//! virtual interrupts to put in its list registers.

mod distributor;
mod interface;
mod registers;
mod v2;
mod v3;

pub(crate) use distributor::{spi_active, spi_config, spi_enable, spi_pending, spi_priority};
pub(crate) use interface::{GicOps, INJECT_SGI, KICK_SGI};

use crate::config::PLATFORM;

/// The GIC version of this platform, as a const generic.
pub(crate) struct Version<const N: u8>;

/// Which [`GicOps`] implementation a version number names.
pub(crate) trait Select {
    /// The implementation.
    type Gic: GicOps;
}

impl Select for Version<2> {
    type Gic = v2::GicV2;
}

impl Select for Version<3> {
    type Gic = v3::GicV3;
}

/// This platform's GIC (the config checker allows versions 2 and 3 only).
pub(crate) type Gic = <Version<{ PLATFORM.intc.version }> as Select>::Gic;

/// Sends the kick to physical CPU `cpu`.
pub(crate) fn kick(cpu: usize) {
    Gic::send_sgi(KICK_SGI, cpu);
}
