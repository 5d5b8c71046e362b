//! Virtual GICv3 redistributors of one cell: one RD_base + SGI_base per vCPU.
//!
//! The guest sees `vcpus` redistributor frames at the platform's GICR base,
//! each 128 KiB ([`FRAME_STRIDE`]): the 64 KiB RD_base frame (control,
//! identification, power management) followed by the 64 KiB SGI_base frame
//! (the SGI/PPI registers). Frame `i` belongs to vCPU `i`, whose virtual
//! MPIDR has Aff0 = `i` and Aff1..Aff3 = 0; GICR_TYPER says so, and sets
//! Last in the final frame, which is how Linux finds its redistributor.
//! A guest may access any frame of its cell, not just its own.
//!
//! SGIs and PPIs are purely virtual: each vCPU's state (enable, pending,
//! active, priority, trigger) is a [`PrivateIrqs`] shared with the GICv2
//! banked distributor registers; the hypervisor injects them through list
//! registers (`super::list`). Enable and pending changes are reported as
//! [`Action`]s so the arch layer can unmask a hardware-backed PPI (the
//! timer) or inject and retract.
//!
//! Registers: GICR_CTLR (no LPIs: RAZ/WI, RWP never set), GICR_IIDR,
//! GICR_TYPER (64-bit, or either 32-bit half), GICR_WAKER (the
//! ProcessorSleep/ChildrenAsleep handshake: ChildrenAsleep follows
//! ProcessorSleep at once), GICR_PIDR2 (ArchRev 3); in SGI_base:
//! IGROUPR0 (RAO/WI: Group 1 only), ISENABLER0/ICENABLER0,
//! ISPENDR0/ICPENDR0, ISACTIVER0/ICACTIVER0, IPRIORITYR0..7 (byte or word),
//! ICFGR0 (SGIs, read-only edge) and ICFGR1 (PPIs; the timer PPIs stay
//! level). Everything else (LPI registers, IGRPMODR0, NSACR, extended PPIs,
//! unaligned or wrongly sized accesses) and every frame beyond the cell's
//! vCPUs reads as zero and ignores writes.
//!
//! [`decode_sgi1r`] turns a trapped ICC_SGI1R_EL1 write into the same
//! [`Action::SendSgi`] the GICv2 GICD_SGIR produces.
//!
//! Every entry point takes guest-controlled values and never panics.

use super::action::Action;
use super::intid::{BULKHEAD_IIDR, ICFGR_SGI_EDGE, MAX_VCPUS, PRIVATE_COUNT};
use super::private_irqs::{BitRegister, PrivateIrqs};
use crate::cell::access::AccessSize;

/// Size of one vCPU's redistributor (RD_base + SGI_base).
pub(crate) const FRAME_STRIDE: u64 = 0x2_0000;
/// Offset of the SGI_base frame within a redistributor.
pub(crate) const SGI_BASE: u64 = 0x1_0000;

// RD_base registers.
const GICR_CTLR: u64 = 0x0000;
const GICR_IIDR: u64 = 0x0004;
const GICR_TYPER: u64 = 0x0008;
const GICR_TYPER_HIGH: u64 = 0x000c;
const GICR_WAKER: u64 = 0x0014;
const GICR_PIDR2: u64 = 0xffe8;

// SGI_base registers (relative to SGI_base).
const GICR_IGROUPR0: u64 = 0x0080;
const GICR_ISENABLER0: u64 = 0x0100;
const GICR_IPRIORITYR: u64 = 0x0400;
const GICR_IPRIORITYR_END: u64 = 0x0420;
const GICR_ICFGR0: u64 = 0x0c00;
const GICR_ICFGR1: u64 = 0x0c04;

// GICR_TYPER fields.
const TYPER_LAST: u64 = 1 << 4; // Last, bit 4
const TYPER_PROCESSOR_NUMBER_SHIFT: u32 = 8; // Processor_Number, bits 23:8
const TYPER_AFFINITY_SHIFT: u32 = 32; // Affinity (Aff3.Aff2.Aff1.Aff0), 63:32

// GICR_WAKER fields.
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;

/// GICR_PIDR2 value: ArchRev (bits 7:4) = 3.
const PIDR2_GICV3: u32 = 3 << 4;

