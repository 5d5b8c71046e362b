//! Virtual GIC distributor (GICD) of one cell, for GICv2 and GICv3 guests.
//!
//! The guest's GICD page is unmapped at stage 2; every trapped access is
//! handed to [`VirtualDistributor::access`] together with the index of the
//! calling vCPU. The model never touches hardware:
//!
//! - **Owned SPIs** (INTIDs `32..irq_count` named in the cell's config) are
//!   backed by the physical distributor. The model keeps a virtual copy
//!   (enable, priority, trigger, target vCPU, and a pending/active mirror)
//!   and reports every change the physical GIC must see as an [`Action`];
//!   the arch layer applies it (translating vCPU indices to the cell's
//!   physical CPUs). Set/clear writes emit an action for every owned INTID
//!   whose bit is 1, whatever the mirror says; priority, trigger and
//!   routing emit one only when the value changes, so the physical GIC must
//!   start from the state [`VirtualDistributor::reset`] establishes.
//! - **SPIs the cell does not own** (and INTIDs at or above `irq_count`)
//!   read as zero and ignore writes, in every register.
//! - **SGIs and PPIs** (INTIDs 0..31) are per vCPU and purely virtual. On
//!   GICv3 (affinity routing always on) their GICD registers are RAZ/WI:
//!   they live in the redistributor (`super::redistributor`). On GICv2 the
//!   banked GICD registers (ISENABLER0, IPRIORITYR0..7, ITARGETSR0..7,
//!   ICFGR0/1, ...) act on the calling vCPU's [`PrivateIrqs`].
//!
//! Interrupt groups: GICv3 guests get Group 1 only (owned SPIs read 1 in
//! IGROUPR, writes ignored). GICv2 guests get Group 0 only (IGROUPR is
//! RAZ/WI): Linux's GICv2 driver enables only GICC_CTLR bit 0, which on the
//! virtual CPU interface (GICV_CTLR) is EnableGrp0, and leaves FIQEn clear,
//! so Group 0 virtual interrupts are signalled as vIRQ. The list register
//! encodings in `super::list` match this choice.
//!
//! Both versions present a single security state: GICv2 without the
//! Security Extensions, GICv3 with GICD_CTLR.DS = 1 (as KVM does), so the
//! guest's view of priorities is never shifted. Priorities keep their top
//! five bits (the precision of a GICv2 list register and of the virtual CPU
//! interfaces Bulkhead targets); the low three bits read as zero.
//!
//! Access rules: an access must be naturally aligned; IPRIORITYR and
//! ITARGETSR accept byte and word accesses, GICD_IROUTER word and
//! doubleword accesses, every other register word accesses only. Anything
//! else (unaligned, halfword, a doubleword elsewhere, an unknown or
//! reserved offset, an offset beyond the frame: 4 KiB on GICv2, 64 KiB on
//! GICv3) reads as zero and ignores writes. Not modelled (RAZ/WI):
//! GICD_STATUSR, GICD_IGRPMODR, GICD_NSACR, GICD_CPENDSGIR/SPENDSGIR,
//! message-based SPIs, LPIs and the extended SPI range.
//!
//! Every entry point takes guest-controlled values and never panics.

use super::action::Action;
use super::intid::{
    BULKHEAD_IIDR, GicVersion, ICFGR_SGI_EDGE, MAX_IRQ_COUNT, MAX_VCPUS, PRIORITY_MASK,
    PRIVATE_COUNT, SPI_BASE,
};
use super::private_irqs::{BitRegister, PrivateIrqs, set_bits};
use crate::addr::IrqNum;
use crate::cell::access::AccessSize;

/// Number of 32-bit words in an INTID bitmap covering INTIDs 0..1023.
const WORDS: usize = 32;
/// Number of per-INTID byte slots (INTIDs 0..1023).
const SLOTS: usize = 1024;

// GICD register offsets.
const GICD_CTLR: u64 = 0x0000;
const GICD_TYPER: u64 = 0x0004;
const GICD_IIDR: u64 = 0x0008;
const GICD_IGROUPR: u64 = 0x0080;
const GICD_ISENABLER: u64 = 0x0100;
const GICD_IPRIORITYR: u64 = 0x0400;
const GICD_ITARGETSR: u64 = 0x0800;
const GICD_ICFGR: u64 = 0x0c00;
const GICD_ICFGR_END: u64 = 0x0d00;
const GICD_SGIR: u64 = 0x0f00;
const GICD_IROUTER: u64 = 0x6000;
const GICD_IROUTER_END: u64 = 0x8000;
/// GICD_PIDR2 in a GICv3 distributor (64 KiB frame).
const GICD_PIDR2_V3: u64 = 0xffe8;
/// GICD_PIDR2 in a GICv2 distributor (4 KiB frame).
const GICD_PIDR2_V2: u64 = 0x0fe8;

// GICD_CTLR bits.
const CTLR_V2_ENABLE: u32 = 1 << 0; // GICv2: Enable (Group 0 without security)
const CTLR_V3_ENABLE_GRP0: u32 = 1 << 0; // GICv3, DS = 1: EnableGrp0
const CTLR_V3_ENABLE_GRP1: u32 = 1 << 1; // GICv3: EnableGrp1 (EnableGrp1A)
const CTLR_V3_ARE: u32 = 1 << 4; // GICv3: affinity routing, RAO/WI
const CTLR_V3_DS: u32 = 1 << 6; // GICv3: single security state, RAO/WI

// GICD_TYPER fields.
const TYPER_CPU_NUMBER_SHIFT: u32 = 5; // CPUNumber, bits 7:5 (GICv2)
const TYPER_ID_BITS_SHIFT: u32 = 19; // IDbits, bits 23:19 (GICv3)
/// IDbits = 9: INTIDs have 10 bits (0..1023).
const TYPER_ID_BITS: u32 = 9;

// GICD_IROUTER fields.
const IROUTER_AFF0_MASK: u64 = 0xff; // Aff0, bits 7:0
const IROUTER_UPPER_AFF_MASK: u64 = 0xff_0000_ff00; // Aff1 15:8, Aff2 23:16, Aff3 39:32
const IROUTER_IRM: u64 = 1 << 31; // Interrupt_Routing_Mode: 1-of-N

/// Tests bit `intid` of an INTID bitmap (`false` out of range).
fn test_bit(bitmap: &[u32; WORDS], intid: u32) -> bool {
    bitmap
        .get((intid / 32) as usize)
        .is_some_and(|word| word & (1 << (intid % 32)) != 0)
}

