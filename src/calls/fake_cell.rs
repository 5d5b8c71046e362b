//! A recording fake of the calling cell, for the tests of the call
//! handlers ([`super::dispatch`], [`super::psci`], [`super::hypercall`]).

use crate::addr::CellId;
use crate::addr::GuestPhysAddr;
use crate::calls::hypercall::{CellServices, OutsideCell};
use crate::calls::psci::{CellControl, PsciError};
use crate::calls::smccc;
use crate::cell::lifecycle::Power;

/// Guest-physical base of the fake cell's RAM.
pub(crate) const RAM_BASE: u64 = 0x4000_0000;
/// Size of the fake cell's RAM.
pub(crate) const RAM_SIZE: usize = 0x1000;

pub(crate) struct FakeCell {
    pub(crate) id: CellId,
    pub(crate) power: Vec<Power>,
    pub(crate) ram: Vec<u8>,
    pub(crate) start_result: Result<(), PsciError>,
    pub(crate) started: Vec<(usize, GuestPhysAddr, u64)>,
    pub(crate) firmware: fn(u32, [u64; 3]) -> [u64; 4],
    pub(crate) firmware_calls: Vec<(u32, [u64; 3])>,
    pub(crate) reads: core::cell::Cell<usize>,
    pub(crate) console: Vec<u8>,
    pub(crate) console_writes: usize,
}

impl FakeCell {
    /// A cell with `vcpus` vCPUs, vCPU 0 on, the others off.
    pub(crate) fn new(vcpus: usize) -> Self {
        let mut power = vec![Power::Off; vcpus];
        if let Some(first) = power.first_mut() {
            *first = Power::On;
        }
        Self {
            id: CellId(7),
            power,
            ram: (0..RAM_SIZE).map(|i| i as u8).collect(),
            start_result: Ok(()),
            started: Vec::new(),
            firmware: |_, _| [smccc::return_code(smccc::NOT_SUPPORTED), 0, 0, 0],
            firmware_calls: Vec::new(),
            reads: core::cell::Cell::new(0),
            console: Vec::new(),
            console_writes: 0,
        }
    }
}

impl CellControl for FakeCell {
    fn vcpu_count(&self) -> usize {
        self.power.len()
    }

    fn vcpu_power(&self, vcpu: usize) -> Power {
        self.power[vcpu]
    }

    fn start_vcpu(
        &mut self,
        vcpu: usize,
        entry: GuestPhysAddr,
        context: u64,
    ) -> Result<(), PsciError> {
        assert_eq!(self.power[vcpu], Power::Off, "started a running vCPU");
        assert!(self.entry_is_valid(entry), "started at an unchecked entry");
        self.start_result?;
        self.power[vcpu] = Power::OnPending;
        self.started.push((vcpu, entry, context));
        Ok(())
    }

    fn entry_is_valid(&self, entry: GuestPhysAddr) -> bool {
        entry
            .offset_from(GuestPhysAddr::new(RAM_BASE))
            .is_some_and(|offset| offset < RAM_SIZE as u64)
    }

    fn firmware_call(&mut self, function_id: u32, args: [u64; 3]) -> [u64; 4] {
        self.firmware_calls.push((function_id, args));
        (self.firmware)(function_id, args)
    }
}

impl CellServices for FakeCell {
    fn cell_id(&self) -> CellId {
        self.id
    }

    fn read_guest(&self, gpa: GuestPhysAddr, buf: &mut [u8]) -> Result<(), OutsideCell> {
        self.reads.set(self.reads.get() + 1);
        let start = gpa
            .offset_from(GuestPhysAddr::new(RAM_BASE))
            .ok_or(OutsideCell)?;
        let start = usize::try_from(start).map_err(|_| OutsideCell)?;
        let end = start.checked_add(buf.len()).ok_or(OutsideCell)?;
        let bytes = self.ram.get(start..end).ok_or(OutsideCell)?;
        buf.copy_from_slice(bytes);
        Ok(())
    }

    fn console_write(&mut self, bytes: &[u8]) {
        self.console.extend_from_slice(bytes);
        self.console_writes += 1;
    }

    fn counter(&self, index: u64) -> Option<u64> {
        (index < 3).then(|| 100 + index)
    }
}

/// A tiny xorshift64 generator, for reproducible pseudo-random input.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}