/// Splits an offset in the cell's GICR region into the frame (vCPU) index
/// and the offset inside that frame.
#[cfg(test)]
pub(crate) fn split_offset(offset: u64) -> (usize, u64) {
    let frame = usize::try_from(offset / FRAME_STRIDE).unwrap_or(usize::MAX);
    (frame, offset % FRAME_STRIDE)
}

/// One vCPU's redistributor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Frame {
    waker: u32,
    irqs: PrivateIrqs,
}

impl Frame {
    /// Reset state: asleep (ProcessorSleep = ChildrenAsleep = 1), all
    /// SGIs/PPIs disabled and idle.
    const RESET: Self = Self {
        waker: WAKER_PROCESSOR_SLEEP | WAKER_CHILDREN_ASLEEP,
        irqs: PrivateIrqs::new(),
    };
}

/// The redistributors of one cell's vCPUs. Const-constructible, no heap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VirtualRedistributors {
    vcpus: usize,
    frames: [Frame; MAX_VCPUS],
}

impl VirtualRedistributors {
    /// Redistributors in their reset state for `vcpus` vCPUs (clamped to
    /// [`MAX_VCPUS`]).
    pub(crate) const fn new(vcpus: usize) -> Self {
        Self {
            vcpus: if vcpus > MAX_VCPUS { MAX_VCPUS } else { vcpus },
            frames: [Frame::RESET; MAX_VCPUS],
        }
    }

    /// Returns every frame to its reset state (cell start or restart).
    #[cfg(test)]
    pub(crate) fn reset(&mut self) {
        self.frames = [Frame::RESET; MAX_VCPUS];
    }

    /// Number of frames the guest sees (the cell's vCPUs).
    #[cfg(test)]
    pub(crate) const fn vcpus(&self) -> usize {
        self.vcpus
    }

    /// The SGI/PPI state of vCPU `vcpu` (`None` beyond the cell's vCPUs).
    pub(crate) fn irqs(&self, vcpu: usize) -> Option<&PrivateIrqs> {
        self.frame(vcpu).map(|frame| &frame.irqs)
    }

    /// Whether SGI/PPI `intid` of vCPU `vcpu` is enabled (`false` for an
    /// invalid vCPU or INTID).
    #[cfg(test)]
    pub(crate) fn enabled(&self, vcpu: usize, intid: u32) -> bool {
        self.irqs(vcpu).is_some_and(|irqs| irqs.enabled(intid))
    }

    /// Priority of SGI/PPI `intid` of vCPU `vcpu` (0 for an invalid vCPU or
    /// INTID).
    pub(crate) fn priority(&self, vcpu: usize, intid: u32) -> u8 {
        self.irqs(vcpu).map_or(0, |irqs| irqs.priority(intid))
    }

    /// Whether vCPU `vcpu`'s redistributor is awake (the guest cleared
    /// GICR_WAKER.ProcessorSleep).
    #[cfg(test)]
    pub(crate) fn awake(&self, vcpu: usize) -> bool {
        self.frame(vcpu)
            .is_some_and(|frame| frame.waker & WAKER_PROCESSOR_SLEEP == 0)
    }

    /// Updates the pending/active mirror of SGI/PPI `intid` of vCPU `vcpu`
    /// (the arch layer reports injections and completions); ignored for an
    /// invalid vCPU or INTID.
    #[cfg(test)]
    pub(crate) fn set_state(&mut self, vcpu: usize, intid: u32, pending: bool, active: bool) {
        if let Some(frame) = self.frame_mut(vcpu) {
            frame.irqs.set_state(intid, pending, active);
        }
    }

    fn frame(&self, vcpu: usize) -> Option<&Frame> {
        if vcpu < self.vcpus {
            self.frames.get(vcpu)
        } else {
            None
        }
    }

    fn frame_mut(&mut self, vcpu: usize) -> Option<&mut Frame> {
        if vcpu < self.vcpus {
            self.frames.get_mut(vcpu)
        } else {
            None
        }
    }

