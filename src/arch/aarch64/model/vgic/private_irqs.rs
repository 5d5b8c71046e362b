//! One vCPU's virtual SGIs and PPIs ([`PrivateIrqs`]), shared by the GICv2
//! banked GICD registers and the GICv3 redistributor's SGI frame, and the
//! set/clear bit registers both frames lay out the same way.

use super::action::Action;
use super::intid::{PRIORITY_MASK, PRIVATE_COUNT, SGI_COUNT, is_timer_ppi};

/// Offset of ISENABLER0 in GICD and in the GICR SGI frame.
const ISENABLER: u64 = 0x0100;
/// Offset of IPRIORITYR0, the first register after the bit registers.
const IPRIORITYR: u64 = 0x0400;

/// Which of the set/clear bitmap registers (at 0x100 + 0x80 * kind in both
/// GICD and the GICR SGI frame) an access names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BitRegister {
    SetEnable,
    ClearEnable,
    SetPending,
    ClearPending,
    SetActive,
    ClearActive,
}

impl BitRegister {
    /// Decodes an offset in `0x100..0x400` into the register and the word
    /// index `n` (INTIDs `32n..32n+31`).
    pub(crate) const fn decode(offset: u64) -> Option<(Self, usize)> {
        if offset < ISENABLER || offset >= IPRIORITYR {
            return None;
        }
        let relative = offset - ISENABLER;
        let register = match relative / 0x80 {
            0 => Self::SetEnable,
            1 => Self::ClearEnable,
            2 => Self::SetPending,
            3 => Self::ClearPending,
            4 => Self::SetActive,
            _ => Self::ClearActive,
        };
        Some((register, ((relative % 0x80) / 4) as usize))
    }
}

/// Virtual state of one vCPU's SGIs and PPIs (INTIDs 0..31), bit `i` or
/// entry `i` for INTID `i`. Shared by the GICv2 banked GICD registers and
/// the GICv3 redistributor's SGI frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PrivateIrqs {
    enabled: u32,
    pending: u32,
    active: u32,
    /// Trigger mode, 1 = edge. SGIs are always edge.
    edge: u32,
    priority: [u8; PRIVATE_COUNT as usize],
}

/// Edge bits of the reset state: SGIs edge, PPIs level.
const PRIVATE_RESET_EDGE: u32 = 0x0000_ffff;

impl PrivateIrqs {
    /// The reset state: everything disabled, idle, priority 0, SGIs edge,
    /// PPIs level.
    pub(crate) const fn new() -> Self {
        Self {
            enabled: 0,
            pending: 0,
            active: 0,
            edge: PRIVATE_RESET_EDGE,
            priority: [0; PRIVATE_COUNT as usize],
        }
    }

    /// Whether SGI/PPI `intid` is enabled (`false` for `intid >= 32`).
    #[cfg(test)]
    pub(crate) const fn enabled(&self, intid: u32) -> bool {
        intid < PRIVATE_COUNT && self.enabled & (1 << intid) != 0
    }

    /// Whether SGI/PPI `intid` is pending in the virtual mirror.
    #[cfg(test)]
    pub(crate) const fn pending(&self, intid: u32) -> bool {
        intid < PRIVATE_COUNT && self.pending & (1 << intid) != 0
    }

    /// Whether SGI/PPI `intid` is active in the virtual mirror.
    #[cfg(test)]
    pub(crate) const fn active(&self, intid: u32) -> bool {
        intid < PRIVATE_COUNT && self.active & (1 << intid) != 0
    }

    /// Whether SGI/PPI `intid` is edge-triggered.
    #[cfg(test)]
    pub(crate) const fn edge(&self, intid: u32) -> bool {
        intid < PRIVATE_COUNT && self.edge & (1 << intid) != 0
    }

    /// Priority of SGI/PPI `intid` (0 for `intid >= 32`).
    pub(crate) fn priority(&self, intid: u32) -> u8 {
        self.priority.get(intid as usize).copied().unwrap_or(0)
    }