/// Sets or clears bit `intid` of an INTID bitmap (no-op out of range).
fn assign_bit(bitmap: &mut [u32; WORDS], intid: u32, value: bool) {
    if let Some(word) = bitmap.get_mut((intid / 32) as usize) {
        if value {
            *word |= 1 << (intid % 32);
        } else {
            *word &= !(1 << (intid % 32));
        }
    }
}

/// The virtual distributor of one cell. Const-constructible, fixed size
/// (about 4 KiB), no heap: it lives in a `static` behind the cell's lock.
#[derive(Clone, Debug)]
pub(crate) struct VirtualDistributor {
    version: GicVersion,
    irq_count: u32,
    vcpus: usize,
    /// SPIs the cell owns (filtered to `32..irq_count`).
    owned: [u32; WORDS],
    /// GICD_CTLR enable bits as written.
    ctlr: u32,
    enabled: [u32; WORDS],
    pending: [u32; WORDS],
    active: [u32; WORDS],
    /// Trigger mode, 1 = edge.
    edge: [u32; WORDS],
    priority: [u8; SLOTS],
    /// GICv2 ITARGETSR value (vCPU mask) of each SPI.
    targets: [u8; SLOTS],
    /// Target vCPU of each SPI (both versions).
    route: [u8; SLOTS],
    /// GICv3 IROUTER.IRM of each SPI.
    irm: [u32; WORDS],
    /// GICv2 banked SGI/PPI state of each vCPU (unused on GICv3).
    banked: [PrivateIrqs; MAX_VCPUS],
}

impl VirtualDistributor {
    /// A distributor in its reset state for a cell with `vcpus` vCPUs
    /// (clamped to [`MAX_VCPUS`]), interrupt IDs below `irq_count` (clamped
    /// to `32..=1020`) and the owned SPIs `spis`; entries of `spis` outside
    /// `32..irq_count` are ignored. Every owned SPI starts disabled,
    /// idle, level-sensitive, at priority 0, routed to vCPU 0.
    // Const evaluation needs plain indexing: `i < spis.len()` and
    // `intid < irq_count <= 1020` keep both indices in bounds.
    pub(crate) const fn new(
        version: GicVersion,
        irq_count: u32,
        spis: &[IrqNum],
        vcpus: usize,
    ) -> Self {
        let irq_count = if irq_count > MAX_IRQ_COUNT {
            MAX_IRQ_COUNT
        } else if irq_count < SPI_BASE {
            SPI_BASE
        } else {
            irq_count
        };
        let vcpus = if vcpus > MAX_VCPUS { MAX_VCPUS } else { vcpus };
        let mut owned = [0u32; WORDS];
        let mut i = 0;
        while i < spis.len() {
            let intid = spis[i].0;
            if intid >= SPI_BASE && intid < irq_count {
                owned[(intid / 32) as usize] |= 1 << (intid % 32);
            }
            i += 1;
        }
        Self {
            version,
            irq_count,
            vcpus,
            owned,
            ctlr: 0,
            enabled: [0; WORDS],
            pending: [0; WORDS],
            active: [0; WORDS],
            edge: [0; WORDS],
            priority: [0; SLOTS],
            targets: [1; SLOTS],
            route: [0; SLOTS],
            irm: [0; WORDS],
            banked: [PrivateIrqs::new(); MAX_VCPUS],
        }
    }

    /// Returns every register to its reset state (cell start or restart)
    /// and emits the actions that bring the physical distributor's owned
    /// SPIs to the same state: disabled, not pending, not active, priority
    /// 0, level-sensitive, routed to vCPU 0. Call it before the cell first
    /// runs too: change-only actions rely on that baseline.
    pub(crate) fn reset(&mut self, actions: &mut impl FnMut(Action)) {
        let owned = self.owned;
        *self = Self::new(self.version, self.irq_count, &[], self.vcpus);
        self.owned = owned;
        for intid in self.owned_spis() {
            actions(Action::Disable { intid });
            actions(Action::ClearPending { intid });
            actions(Action::ClearActive { intid });
            actions(Action::Priority { intid, priority: 0 });
            actions(Action::Config { intid, edge: false });
            actions(Action::Route { intid, vcpu: 0 });
        }
    }

    /// The GIC version the guest sees.
    #[cfg(test)]
    pub(crate) const fn version(&self) -> GicVersion {
        self.version
    }

    /// Number of INTIDs (after clamping to `32..=1020`).
    #[cfg(test)]
    pub(crate) const fn irq_count(&self) -> u32 {
        self.irq_count
    }

    /// Number of vCPUs (after clamping to [`MAX_VCPUS`]).
    #[cfg(test)]
    pub(crate) const fn vcpus(&self) -> usize {
        self.vcpus
    }

    /// Whether the guest enabled forwarding: GICv2 GICD_CTLR.Enable,
    /// GICv3 GICD_CTLR.EnableGrp1.
    #[cfg(test)]
    pub(crate) const fn enabled(&self) -> bool {
        match self.version {
            GicVersion::V2 => self.ctlr & CTLR_V2_ENABLE != 0,
            GicVersion::V3 => self.ctlr & CTLR_V3_ENABLE_GRP1 != 0,
        }
    }

    /// Whether the cell owns SPI `intid`.
    pub(crate) fn owns(&self, intid: u32) -> bool {
        test_bit(&self.owned, intid)
    }