    /// Emulates one trapped access to redistributor `vcpu_frame` at
    /// `offset_in_frame` (`split_offset` splits a frame-region offset): `write` is `Some(value)`
    /// for a store (only the low `size` bytes count). Returns the value a
    /// load reads (zero-extended) and 0 for a store.
    pub(crate) fn access(
        &mut self,
        vcpu_frame: usize,
        offset_in_frame: u64,
        size: AccessSize,
        write: Option<u64>,
        actions: &mut impl FnMut(Action),
    ) -> u64 {
        let write = write.map(|value| value & size.mask());
        let last = self.vcpus.checked_sub(1) == Some(vcpu_frame);
        let Some(frame) = self.frame_mut(vcpu_frame) else {
            return 0;
        };
        if offset_in_frame >= FRAME_STRIDE || !offset_in_frame.is_multiple_of(size.bytes()) {
            return 0;
        }
        let read = if offset_in_frame >= SGI_BASE {
            let offset = offset_in_frame - SGI_BASE;
            u64::from(sgi_frame(frame, vcpu_frame, offset, size, write, actions))
        } else {
            rd_frame(frame, vcpu_frame, last, offset_in_frame, size, write)
        };
        if write.is_some() { 0 } else { read }
    }
}

/// GICR_TYPER of frame `vcpu`: Affinity = Aff0 `vcpu`, Processor_Number
/// `vcpu`, Last on the final frame; PLPIS, VLPIS, DirectLPI, DPGS and
/// PPInum are 0 (no LPIs, PPIs 16..31 only).
fn typer(vcpu: usize, last: bool) -> u64 {
    let index = vcpu as u64 & 0xff;
    let last = if last { TYPER_LAST } else { 0 };
    (index << TYPER_AFFINITY_SHIFT) | (index << TYPER_PROCESSOR_NUMBER_SHIFT) | last
}

/// An RD_base access.
fn rd_frame(
    frame: &mut Frame,
    vcpu: usize,
    last: bool,
    offset: u64,
    size: AccessSize,
    write: Option<u64>,
) -> u64 {
    match (offset, size) {
        (GICR_CTLR, AccessSize::Word) => 0,
        (GICR_IIDR, AccessSize::Word) => u64::from(BULKHEAD_IIDR),
        (GICR_TYPER, AccessSize::Double) => typer(vcpu, last),
        (GICR_TYPER, AccessSize::Word) => typer(vcpu, last) & 0xffff_ffff,
        (GICR_TYPER_HIGH, AccessSize::Word) => typer(vcpu, last) >> 32,
        (GICR_WAKER, AccessSize::Word) => {
            if let Some(value) = write {
                frame.waker = if value as u32 & WAKER_PROCESSOR_SLEEP != 0 {
                    WAKER_PROCESSOR_SLEEP | WAKER_CHILDREN_ASLEEP
                } else {
                    0
                };
            }
            u64::from(frame.waker)
        }
        (GICR_PIDR2, AccessSize::Word) => u64::from(PIDR2_GICV3),
        _ => 0,
    }
}

/// An SGI_base access (`offset` relative to SGI_base).
fn sgi_frame(
    frame: &mut Frame,
    vcpu: usize,
    offset: u64,
    size: AccessSize,
    write: Option<u64>,
    actions: &mut impl FnMut(Action),
) -> u32 {
    let irqs = &mut frame.irqs;
    match (offset, size) {
        (GICR_IGROUPR0, AccessSize::Word) => u32::MAX,
        (GICR_ISENABLER0..GICR_IPRIORITYR, AccessSize::Word) => {
            // Only word 0 exists (INTIDs 0..31); the rest is reserved or
            // the extended PPI range.
            match BitRegister::decode(offset) {
                Some((register, 0)) => {
                    if let Some(value) = write {
                        irqs.write_bits(vcpu, register, value as u32, actions);
                    }
                    irqs.read_bits(register)
                }
                _ => 0,
            }
        }
        (GICR_IPRIORITYR..GICR_IPRIORITYR_END, AccessSize::Byte | AccessSize::Word) => {
            let first = (offset - GICR_IPRIORITYR) as u32;
            let mut read = 0u32;
            for i in 0..size.bytes().min(4) as u32 {
                let intid = first + i;
                if intid >= PRIVATE_COUNT {
                    break;
                }
                if let Some(value) = write {
                    irqs.write_priority(intid, (value >> (8 * i)) as u8);
                }
                read |= u32::from(irqs.priority(intid)) << (8 * i);
            }
            read
        }
        (GICR_ICFGR0, AccessSize::Word) => ICFGR_SGI_EDGE,
        (GICR_ICFGR1, AccessSize::Word) => {
            if let Some(value) = write {
                irqs.write_ppi_config(value as u32);
            }
            irqs.read_ppi_config()
        }
        _ => 0,
    }
}

