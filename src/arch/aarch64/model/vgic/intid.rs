//! How the GIC numbers interrupts (SGIs, PPIs, SPIs), and the GIC version
//! a cell's guest sees: what the vGIC models share.

/// Largest number of INTIDs a cell's distributor can describe (SGIs, PPIs
/// and SPIs; INTIDs 1020..1023 are special and never owned).
pub(crate) const MAX_IRQ_COUNT: u32 = 1020;
/// Largest number of vCPUs a cell can have (the GICv2 limit of eight CPU
/// interfaces).
pub(crate) const MAX_VCPUS: usize = 8;
/// First SPI INTID.
pub(crate) const SPI_BASE: u32 = 32;
/// Number of SGIs (INTIDs 0..15); PPIs are 16..31.
pub(crate) const SGI_COUNT: u32 = 16;
/// Number of per-vCPU (banked) INTIDs: SGIs and PPIs.
pub(crate) const PRIVATE_COUNT: u32 = 32;
/// Bits of an 8-bit priority that are implemented (the top five).
pub(crate) const PRIORITY_MASK: u8 = 0xf8;

/// The `IIDR` value of Bulkhead's virtual GIC (GICD_IIDR and GICR_IIDR):
/// ProductID `0x42` ('B') in bits 31:24, Variant 0 in 19:16, Revision 1 in
/// 15:12 and Implementer `0x000` in 11:0. Bulkhead has no JEP106 code, so
/// it claims none; no Linux GIC erratum workaround matches this value.
pub(crate) const BULKHEAD_IIDR: u32 = 0x4200_1000;

/// ICFGR0 as read for SGIs: every SGI is edge-triggered (bit 2n+1 set).
pub(crate) const ICFGR_SGI_EDGE: u32 = 0xaaaa_aaaa;

/// Whether `intid` is one of the architected timer PPIs (26..=30: EL2
/// physical, EL2 virtual, secure and non-secure EL1 physical, EL1 virtual
/// timer): those are level-sensitive and their trigger bits are read-only.
pub(crate) const fn is_timer_ppi(intid: u32) -> bool {
    intid >= 26 && intid <= 30
}

/// Version of the virtual GIC the guest sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum GicVersion {
    /// GICv2: memory-mapped CPU interface, ITARGETSR routing, GICD_SGIR.
    V2,
    /// GICv3: system-register CPU interface, redistributors, IROUTER.
    V3,
}

impl GicVersion {
    /// The version for an architecture revision number (2 or 3), `None`
    /// for anything else.
    #[cfg(test)]
    pub(crate) const fn from_number(number: u32) -> Option<Self> {
        match number {
            2 => Some(Self::V2),
            3 => Some(Self::V3),
            _ => None,
        }
    }

    /// The architecture revision number (2 or 3), as PIDR2.ArchRev holds it.
    pub(crate) const fn number(self) -> u32 {
        match self {
            Self::V2 => 2,
            Self::V3 => 3,
        }
    }
}