    /// The owned SPIs, in increasing order.
    pub(crate) fn owned_spis(&self) -> impl Iterator<Item = u32> + '_ {
        (SPI_BASE..self.irq_count).filter(|&intid| self.owns(intid))
    }

    /// The vCPU owned SPI `intid` is routed to (0 if not owned).
    pub(crate) fn target_vcpu(&self, intid: u32) -> usize {
        if self.owns(intid) {
            self.route
                .get(intid as usize)
                .map_or(0, |&vcpu| vcpu as usize)
        } else {
            0
        }
    }

    /// Virtual priority of owned SPI `intid` (0 if not owned).
    pub(crate) fn spi_priority(&self, intid: u32) -> u8 {
        if self.owns(intid) {
            self.priority.get(intid as usize).copied().unwrap_or(0)
        } else {
            0
        }
    }

    /// Whether the guest enabled owned SPI `intid` (`false` if not owned).
    pub(crate) fn spi_enabled(&self, intid: u32) -> bool {
        self.owns(intid) && test_bit(&self.enabled, intid)
    }

    /// Whether owned SPI `intid` is edge-triggered (`false` if not owned).
    #[cfg(test)]
    pub(crate) fn spi_edge(&self, intid: u32) -> bool {
        self.owns(intid) && test_bit(&self.edge, intid)
    }

    /// GICv2: whether SGI/PPI `intid` of vCPU `vcpu` is enabled (`false`
    /// for an invalid vCPU or INTID; always `false` on GICv3, whose
    /// SGIs/PPIs live in the redistributor).
    #[cfg(test)]
    pub(crate) fn sgi_ppi_enabled(&self, vcpu: usize, intid: u32) -> bool {
        self.bank(vcpu).is_some_and(|bank| bank.enabled(intid))
    }

    /// Virtual priority of `intid` as vCPU `vcpu` sees it: its banked
    /// SGI/PPI priority (GICv2) for `intid < 32`, the SPI's otherwise.
    /// 0 for anything invalid or not owned.
    #[cfg(test)]
    pub(crate) fn priority(&self, vcpu: usize, intid: u32) -> u8 {
        if intid < PRIVATE_COUNT {
            self.bank(vcpu).map_or(0, |bank| bank.priority(intid))
        } else {
            self.spi_priority(intid)
        }
    }

    /// GICv2: the banked SGI/PPI state of vCPU `vcpu` (`None` on GICv3 or
    /// for an invalid vCPU).
    pub(crate) fn bank(&self, vcpu: usize) -> Option<&PrivateIrqs> {
        match self.version {
            GicVersion::V2 if vcpu < self.vcpus => self.banked.get(vcpu),
            _ => None,
        }
    }

    fn bank_mut(&mut self, vcpu: usize) -> Option<&mut PrivateIrqs> {
        match self.version {
            GicVersion::V2 if vcpu < self.vcpus => self.banked.get_mut(vcpu),
            _ => None,
        }
    }

    /// Updates the pending/active mirror that ISPENDR/ISACTIVER reads
    /// return: for an owned SPI (any `vcpu`), or on GICv2 for SGI/PPI
    /// `intid` of vCPU `vcpu`. The arch layer calls it when it injects an
    /// interrupt and when a list register shows the guest completed one.
    /// Ignored for anything else.
    #[cfg(test)]
    pub(crate) fn set_state(&mut self, vcpu: usize, intid: u32, pending: bool, active: bool) {
        if intid < PRIVATE_COUNT {
            if let Some(bank) = self.bank_mut(vcpu) {
                bank.set_state(intid, pending, active);
            }
        } else if self.owns(intid) {
            assign_bit(&mut self.pending, intid, pending);
            assign_bit(&mut self.active, intid, active);
        }
    }

    /// Mask with one bit per vCPU of the cell.
    const fn vcpu_mask(&self) -> u8 {
        ((1u16 << self.vcpus) - 1) as u8
    }

    /// Emulates one trapped access by vCPU `caller` at `offset` in the GICD
    /// frame: `write` is `Some(value)` for a store (only the low
    /// `size` bytes count). Returns the value a load reads (zero-extended)
    /// and 0 for a store. Physical changes are reported through `actions`.
    ///
    /// The interface is 64-bit because GICD_IROUTER is a 64-bit register
    /// that Linux writes with a single doubleword store.
    pub(crate) fn access(
        &mut self,
        caller: usize,
        offset: u64,
        size: AccessSize,
        write: Option<u64>,
        actions: &mut impl FnMut(Action),
    ) -> u64 {
        let write = write.map(|value| value & size.mask());
        let frame = match self.version {
            GicVersion::V2 => 0x1000,
            GicVersion::V3 => 0x1_0000,
        };
        if offset >= frame || !offset.is_multiple_of(size.bytes()) {
            return 0;
        }
        let v3 = self.version == GicVersion::V3;
        let read = match (offset, size) {
            (GICD_CTLR, AccessSize::Word) => self.ctlr_access(write),
            (GICD_TYPER, AccessSize::Word) => self.typer(),
            (GICD_IIDR, AccessSize::Word) => BULKHEAD_IIDR,
            (GICD_IGROUPR..GICD_ISENABLER, AccessSize::Word) => {
                let word = ((offset - GICD_IGROUPR) / 4) as usize;
                match self.version {
                    // Owned SPIs are Group 1; SGIs/PPIs (word 0) are RES0
                    // with affinity routing.
                    GicVersion::V3 if word > 0 => self.owned.get(word).copied().unwrap_or(0),
                    _ => 0,
                }
            }
            (GICD_ISENABLER..GICD_IPRIORITYR, AccessSize::Word) => {
                self.bit_register(caller, offset, write, actions)
            }
            (GICD_IPRIORITYR..GICD_ITARGETSR, AccessSize::Byte | AccessSize::Word) => {
                let first = (offset - GICD_IPRIORITYR) as u32;
                self.byte_registers(first, size, write, |this, intid, byte| {
                    this.priority_byte(caller, intid, byte, actions)
                })
            }
            (GICD_ITARGETSR..GICD_ICFGR, AccessSize::Byte | AccessSize::Word) if !v3 => {
                let first = (offset - GICD_ITARGETSR) as u32;
                self.byte_registers(first, size, write, |this, intid, byte| {
                    this.target_byte(caller, intid, byte, actions)
                })
            }
            (GICD_ICFGR..GICD_ICFGR_END, AccessSize::Word) => {
                let word = ((offset - GICD_ICFGR) / 4) as u32;
                self.config_register(caller, word, write, actions)
            }
            (GICD_SGIR, AccessSize::Word) if !v3 => {
                if let Some(value) = write {
                    self.send_sgi(caller, value as u32, actions);
                }
                0
            }
            (GICD_IROUTER..GICD_IROUTER_END, AccessSize::Word | AccessSize::Double) if v3 => {
                return self.irouter(offset, size, write, actions);
            }
            (GICD_PIDR2_V2, AccessSize::Word) if !v3 => self.version.number() << 4,
            (GICD_PIDR2_V3, AccessSize::Word) if v3 => self.version.number() << 4,
            _ => 0,
        };
        if write.is_some() { 0 } else { u64::from(read) }
    }

    fn ctlr_access(&mut self, write: Option<u64>) -> u32 {
        match (self.version, write) {
            (GicVersion::V2, Some(value)) => self.ctlr = value as u32 & CTLR_V2_ENABLE,
            (GicVersion::V3, Some(value)) => {
                self.ctlr = value as u32 & (CTLR_V3_ENABLE_GRP0 | CTLR_V3_ENABLE_GRP1);
            }
            (_, None) => {}
        }
        match self.version {
            GicVersion::V2 => self.ctlr,
            GicVersion::V3 => self.ctlr | CTLR_V3_ARE | CTLR_V3_DS,
        }
    }

    /// GICD_TYPER: ITLinesNumber (4:0) = ceil(irq_count / 32) - 1; GICv2
    /// CPUNumber (7:5) = vCPUs - 1; GICv3 IDbits (23:19) = 9. SecurityExtn,
    /// MBIS, LPIS, A3V, No1N and RSS are 0.
    const fn typer(&self) -> u32 {
        let lines = self.irq_count.div_ceil(32) - 1;
        match self.version {
            GicVersion::V2 => {
                let cpus = self.vcpus.saturating_sub(1) as u32 & 0x7;
                lines | (cpus << TYPER_CPU_NUMBER_SHIFT)
            }
            GicVersion::V3 => lines | (TYPER_ID_BITS << TYPER_ID_BITS_SHIFT),
        }
    }

    /// ISENABLER .. ICACTIVER.
    fn bit_register(
        &mut self,
        caller: usize,
        offset: u64,
        write: Option<u64>,
        actions: &mut impl FnMut(Action),
    ) -> u32 {
        let Some((register, word)) = BitRegister::decode(offset) else {
            return 0;
        };
        if word == 0 {
            // SGIs and PPIs: GICv2 banked per vCPU, GICv3 RAZ/WI.
            let Some(bank) = self.bank_mut(caller) else {
                return 0;
            };
            if let Some(value) = write {
                bank.write_bits(caller, register, value as u32, actions);
            }
            return bank.read_bits(register);
        }
        let owned = self.owned.get(word).copied().unwrap_or(0);
        let state = match register {
            BitRegister::SetEnable | BitRegister::ClearEnable => &mut self.enabled,
            BitRegister::SetPending | BitRegister::ClearPending => &mut self.pending,
            BitRegister::SetActive | BitRegister::ClearActive => &mut self.active,
        };
        let Some(bits) = state.get_mut(word) else {
            return 0;
        };
        let Some(value) = write else {
            return *bits & owned;
        };
        let value = value as u32 & owned;
        match register {
            BitRegister::SetEnable | BitRegister::SetPending | BitRegister::SetActive => {
                *bits |= value;
            }
            _ => *bits &= !value,
        }
        for bit in set_bits(value) {
            let intid = word as u32 * 32 + bit;
            actions(match register {
                BitRegister::SetEnable => Action::Enable { intid },
                BitRegister::ClearEnable => Action::Disable { intid },
                BitRegister::SetPending => Action::SetPending { intid },
                BitRegister::ClearPending => Action::ClearPending { intid },
                BitRegister::SetActive => Action::SetActive { intid },
                BitRegister::ClearActive => Action::ClearActive { intid },
            });
        }
        0
    }

    /// A byte-per-INTID register access (IPRIORITYR, ITARGETSR) covering
    /// `size` INTIDs from `first`: `byte` gets each INTID and the byte
    /// written (or `None`) and returns the byte read.
    fn byte_registers(
        &mut self,
        first: u32,
        size: AccessSize,
        write: Option<u64>,
        mut byte: impl FnMut(&mut Self, u32, Option<u8>) -> u8,
    ) -> u32 {
        let mut read = 0u32;
        for i in 0..size.bytes().min(4) as u32 {
            let written = write.map(|value| (value >> (8 * i)) as u8);
            read |= u32::from(byte(self, first + i, written)) << (8 * i);
        }
        read
    }

    fn priority_byte(
        &mut self,
        caller: usize,
        intid: u32,
        write: Option<u8>,
        actions: &mut impl FnMut(Action),
    ) -> u8 {
        if intid < PRIVATE_COUNT {
            let Some(bank) = self.bank_mut(caller) else {
                return 0;
            };
            if let Some(value) = write {
                bank.write_priority(intid, value);
            }
            return bank.priority(intid);
        }
        if !self.owns(intid) {
            return 0;
        }
        let Some(slot) = self.priority.get_mut(intid as usize) else {
            return 0;
        };
        if let Some(value) = write {
            let priority = value & PRIORITY_MASK;
            if *slot != priority {
                *slot = priority;
                actions(Action::Priority { intid, priority });
            }
        }
        *slot
    }

    /// GICv2 ITARGETSR byte. SGIs/PPIs: read-only, the caller's own CPU
    /// interface bit. Owned SPIs: a mask of virtual CPU interfaces; bits
    /// beyond the cell's vCPUs are dropped and the SPI is routed to the
    /// lowest vCPU left (a valid 1-of-N choice). An empty mask is stored
    /// (and read back) but leaves the physical routing where it was.
    fn target_byte(
        &mut self,
        caller: usize,
        intid: u32,
        write: Option<u8>,
        actions: &mut impl FnMut(Action),
    ) -> u8 {
        if intid < PRIVATE_COUNT {
            return if caller < self.vcpus { 1 << caller } else { 0 };
        }
        if !self.owns(intid) {
            return 0;
        }
        let mask = self.vcpu_mask();
        let index = intid as usize;
        if let Some(value) = write {
            let targets = value & mask;
            if let Some(slot) = self.targets.get_mut(index) {
                *slot = targets;
            }
            if targets != 0 {
                self.set_route(intid, targets.trailing_zeros() as u8, actions);
            }
        }
        self.targets.get(index).copied().unwrap_or(0)
    }

    /// Stores the target vCPU of an owned SPI, reporting a change.
    fn set_route(&mut self, intid: u32, vcpu: u8, actions: &mut impl FnMut(Action)) {
        if let Some(slot) = self.route.get_mut(intid as usize)
            && *slot != vcpu
        {
            *slot = vcpu;
            actions(Action::Route {
                intid,
                vcpu: usize::from(vcpu),
            });
        }
    }

    /// ICFGR word `word` (INTIDs 16 * word .. + 15).
    fn config_register(
        &mut self,
        caller: usize,
        word: u32,
        write: Option<u64>,
        actions: &mut impl FnMut(Action),
    ) -> u32 {
        match word {
            // SGIs: GICv2 read-only edge; GICv3 RAZ/WI.
            0 => match self.bank(caller) {
                Some(_) => ICFGR_SGI_EDGE,
                None => 0,
            },
            // PPIs: GICv2 banked; GICv3 RAZ/WI.
            1 => {
                let Some(bank) = self.bank_mut(caller) else {
                    return 0;
                };
                if let Some(value) = write {
                    bank.write_ppi_config(value as u32);
                }
                bank.read_ppi_config()
            }
            _ => {
                let mut read = 0;
                for n in 0..16 {
                    let intid = word * 16 + n;
                    if !self.owns(intid) {
                        continue;
                    }
                    if let Some(value) = write {
                        let edge = value & (1 << (2 * n + 1)) != 0;
                        if test_bit(&self.edge, intid) != edge {
                            assign_bit(&mut self.edge, intid, edge);
                            actions(Action::Config { intid, edge });
                        }
                    }
                    if test_bit(&self.edge, intid) {
                        read |= 1 << (2 * n + 1);
                    }
                }
                read
            }
        }
    }

    /// GICD_SGIR (GICv2): TargetListFilter 25:24, CPUTargetList 23:16,
    /// SGIINTID 3:0. Filter 0 sends to the listed vCPUs, 1 to every vCPU
    /// but the caller, 2 to the caller; 3 (reserved) and an empty target
    /// set send nothing.
    fn send_sgi(&mut self, caller: usize, value: u32, actions: &mut impl FnMut(Action)) {
        if caller >= self.vcpus {
            return;
        }
        let intid = value & 0xf;
        let all = self.vcpu_mask();
        let own = 1u8 << caller;
        let targets = match (value >> 24) & 0b11 {
            0 => (value >> 16) as u8 & all,
            1 => all & !own,
            2 => own,
            _ => 0,
        };
        if targets != 0 {
            actions(Action::SendSgi { intid, targets });
        }
    }

    /// `GICD_IROUTER<n>` (GICv3), as a doubleword or either word half.
    /// Reads return IRM (bit 31) and Aff0 = the target vCPU. A write with
    /// IRM = 1 routes to vCPU 0; otherwise Aff1..Aff3 must be 0 and Aff0 a
    /// vCPU of the cell, or the write is ignored. A write to the upper
    /// half alone (Aff3) is ignored.
    fn irouter(
        &mut self,
        offset: u64,
        size: AccessSize,
        write: Option<u64>,
        actions: &mut impl FnMut(Action),
    ) -> u64 {
        let relative = offset - GICD_IROUTER;
        let intid = (relative / 8) as u32;
        let upper_half = !relative.is_multiple_of(8);
        if !self.owns(intid) {
            return 0;
        }
        if let Some(value) = write {
            if !upper_half {
                // A word write leaves Aff3 (upper half) at 0.
                let value = if size == AccessSize::Word {
                    value & 0xffff_ffff
                } else {
                    value
                };
                if value & IROUTER_IRM != 0 {
                    assign_bit(&mut self.irm, intid, true);
                    self.set_route(intid, 0, actions);
                } else if value & IROUTER_UPPER_AFF_MASK == 0
                    && ((value & IROUTER_AFF0_MASK) as usize) < self.vcpus
                {
                    assign_bit(&mut self.irm, intid, false);
                    self.set_route(intid, (value & IROUTER_AFF0_MASK) as u8, actions);
                }
            }
            return 0;
        }
        if upper_half {
            return 0;
        }
        let irm = if test_bit(&self.irm, intid) {
            IROUTER_IRM
        } else {
            0
        };
        irm | self.target_vcpu(intid) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::aarch64::model::vgic::private_irqs::spread_edges;

    static SPIS: [IrqNum; 5] = [
        IrqNum(33),
        IrqNum(40),
        IrqNum(64),
        IrqNum(100),
        IrqNum(2000),
    ];

    fn v2() -> VirtualDistributor {
        VirtualDistributor::new(GicVersion::V2, 128, &SPIS, 4)
    }

    fn v3() -> VirtualDistributor {
        VirtualDistributor::new(GicVersion::V3, 128, &SPIS, 4)
    }

    /// Runs one access, collecting the actions.
    fn run(
        dist: &mut VirtualDistributor,
        caller: usize,
        offset: u64,
        size: AccessSize,
        write: Option<u64>,
    ) -> (u64, Vec<Action>) {
        let mut actions = Vec::new();
        let value = dist.access(caller, offset, size, write, &mut |a| actions.push(a));
        (value, actions)
    }

    fn read(dist: &mut VirtualDistributor, caller: usize, offset: u64) -> u64 {
        run(dist, caller, offset, AccessSize::Word, None).0
    }

    fn write(dist: &mut VirtualDistributor, caller: usize, offset: u64, value: u64) -> Vec<Action> {
        run(dist, caller, offset, AccessSize::Word, Some(value)).1
    }

    #[test]
    fn const_constructible_in_a_static() {
        static DIST: VirtualDistributor = VirtualDistributor::new(GicVersion::V3, 96, &SPIS, 2);
        assert!(DIST.owns(33));
        assert!(!DIST.owns(100)); // beyond irq_count
        assert_eq!(DIST.vcpus(), 2);
    }

    #[test]
    fn ownership_filters_the_config_list() {
        let dist = v3();
        let owned: Vec<u32> = dist.owned_spis().collect();
        assert_eq!(owned, [33, 40, 64, 100]);
        assert!(!dist.owns(2000));
        assert!(!dist.owns(5));
        assert!(!dist.owns(u32::MAX));
        let clamped = VirtualDistributor::new(GicVersion::V2, 5000, &SPIS, 99);
        assert_eq!(clamped.irq_count(), MAX_IRQ_COUNT);
        assert_eq!(clamped.vcpus(), MAX_VCPUS);
        assert_eq!(
            VirtualDistributor::new(GicVersion::V2, 0, &SPIS, 1).irq_count(),
            32
        );
    }

    #[test]
    fn identification_registers() {
        let mut dist = v2();
        // ITLinesNumber = 128/32 - 1 = 3, CPUNumber = 4 - 1 = 3.
        assert_eq!(read(&mut dist, 0, 0x004), 3 | (3 << 5));
        assert_eq!(read(&mut dist, 0, 0x008), u64::from(BULKHEAD_IIDR));
        assert_eq!(read(&mut dist, 0, 0xfe8), 0x20);
        assert_eq!(read(&mut dist, 0, 0xffe8), 0); // beyond the 4 KiB frame
        let mut dist = v3();
        // ITLinesNumber 3, IDbits 9 in 23:19, no LPIs, no MBIS.
        assert_eq!(read(&mut dist, 0, 0x004), 3 | (9 << 19));
        assert_eq!(read(&mut dist, 0, 0xffe8), 0x30);
        assert_eq!(read(&mut dist, 0, 0xfe8), 0);
        // Not a multiple of 32: rounded up.
        let mut odd = VirtualDistributor::new(GicVersion::V3, 1020, &SPIS, 1);
        assert_eq!(read(&mut odd, 0, 0x004) & 0x1f, 31);
    }

    #[test]
    fn ctlr_v2_and_v3() {
        let mut dist = v2();
        assert!(!dist.enabled());
        write(&mut dist, 0, 0x000, 0xffff_ffff);
        assert_eq!(read(&mut dist, 0, 0x000), 1);
        assert!(dist.enabled());
        write(&mut dist, 0, 0x000, 0);
        assert!(!dist.enabled());

        let mut dist = v3();
        // ARE and DS read as one from reset.
        assert_eq!(read(&mut dist, 0, 0x000), (1 << 4) | (1 << 6));
        // What Linux writes: ARE_NS | EnableGrp1A | EnableGrp1.
        assert!(write(&mut dist, 0, 0x000, 0x13).is_empty());
        assert_eq!(read(&mut dist, 0, 0x000), 0x53);
        assert!(dist.enabled());
        write(&mut dist, 0, 0x000, 0);
        assert_eq!(read(&mut dist, 0, 0x000), 0x50); // ARE stays set
        assert!(!dist.enabled());
    }

    #[test]
    fn groups() {
        let mut dist = v3();
        // Word 1 = INTIDs 32..63: 33 and 40 owned.
        assert_eq!(read(&mut dist, 0, 0x084), (1 << 1) | (1 << 8));
        assert!(write(&mut dist, 0, 0x084, 0).is_empty());
        assert_eq!(read(&mut dist, 0, 0x084), (1 << 1) | (1 << 8));
        assert_eq!(read(&mut dist, 0, 0x080), 0);
        let mut dist = v2();
        assert_eq!(read(&mut dist, 0, 0x084), 0);
    }

    #[test]
    fn enable_owned_spis_only() {
        let mut dist = v3();
        // ISENABLER1: set every bit of INTIDs 32..63.
        let actions = write(&mut dist, 0, 0x104, 0xffff_ffff);
        assert_eq!(
            actions,
            [Action::Enable { intid: 33 }, Action::Enable { intid: 40 }]
        );
        assert_eq!(read(&mut dist, 0, 0x104), (1 << 1) | (1 << 8));
        assert_eq!(read(&mut dist, 0, 0x184), (1 << 1) | (1 << 8));
        assert!(dist.spi_enabled(33));
        assert!(!dist.spi_enabled(34));
        // ICENABLER1 bit 1 (INTID 33).
        let actions = write(&mut dist, 0, 0x184, 1 << 1);
        assert_eq!(actions, [Action::Disable { intid: 33 }]);
        assert!(!dist.spi_enabled(33));
        assert!(dist.spi_enabled(40));
        // Word 3 = INTIDs 96..127: 100 owned.
        let actions = write(&mut dist, 0, 0x10c, 1 << 4 | 1);
        assert_eq!(actions, [Action::Enable { intid: 100 }]);
        // Beyond irq_count and beyond any INTID: nothing.
        assert!(write(&mut dist, 0, 0x110, u64::MAX).is_empty());
        assert!(write(&mut dist, 0, 0x17c, u64::MAX).is_empty());
        assert_eq!(read(&mut dist, 0, 0x17c), 0);
    }

    #[test]
    fn pending_and_active_mirror() {
        let mut dist = v3();
        let actions = write(&mut dist, 0, 0x204, 1 << 8);
        assert_eq!(actions, [Action::SetPending { intid: 40 }]);
        assert_eq!(read(&mut dist, 0, 0x204), 1 << 8);
        assert_eq!(read(&mut dist, 0, 0x284), 1 << 8);
        assert_eq!(
            write(&mut dist, 0, 0x284, 1 << 8),
            [Action::ClearPending { intid: 40 }]
        );
        assert_eq!(
            write(&mut dist, 0, 0x308, 1),
            [Action::SetActive { intid: 64 }]
        );
        assert_eq!(read(&mut dist, 0, 0x388), 1);
        assert_eq!(
            write(&mut dist, 0, 0x388, 1),
            [Action::ClearActive { intid: 64 }]
        );
        // The arch layer reports injections and completions.
        dist.set_state(0, 33, true, false);
        assert_eq!(read(&mut dist, 0, 0x204), 1 << 1);
        dist.set_state(0, 33, false, true);
        assert_eq!(read(&mut dist, 0, 0x204), 0);
        assert_eq!(read(&mut dist, 0, 0x304), 1 << 1);
        dist.set_state(0, 34, true, true); // not owned: ignored
        assert_eq!(read(&mut dist, 0, 0x204), 0);
    }

    #[test]
    fn priorities_byte_and_word() {
        let mut dist = v3();
        // Byte write to INTID 33: top five bits kept.
        let (_, actions) = run(&mut dist, 0, 0x421, AccessSize::Byte, Some(0xa7));
        assert_eq!(
            actions,
            [Action::Priority {
                intid: 33,
                priority: 0xa0
            }]
        );
        assert_eq!(dist.spi_priority(33), 0xa0);
        assert_eq!(dist.priority(0, 33), 0xa0);
        assert_eq!(run(&mut dist, 0, 0x421, AccessSize::Byte, None).0, 0xa0);
        // Word write covering INTIDs 32..35: only 33 owned; unchanged value
        // emits nothing.
        let actions = write(&mut dist, 0, 0x420, 0x8080_a080);
        assert!(actions.is_empty());
        assert_eq!(read(&mut dist, 0, 0x420), 0x0000_a000);
        let actions = write(&mut dist, 0, 0x420, 0x0000_1000);
        assert_eq!(
            actions,
            [Action::Priority {
                intid: 33,
                priority: 0x10
            }]
        );
        // Halfword accesses are not supported.
        let (value, actions) = run(&mut dist, 0, 0x420, AccessSize::Half, Some(0xffff));
        assert_eq!((value, actions.len()), (0, 0));
        // GICv3: SGI/PPI priorities in GICD are RAZ/WI.
        write(&mut dist, 0, 0x400, 0xffff_ffff);
        assert_eq!(read(&mut dist, 0, 0x400), 0);
        assert_eq!(dist.priority(0, 0), 0);
        assert_eq!(dist.spi_priority(34), 0);
    }

    #[test]
    fn v2_banked_registers_are_per_vcpu() {
        let mut dist = v2();
        // vCPU 1 enables SGI 1 and PPI 27; vCPU 2 sees nothing.
        let actions = write(&mut dist, 1, 0x100, (1 << 1) | (1 << 27));
        assert_eq!(
            actions,
            [
                Action::PrivateEnable { vcpu: 1, intid: 1 },
                Action::PrivateEnable { vcpu: 1, intid: 27 }
            ]
        );
        assert_eq!(read(&mut dist, 1, 0x100), (1 << 1) | (1 << 27));
        assert_eq!(read(&mut dist, 2, 0x100), 0);
        assert!(dist.sgi_ppi_enabled(1, 27));
        assert!(!dist.sgi_ppi_enabled(2, 27));
        assert!(!dist.sgi_ppi_enabled(9, 27));
        assert_eq!(
            write(&mut dist, 1, 0x180, 1 << 1),
            [Action::PrivateDisable { vcpu: 1, intid: 1 }]
        );
        assert!(!dist.sgi_ppi_enabled(1, 1));
        // Priorities, byte-wise.
        run(&mut dist, 2, 0x41b, AccessSize::Byte, Some(0x48));
        assert_eq!(dist.priority(2, 27), 0x48);
        assert_eq!(dist.priority(1, 27), 0);
        assert_eq!(read(&mut dist, 2, 0x418), 0x4800_0000);
        // Pending: reported so the arch layer injects it.
        assert_eq!(
            write(&mut dist, 3, 0x200, 1 << 20),
            [Action::PrivatePending { vcpu: 3, intid: 20 }]
        );
        assert_eq!(read(&mut dist, 3, 0x200), 1 << 20);
        assert_eq!(
            write(&mut dist, 3, 0x280, 1 << 20),
            [Action::PrivateClearPending { vcpu: 3, intid: 20 }]
        );
        // Active: mirror only (Linux clears it at CPU bring-up).
        assert!(write(&mut dist, 3, 0x380, u64::from(u32::MAX)).is_empty());
        // An invalid caller sees RAZ/WI.
        assert!(write(&mut dist, 7, 0x100, 1).is_empty());
        assert_eq!(read(&mut dist, 7, 0x100), 0);
    }

    #[test]
    fn v3_banked_ranges_are_raz_wi() {
        let mut dist = v3();
        for offset in [0x100, 0x180, 0x200, 0x280, 0x300, 0x380, 0xc00, 0xc04] {
            assert!(write(&mut dist, 0, offset, u64::from(u32::MAX)).is_empty());
            assert_eq!(read(&mut dist, 0, offset), 0);
        }
        assert!(!dist.sgi_ppi_enabled(0, 1));
        assert!(dist.bank(0).is_none());
        // ITARGETSR and SGIR do not exist either.
        assert_eq!(read(&mut dist, 0, 0x800), 0);
        assert!(write(&mut dist, 0, 0xf00, 0x0001_0001).is_empty());
    }

    #[test]
    fn config_registers() {
        let mut dist = v2();
        // ICFGR0: SGIs read as edge, writes ignored.
        assert_eq!(read(&mut dist, 0, 0xc00), u64::from(ICFGR_SGI_EDGE));
        write(&mut dist, 0, 0xc00, 0);
        assert_eq!(read(&mut dist, 0, 0xc00), u64::from(ICFGR_SGI_EDGE));
        // ICFGR1: PPIs writable except the timers (26..=30), per vCPU.
        write(&mut dist, 0, 0xc04, 0xffff_ffff);
        let expected = spread_edges(0xffff & !(0b11111 << 10));
        assert_eq!(read(&mut dist, 0, 0xc04), u64::from(expected));
        assert_eq!(read(&mut dist, 1, 0xc04), 0);
        assert!(dist.bank(0).unwrap().edge(16));
        assert!(!dist.bank(0).unwrap().edge(27));
        assert!(dist.bank(0).unwrap().edge(3));
        // ICFGR2 = INTIDs 32..47: INTID 33 is bit 3, INTID 40 bit 17.
        let actions = write(&mut dist, 0, 0xc08, u64::from(u32::MAX));
        assert_eq!(
            actions,
            [
                Action::Config {
                    intid: 33,
                    edge: true
                },
                Action::Config {
                    intid: 40,
                    edge: true
                }
            ]
        );
        assert_eq!(read(&mut dist, 0, 0xc08), (1 << 3) | (1 << 17));
        assert!(dist.spi_edge(33));
        // Rewriting the same value emits nothing.
        assert!(write(&mut dist, 0, 0xc08, (1 << 3) | (1 << 17)).is_empty());
        assert_eq!(
            write(&mut dist, 0, 0xc08, 1 << 17),
            [Action::Config {
                intid: 33,
                edge: false
            }]
        );
    }

    #[test]
    fn v2_targets() {
        let mut dist = v2();
        // ITARGETSR0..7 read the caller's own interface bit in every byte.
        assert_eq!(read(&mut dist, 0, 0x800), 0x0101_0101);
        assert_eq!(read(&mut dist, 2, 0x81c), 0x0404_0404);
        assert_eq!(run(&mut dist, 3, 0x805, AccessSize::Byte, None).0, 0x08);
        assert_eq!(read(&mut dist, 8, 0x800), 0);
        write(&mut dist, 0, 0x800, 0);
        assert_eq!(read(&mut dist, 0, 0x800), 0x0101_0101);
        // Byte write for INTID 40 to vCPU 2.
        let (_, actions) = run(&mut dist, 0, 0x828, AccessSize::Byte, Some(0x04));
        assert_eq!(actions, [Action::Route { intid: 40, vcpu: 2 }]);
        assert_eq!(dist.target_vcpu(40), 2);
        // Several targets: the lowest wins; bits beyond vCPU 3 dropped.
        let (_, actions) = run(&mut dist, 0, 0x828, AccessSize::Byte, Some(0xfa));
        assert_eq!(actions, [Action::Route { intid: 40, vcpu: 1 }]);
        assert_eq!(run(&mut dist, 0, 0x828, AccessSize::Byte, None).0, 0x0a);
        // Only vCPUs beyond the cell: stored empty, routing unchanged.
        let (_, actions) = run(&mut dist, 0, 0x828, AccessSize::Byte, Some(0xf0));
        assert!(actions.is_empty());
        assert_eq!(dist.target_vcpu(40), 1);
        assert_eq!(run(&mut dist, 0, 0x828, AccessSize::Byte, None).0, 0);
        // Word write over INTIDs 32..35: only 33 owned.
        let actions = write(&mut dist, 0, 0x820, 0x0808_0808);
        assert_eq!(actions, [Action::Route { intid: 33, vcpu: 3 }]);
        assert_eq!(read(&mut dist, 0, 0x820), 0x0000_0800);
        // Unowned SPI.
        assert_eq!(run(&mut dist, 0, 0x822, AccessSize::Byte, None).0, 0);
        assert_eq!(dist.target_vcpu(34), 0);
    }

    #[test]
    fn v2_sgir() {
        let mut dist = v2();
        let sgir = |filter: u64, list: u64, intid: u64| (filter << 24) | (list << 16) | intid;
        // Filter 0: the list, masked to the cell's four vCPUs.
        assert_eq!(
            write(&mut dist, 1, 0xf00, sgir(0, 0xf6, 5)),
            [Action::SendSgi {
                intid: 5,
                targets: 0x6
            }]
        );
        // Filter 1: all but the caller.
        assert_eq!(
            write(&mut dist, 1, 0xf00, sgir(1, 0, 3)),
            [Action::SendSgi {
                intid: 3,
                targets: 0b1101
            }]
        );
        // Filter 2: the caller only.
        assert_eq!(
            write(&mut dist, 2, 0xf00, sgir(2, 0xff, 15)),
            [Action::SendSgi {
                intid: 15,
                targets: 0b0100
            }]
        );
        // Reserved filter, empty list, invalid caller: nothing.
        assert!(write(&mut dist, 0, 0xf00, sgir(3, 0xff, 1)).is_empty());
        assert!(write(&mut dist, 0, 0xf00, sgir(0, 0xf0, 1)).is_empty());
        assert!(write(&mut dist, 4, 0xf00, sgir(2, 0, 1)).is_empty());
        // Write-only.
        assert_eq!(read(&mut dist, 0, 0xf00), 0);
        // A single-vCPU cell sending to "all but self" sends nothing.
        let mut single = VirtualDistributor::new(GicVersion::V2, 64, &SPIS, 1);
        assert!(write(&mut single, 0, 0xf00, sgir(1, 0, 1)).is_empty());
    }

    #[test]
    fn v3_irouter() {
        let mut dist = v3();
        let irouter = |intid: u64| 0x6000 + 8 * intid;
        // Doubleword write with Aff0 = 3.
        let (_, actions) = run(&mut dist, 0, irouter(40), AccessSize::Double, Some(3));
        assert_eq!(actions, [Action::Route { intid: 40, vcpu: 3 }]);
        assert_eq!(dist.target_vcpu(40), 3);
        assert_eq!(
            run(&mut dist, 0, irouter(40), AccessSize::Double, None).0,
            3
        );
        // Aff0 beyond the cell, Aff1 or Aff3 set: ignored.
        for value in [4u64, 0x100, 1 << 32 | 1] {
            let (_, actions) = run(&mut dist, 0, irouter(40), AccessSize::Double, Some(value));
            assert!(actions.is_empty(), "{value:#x}");
            assert_eq!(dist.target_vcpu(40), 3);
        }
        // IRM = 1: 1-of-N, delivered to vCPU 0; reads back IRM.
        let (_, actions) = run(
            &mut dist,
            0,
            irouter(40),
            AccessSize::Double,
            Some(1 << 31 | 2),
        );
        assert_eq!(actions, [Action::Route { intid: 40, vcpu: 0 }]);
        assert_eq!(read(&mut dist, 0, irouter(40)), 1 << 31);
        // Word halves: low half routes, high half (Aff3) is ignored.
        assert_eq!(
            write(&mut dist, 0, irouter(40), 1),
            [Action::Route { intid: 40, vcpu: 1 }]
        );
        assert_eq!(read(&mut dist, 0, irouter(40)), 1);
        assert!(write(&mut dist, 0, irouter(40) + 4, 0xff).is_empty());
        assert_eq!(read(&mut dist, 0, irouter(40) + 4), 0);
        assert_eq!(dist.target_vcpu(40), 1);
        // Unowned SPI, SGI range, misaligned doubleword: RAZ/WI.
        assert!(write(&mut dist, 0, irouter(41), 1).is_empty());
        assert_eq!(read(&mut dist, 0, irouter(41)), 0);
        assert!(write(&mut dist, 0, irouter(5), 1).is_empty());
        let (value, actions) = run(&mut dist, 0, irouter(40) + 4, AccessSize::Double, Some(2));
        assert_eq!((value, actions.len()), (0, 0));
        // GICv2 has no IROUTER.
        let mut dist = v2();
        assert!(write(&mut dist, 0, irouter(40), 1).is_empty());
    }

    #[test]
    fn reset_restores_and_syncs() {
        let mut dist = v3();
        write(&mut dist, 0, 0x000, 0x12);
        write(&mut dist, 0, 0x104, u64::from(u32::MAX));
        run(&mut dist, 0, 0x6000 + 8 * 33, AccessSize::Double, Some(2));
        let mut actions = Vec::new();
        dist.reset(&mut |a| actions.push(a));
        assert_eq!(actions.len(), 6 * 4);
        assert_eq!(
            actions[..6],
            [
                Action::Disable { intid: 33 },
                Action::ClearPending { intid: 33 },
                Action::ClearActive { intid: 33 },
                Action::Priority {
                    intid: 33,
                    priority: 0
                },
                Action::Config {
                    intid: 33,
                    edge: false
                },
                Action::Route { intid: 33, vcpu: 0 },
            ]
        );
        assert!(!dist.enabled());
        assert!(!dist.spi_enabled(33));
        assert_eq!(dist.target_vcpu(33), 0);
    }

    #[test]
    fn misaligned_and_out_of_frame_accesses() {
        let mut dist = v3();
        assert!(write(&mut dist, 0, 0x105, u64::MAX).is_empty());
        assert_eq!(read(&mut dist, 0, 0x106), 0);
        assert!(
            run(&mut dist, 0, 0x104, AccessSize::Byte, Some(0xff))
                .1
                .is_empty()
        );
        assert!(
            run(&mut dist, 0, 0x104, AccessSize::Double, Some(u64::MAX))
                .1
                .is_empty()
        );
        assert_eq!(read(&mut dist, 0, 0x1_0000), 0);
        assert_eq!(read(&mut dist, 0, u64::MAX - 3), 0);
        // Writes return 0 even for readable registers.
        assert_eq!(run(&mut dist, 0, 0x004, AccessSize::Word, Some(0)).0, 0);
    }

    #[test]
    fn every_access_has_a_defined_answer() {
        for mut dist in [v2(), v3()] {
            for caller in [0, 3, 4, usize::MAX] {
                for offset in 0..0x1_0040u64 {
                    for size in [
                        AccessSize::Byte,
                        AccessSize::Half,
                        AccessSize::Word,
                        AccessSize::Double,
                    ] {
                        let value = dist.access(caller, offset, size, None, &mut |_| {});
                        assert_eq!(value & !size.mask(), 0);
                        dist.access(caller, offset, size, Some(u64::MAX), &mut |action| {
                            if let Action::Route { vcpu, .. } = action {
                                assert!(vcpu < 4);
                            }
                            if let Action::SendSgi { targets, .. } = action {
                                assert!(targets != 0 && targets < 16);
                            }
                        });
                    }
                }
            }
        }
    }
}