// ICC_SGI1R_EL1 fields.
const SGI1R_TARGET_LIST_MASK: u64 = 0xffff; // TargetList, bits 15:0
const SGI1R_AFF1_MASK: u64 = 0xff << 16; // Aff1, bits 23:16
const SGI1R_INTID_SHIFT: u32 = 24; // INTID, bits 27:24
const SGI1R_AFF2_MASK: u64 = 0xff << 32; // Aff2, bits 39:32
const SGI1R_IRM: u64 = 1 << 40; // IRM, bit 40
const SGI1R_RS_MASK: u64 = 0xf << 44; // RS, bits 47:44
const SGI1R_AFF3_MASK: u64 = 0xff << 48; // Aff3, bits 55:48

/// Decodes a trapped write of `value` to ICC_SGI1R_EL1 by vCPU `caller` of
/// a cell with `vcpus` vCPUs (virtual MPIDR: Aff0 = vCPU index, upper
/// affinities 0). IRM = 1 targets every vCPU but the caller. Otherwise the
/// target list names Aff0 values 0..15 of cluster Aff3.Aff2.Aff1; a
/// cluster other than 0.0.0 or a range selector other than 0 names no vCPU
/// of the cell. Returns [`Action::SendSgi`], or `None` when no vCPU of the
/// cell is targeted (or `caller` is not one of them).
pub(crate) fn decode_sgi1r(value: u64, caller: usize, vcpus: usize) -> Option<Action> {
    let vcpus = vcpus.min(MAX_VCPUS);
    if caller >= vcpus {
        return None;
    }
    let all = ((1u16 << vcpus) - 1) as u8;
    let intid = ((value >> SGI1R_INTID_SHIFT) & 0xf) as u32;
    let targets = if value & SGI1R_IRM != 0 {
        all & !(1u8 << caller)
    } else if value & (SGI1R_AFF1_MASK | SGI1R_AFF2_MASK | SGI1R_AFF3_MASK | SGI1R_RS_MASK) != 0 {
        0
    } else {
        (value & SGI1R_TARGET_LIST_MASK) as u8 & all
    };
    (targets != 0).then_some(Action::SendSgi { intid, targets })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        rd: &mut VirtualRedistributors,
        frame: usize,
        offset: u64,
        size: AccessSize,
        write: Option<u64>,
    ) -> (u64, Vec<Action>) {
        let mut actions = Vec::new();
        let value = rd.access(frame, offset, size, write, &mut |a| actions.push(a));
        (value, actions)
    }

    fn read(rd: &mut VirtualRedistributors, frame: usize, offset: u64) -> u64 {
        run(rd, frame, offset, AccessSize::Word, None).0
    }

    fn write(rd: &mut VirtualRedistributors, frame: usize, offset: u64, value: u64) -> Vec<Action> {
        run(rd, frame, offset, AccessSize::Word, Some(value)).1
    }

    #[test]
    fn typer_identifies_each_vcpu() {
        let mut rd = VirtualRedistributors::new(3);
        for vcpu in 0..3u64 {
            let typer = run(&mut rd, vcpu as usize, 0x8, AccessSize::Double, None).0;
            let last = if vcpu == 2 { 1 << 4 } else { 0 };
            // Aff0 in 39:32, Processor_Number in 23:8, Last in 4.
            assert_eq!(typer, (vcpu << 32) | (vcpu << 8) | last);
            assert_eq!(read(&mut rd, vcpu as usize, 0x8), typer & 0xffff_ffff);
            assert_eq!(read(&mut rd, vcpu as usize, 0xc), typer >> 32);
        }
        assert_eq!(read(&mut rd, 0, 0xffe8), 0x30);
        assert_eq!(read(&mut rd, 1, 0x4), u64::from(BULKHEAD_IIDR));
        assert_eq!(read(&mut rd, 0, 0x0), 0);
    }

    #[test]
    fn linux_style_probe_finds_every_vcpu() {
        // gic_iterate_rdists: walk frames while PIDR2 says GICv3, match
        // TYPER's affinity against the MPIDR, stop at Last.
        let mut rd = VirtualRedistributors::new(4);
        for mpidr_aff0 in 0..4u64 {
            let mut base = 0;
            let found = loop {
                let (frame, offset) = split_offset(base);
                assert_eq!(read(&mut rd, frame, offset + 0xffe8) & 0xf0, 0x30);
                let typer = run(&mut rd, frame, offset + 8, AccessSize::Double, None).0;
                if typer >> 32 == mpidr_aff0 {
                    break Some(frame);
                }
                if typer & (1 << 4) != 0 {
                    break None;
                }
                base += FRAME_STRIDE;
            };
            assert_eq!(found, Some(mpidr_aff0 as usize));
        }
    }

    #[test]
    fn waker_handshake() {
        let mut rd = VirtualRedistributors::new(2);
        assert_eq!(read(&mut rd, 1, 0x14), 0b110);
        assert!(!rd.awake(1));
        write(&mut rd, 1, 0x14, 0);
        assert_eq!(read(&mut rd, 1, 0x14), 0);
        assert!(rd.awake(1));
        assert!(!rd.awake(0));
        write(&mut rd, 1, 0x14, 0b10);
        assert_eq!(read(&mut rd, 1, 0x14), 0b110);
        rd.reset();
        assert_eq!(read(&mut rd, 1, 0x14), 0b110);
    }

    #[test]
    fn sgi_frame_registers() {
        let mut rd = VirtualRedistributors::new(2);
        let sgi = SGI_BASE;
        assert_eq!(read(&mut rd, 0, sgi + 0x80), 0xffff_ffff);
        write(&mut rd, 0, sgi + 0x80, 0);
        assert_eq!(read(&mut rd, 0, sgi + 0x80), 0xffff_ffff);
        // Enable SGI 0 and the virtual timer PPI 27 on vCPU 1.
        let actions = write(&mut rd, 1, sgi + 0x100, (1 << 27) | 1);
        assert_eq!(
            actions,
            [
                Action::PrivateEnable { vcpu: 1, intid: 0 },
                Action::PrivateEnable { vcpu: 1, intid: 27 }
            ]
        );
        assert!(rd.enabled(1, 27));
        assert!(!rd.enabled(0, 27));
        assert_eq!(read(&mut rd, 1, sgi + 0x180), (1 << 27) | 1);
        assert_eq!(
            write(&mut rd, 1, sgi + 0x180, 1),
            [Action::PrivateDisable { vcpu: 1, intid: 0 }]
        );
        assert!(!rd.enabled(1, 0));
        // Pending and active.
        assert_eq!(
            write(&mut rd, 0, sgi + 0x200, 1 << 3),
            [Action::PrivatePending { vcpu: 0, intid: 3 }]
        );
        assert_eq!(read(&mut rd, 0, sgi + 0x280), 1 << 3);
        assert_eq!(
            write(&mut rd, 0, sgi + 0x280, 1 << 3),
            [Action::PrivateClearPending { vcpu: 0, intid: 3 }]
        );
        write(&mut rd, 0, sgi + 0x300, 1 << 5);
        assert_eq!(read(&mut rd, 0, sgi + 0x380), 1 << 5);
        write(&mut rd, 0, sgi + 0x380, u64::from(u32::MAX));
        assert_eq!(read(&mut rd, 0, sgi + 0x300), 0);
        rd.set_state(0, 27, true, true);
        assert_eq!(read(&mut rd, 0, sgi + 0x200), 1 << 27);
        assert_eq!(read(&mut rd, 0, sgi + 0x300), 1 << 27);
        // Extended PPI words are reserved.
        assert!(write(&mut rd, 0, sgi + 0x104, 1).is_empty());
        assert_eq!(read(&mut rd, 0, sgi + 0x104), 0);
    }

    #[test]
    fn priorities() {
        let mut rd = VirtualRedistributors::new(2);
        let sgi = SGI_BASE;
        run(&mut rd, 1, sgi + 0x41b, AccessSize::Byte, Some(0xa5));
        assert_eq!(rd.priority(1, 27), 0xa0);
        assert_eq!(rd.priority(0, 27), 0);
        assert_eq!(read(&mut rd, 1, sgi + 0x418), 0xa000_0000);
        write(&mut rd, 0, sgi + 0x400, 0x1020_3040);
        assert_eq!(
            [0, 1, 2, 3].map(|intid| rd.priority(0, intid)),
            [0x40, 0x30, 0x20, 0x10]
        );
        assert_eq!(run(&mut rd, 0, sgi + 0x402, AccessSize::Byte, None).0, 0x20);
        // Halfword and doubleword accesses are not supported.
        assert_eq!(run(&mut rd, 0, sgi + 0x400, AccessSize::Half, None).0, 0);
        run(&mut rd, 0, sgi + 0x400, AccessSize::Double, Some(0));
        assert_eq!(rd.priority(0, 0), 0x40);
        assert_eq!(rd.priority(0, 32), 0);
        assert_eq!(rd.priority(7, 0), 0);
    }

    #[test]
    fn trigger_configuration() {
        let mut rd = VirtualRedistributors::new(1);
        let sgi = SGI_BASE;
        assert_eq!(read(&mut rd, 0, sgi + 0xc00), 0xaaaa_aaaa);
        write(&mut rd, 0, sgi + 0xc00, 0);
        assert_eq!(read(&mut rd, 0, sgi + 0xc00), 0xaaaa_aaaa);
        assert_eq!(read(&mut rd, 0, sgi + 0xc04), 0);
        write(&mut rd, 0, sgi + 0xc04, 0xffff_ffff);
        // PPIs 26..=30 (bits 2n+1 for n = 10..=14) stay level.
        let timers: u32 = (10..=14).map(|n| 1 << (2 * n + 1)).sum();
        assert_eq!(
            read(&mut rd, 0, sgi + 0xc04),
            u64::from(0xaaaa_aaaa & !timers)
        );
        let irqs = rd.irqs(0).unwrap();
        assert!(irqs.edge(16) && irqs.edge(31) && !irqs.edge(27));
    }

    #[test]
    fn frames_beyond_the_cell_are_raz_wi() {
        let mut rd = VirtualRedistributors::new(2);
        for frame in [2, 7, 8, usize::MAX] {
            assert_eq!(run(&mut rd, frame, 0x8, AccessSize::Double, None).0, 0);
            assert_eq!(read(&mut rd, frame, 0xffe8), 0);
            assert!(write(&mut rd, frame, SGI_BASE + 0x100, 1).is_empty());
        }
        assert!(!rd.enabled(2, 0));
        assert_eq!(split_offset(3 * FRAME_STRIDE + 0x14), (3, 0x14));
        assert_eq!(split_offset(u64::MAX).1, FRAME_STRIDE - 1);
    }

    #[test]
    fn every_access_has_a_defined_answer() {
        let mut rd = VirtualRedistributors::new(MAX_VCPUS);
        for frame in [0, MAX_VCPUS - 1, MAX_VCPUS] {
            for offset in (0..FRAME_STRIDE + 0x10).chain([u64::MAX - 7, u64::MAX]) {
                for size in [
                    AccessSize::Byte,
                    AccessSize::Half,
                    AccessSize::Word,
                    AccessSize::Double,
                ] {
                    let value = rd.access(frame, offset, size, None, &mut |_| {});
                    assert_eq!(value & !size.mask(), 0);
                    rd.access(frame, offset, size, Some(u64::MAX), &mut |_| {});
                }
            }
        }
    }

    #[test]
    fn sgi1r_decoding() {
        let sgi1r = |intid: u64, list: u64| (intid << 24) | list;
        assert_eq!(
            decode_sgi1r(sgi1r(3, 0b1010), 0, 4),
            Some(Action::SendSgi {
                intid: 3,
                targets: 0b1010
            })
        );
        // Targets beyond the cell are dropped; none left: nothing sent.
        assert_eq!(
            decode_sgi1r(sgi1r(1, 0xfff0 | 0b0100), 0, 4),
            Some(Action::SendSgi {
                intid: 1,
                targets: 0b0100
            })
        );
        assert_eq!(decode_sgi1r(sgi1r(1, 0xfff0), 0, 4), None);
        // IRM: every vCPU but the caller.
        assert_eq!(
            decode_sgi1r(1 << 40 | sgi1r(15, 0), 2, 4),
            Some(Action::SendSgi {
                intid: 15,
                targets: 0b1011
            })
        );
        assert_eq!(decode_sgi1r(1 << 40, 0, 1), None);
        // Another cluster or range selector: not this cell's vCPUs.
        for upper in [1 << 16, 1 << 32, 1 << 44, 1 << 48] {
            assert_eq!(decode_sgi1r(upper | sgi1r(1, 1), 0, 4), None);
        }
        // An invalid caller sends nothing; vcpus is clamped.
        assert_eq!(decode_sgi1r(sgi1r(1, 1), 4, 4), None);
        assert_eq!(
            decode_sgi1r(sgi1r(0, 0xffff), 0, 100),
            Some(Action::SendSgi {
                intid: 0,
                targets: 0xff
            })
        );
    }
}