    /// Updates the pending/active mirror of `intid` (the arch layer reports
    /// what it injected and what the guest completed); ignored for
    /// `intid >= 32`.
    #[cfg(test)]
    pub(crate) fn set_state(&mut self, intid: u32, pending: bool, active: bool) {
        if intid < PRIVATE_COUNT {
            let bit = 1u32 << intid;
            self.pending = if pending {
                self.pending | bit
            } else {
                self.pending & !bit
            };
            self.active = if active {
                self.active | bit
            } else {
                self.active & !bit
            };
        }
    }

    /// Reads a set/clear bitmap register (both halves read the state).
    pub(crate) const fn read_bits(&self, register: BitRegister) -> u32 {
        match register {
            BitRegister::SetEnable | BitRegister::ClearEnable => self.enabled,
            BitRegister::SetPending | BitRegister::ClearPending => self.pending,
            BitRegister::SetActive | BitRegister::ClearActive => self.active,
        }
    }

    /// Writes a set/clear bitmap register of vCPU `vcpu`: every 1 bit sets
    /// or clears the state; enable and pending changes are reported.
    pub(crate) fn write_bits(
        &mut self,
        vcpu: usize,
        register: BitRegister,
        value: u32,
        actions: &mut impl FnMut(Action),
    ) {
        match register {
            BitRegister::SetEnable => self.enabled |= value,
            BitRegister::ClearEnable => self.enabled &= !value,
            BitRegister::SetPending => self.pending |= value,
            BitRegister::ClearPending => self.pending &= !value,
            BitRegister::SetActive => self.active |= value,
            BitRegister::ClearActive => self.active &= !value,
        }
        for intid in set_bits(value) {
            let action = match register {
                BitRegister::SetEnable => Action::PrivateEnable { vcpu, intid },
                BitRegister::ClearEnable => Action::PrivateDisable { vcpu, intid },
                BitRegister::SetPending => Action::PrivatePending { vcpu, intid },
                BitRegister::ClearPending => Action::PrivateClearPending { vcpu, intid },
                BitRegister::SetActive | BitRegister::ClearActive => continue,
            };
            actions(action);
        }
    }

    /// Writes the priority of `intid` (top five bits kept).
    pub(crate) fn write_priority(&mut self, intid: u32, priority: u8) {
        if let Some(slot) = self.priority.get_mut(intid as usize) {
            *slot = priority & PRIORITY_MASK;
        }
    }

    /// ICFGR1 as read: bit 2n+1 set for each edge-triggered PPI `16 + n`.
    pub(crate) const fn read_ppi_config(&self) -> u32 {
        spread_edges(self.edge >> SGI_COUNT)
    }

    /// Writes ICFGR1: PPIs take the written trigger mode, except the timer
    /// PPIs, which stay level-sensitive.
    pub(crate) fn write_ppi_config(&mut self, value: u32) {
        for n in 0..SGI_COUNT {
            let intid = SGI_COUNT + n;
            if is_timer_ppi(intid) {
                continue;
            }
            let bit = 1u32 << intid;
            if value & (1 << (2 * n + 1)) != 0 {
                self.edge |= bit;
            } else {
                self.edge &= !bit;
            }
        }
    }
}

impl Default for PrivateIrqs {
    fn default() -> Self {
        Self::new()
    }
}

/// Expands 16 edge flags into ICFGR layout (flag `n` to bit `2n+1`).
pub(crate) const fn spread_edges(flags: u32) -> u32 {
    let mut value = 0;
    let mut n = 0;
    while n < 16 {
        if flags & (1 << n) != 0 {
            value |= 1 << (2 * n + 1);
        }
        n += 1;
    }
    value
}

/// Iterates over the positions of the 1 bits of `value`, lowest first.
pub(crate) fn set_bits(value: u32) -> impl Iterator<Item = u32> {
    (0..32).filter(move |&bit| value & (1 << bit) != 0)
}
