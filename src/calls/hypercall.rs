//! Bulkhead's own hypercall ABI, in SMCCC's vendor hypervisor service range.
//!
//! A guest calls Bulkhead the way it calls PSCI: `HVC #0` (or `SMC #0`, which
//! Bulkhead traps and answers identically) with the function id in `w0`,
//! arguments in `x1..x3`, results in `x0..x3`. `x4..x17` are preserved. The
//! functions are SMCCC fast calls owned by the Vendor Specific Hypervisor
//! Service (owner 6); Bulkhead's own functions use the SMC64 convention.
//!
//! ABI version 1.0:
//!
//! | function id | name | arguments | results | errors |
//! | --- | --- | --- | --- | --- |
//! | `0xC600_0000` | `ABI_VERSION` | none | `x0` = `0x0001_0000`: major 1 (bits 31:16), minor 0 (bits 15:0) | none |
//! | `0xC600_0001` | `CELL_INFO` | none | `x0` = 0, `x1` = cell id, `x2` = number of vCPUs in the cell, `x3` = caller's vCPU index (its MPIDR Aff0) | none |
//! | `0xC600_0003` | `COUNTER` | `x1` = counter index | `x0` = 0, `x1` = the calling cell's counter (exits per cause, then delivered interrupts; see `cell::counters`) | `INVALID_PARAMETERS` for an unknown index |
//! | `0xC600_0002` | `CONSOLE_WRITE` | `x1` = guest-physical address of the bytes, `x2` = length | `x0` = number of bytes written: `min(length, 256)`; 0 for length 0 | `INVALID_PARAMETERS` if any of the bytes to write lies outside the cell's RAM (nothing is written) |
//! | `0xC600_FF00` (also `0x8600_FF00`) | `CALL_COUNT` | none | `x0` = 4, the number of functions above | none |
//! | `0xC600_FF01` (also `0x8600_FF01`) | `CALL_UID` | none | `x0..x3` = Bulkhead's UID (below) | none |
//! | `0xC600_FF03` (also `0x8600_FF03`) | `REVISION` | none | `x0` = 1 (major), `x1` = 0 (minor) | none |
//!
//! Registers among `x0..x3` that a call does not list as results keep their
//! values, except that `REVISION` writes 0 to `x2` and `x3`.
//!
//! Error codes are negative values in `x0`, sign-extended to 64 bits, using
//! PSCI's numbering ([`HypercallError`]):
//!
//! | code | name | meaning |
//! | --- | --- | --- |
//! | -1 | `NOT_SUPPORTED` | unknown function id (any other id in the range, and the SMC32 forms `0x8600_0000..=0x8600_0002`) |
//! | -2 | `INVALID_PARAMETERS` | an argument is invalid, e.g. a buffer outside the cell |
//!
//! `CONSOLE_WRITE` copies at most [`CONSOLE_WRITE_MAX`] (256) bytes per call
//! and returns how many it took, like a short `write(2)`: a longer buffer is
//! written by calling again from the returned offset. Only the bytes a call
//! takes must lie in the cell's RAM; a length that runs past RAM (or wraps
//! the address space) fails only once the call reaches the bad part. The
//! bytes go to the cell's console as they are.
//!
//! The general service queries (`CALL_COUNT`, `CALL_UID`, `REVISION`) follow
//! SMCCC, which defines them as SMC32 calls (`0x8600_FFxx`, what Linux sends
//! to identify a hypervisor); Bulkhead answers their SMC64 forms too. The
//! UID is `8c4a8a64-8696-42d3-85f2-6b5854ca03b9`, returned as SMCCC lays a
//! UUID out: bytes 0..3 of its big-endian (string-order) form in `w0`, byte
//! 0 in bits 7:0, then bytes 4..7 in `w1`, 8..11 in `w2`, 12..15 in `w3`:
//!
//! | register | value |
//! | --- | --- |
//! | `x0` | `0x648a_4a8c` |
//! | `x1` | `0xd342_9686` |
//! | `x2` | `0x586b_f285` |
//! | `x3` | `0xb903_ca54` |
//!
//! The same layout gives KVM's `28b46fb6-2ec5-11e9-a9ca-4b564d003a74` as
//! `0xb66f_b428`, ... (what Linux compares against).

use super::outcome::{Note, Outcome};
use super::psci::CellControl;
use super::smccc::{self, Convention, OWNER_VENDOR_HYPERVISOR};
use crate::addr::{CellId, GuestPhysAddr};

/// `ABI_VERSION` (SMC64).
pub(crate) const ABI_VERSION: u32 = 0xc600_0000;
/// `CELL_INFO` (SMC64).
pub(crate) const CELL_INFO: u32 = 0xc600_0001;
/// `CONSOLE_WRITE` (SMC64).
pub(crate) const CONSOLE_WRITE: u32 = 0xc600_0002;
/// `COUNTER` (SMC64): one of the calling cell's exit or delivery counters.
pub(crate) const COUNTER: u32 = 0xc600_0003;
/// `CALL_COUNT`, SMC32 (the form SMCCC defines).
pub(crate) const CALL_COUNT_32: u32 = 0x8600_ff00;
/// `CALL_COUNT`, SMC64.
pub(crate) const CALL_COUNT_64: u32 = 0xc600_ff00;
/// `CALL_UID`, SMC32 (the form SMCCC defines).
pub(crate) const CALL_UID_32: u32 = 0x8600_ff01;
/// `CALL_UID`, SMC64.
pub(crate) const CALL_UID_64: u32 = 0xc600_ff01;
/// `REVISION`, SMC32 (the form SMCCC defines).
pub(crate) const REVISION_32: u32 = 0x8600_ff03;
/// `REVISION`, SMC64.
pub(crate) const REVISION_64: u32 = 0xc600_ff03;

/// What `ABI_VERSION` returns: major 1 in bits 31:16, minor 0 in 15:0.
pub(crate) const IMPLEMENTED_ABI_VERSION: u32 = 0x0001_0000;
/// What `CALL_COUNT` returns: `ABI_VERSION`, `CELL_INFO`, `CONSOLE_WRITE`,
/// `COUNTER`.
pub(crate) const FUNCTION_COUNT: u64 = 4;
/// `REVISION`'s major number (the ABI's major version).
pub(crate) const REVISION_MAJOR: u64 = 1;
/// `REVISION`'s minor number (the ABI's minor version).
pub(crate) const REVISION_MINOR: u64 = 0;
/// Most bytes one `CONSOLE_WRITE` takes.
pub(crate) const CONSOLE_WRITE_MAX: usize = 256;

/// Bulkhead's service UID, `8c4a8a64-8696-42d3-85f2-6b5854ca03b9`, in string
/// (big-endian) byte order.
pub(crate) const UID: [u8; 16] = [
    0x8c, 0x4a, 0x8a, 0x64, 0x86, 0x96, 0x42, 0xd3, 0x85, 0xf2, 0x6b, 0x58, 0x54, 0xca, 0x03, 0xb9,
];

/// A UUID (string byte order) as SMCCC's `CALL_UID` returns it in
/// `w0..w3`: four little-endian words, byte 0 in bits 7:0 of `w0`.
pub(crate) const fn uid_registers(uid: &[u8; 16]) -> [u64; 4] {
    const fn word(uid: &[u8; 16], i: usize) -> u64 {
        u32::from_le_bytes([uid[4 * i], uid[4 * i + 1], uid[4 * i + 2], uid[4 * i + 3]]) as u64
    }
    [word(uid, 0), word(uid, 1), word(uid, 2), word(uid, 3)]
}

/// Errors of Bulkhead's hypercalls, numbered like PSCI's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub(crate) enum HypercallError {
    // -1, NOT_SUPPORTED (an unknown id), is answered by the dispatcher as
    // for every unknown call (`smccc::NOT_SUPPORTED`).
    /// An argument is invalid (for instance a buffer outside the cell).
    InvalidParameters = -2,
}

impl HypercallError {
    /// The signed code.
    pub(crate) const fn code(self) -> i32 {
        self as i32
    }

    /// The code as written back to `x0` (sign-extended).
    pub(crate) const fn to_register(self) -> u64 {
        smccc::return_code(self.code())
    }
}

/// A guest-physical range not entirely inside the cell's RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutsideCell;

/// What Bulkhead's own hypercalls need from the hypervisor, on top of
/// [`CellControl`]; implemented by the architecture layer for one cell.
pub(crate) trait CellServices: CellControl {
    /// The cell's id.
    fn cell_id(&self) -> CellId;

    /// Copies `buf.len()` bytes of the cell's RAM from `gpa` into `buf`.
    /// Fails, without guarantees about `buf`'s contents, if any of the bytes
    /// lies outside the cell's RAM (including a range that wraps).
    fn read_guest(&self, gpa: GuestPhysAddr, buf: &mut [u8]) -> Result<(), OutsideCell>;

    /// Writes `bytes` to the cell's console.
    fn console_write(&mut self, bytes: &[u8]);

    /// The cell's counter number `index`, if there is one.
    fn counter(&self, index: u64) -> Option<u64>;
}

/// A decoded Bulkhead hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hypercall {
    /// `ABI_VERSION`.
    AbiVersion,
    /// `CELL_INFO`.
    CellInfo,
    /// `CONSOLE_WRITE(gpa, len)`.
    ConsoleWrite {
        /// Guest-physical address of the bytes (`x1`).
        gpa: GuestPhysAddr,
        /// Number of bytes (`x2`), before clamping.
        len: u64,
    },
    /// `COUNTER(index)`.
    Counter {
        /// Which counter (`x1`).
        index: u64,
    },
    /// `CALL_COUNT`, either form.
    CallCount(Convention),
    /// `CALL_UID`, either form.
    CallUid(Convention),
    /// `REVISION`, either form.
    Revision(Convention),
}

impl Hypercall {
    /// The function id this call is decoded from.
    pub(crate) const fn function_id(&self) -> u32 {
        let (convention, number) = match *self {
            Self::AbiVersion => return ABI_VERSION,
            Self::CellInfo => return CELL_INFO,
            Self::ConsoleWrite { .. } => return CONSOLE_WRITE,
            Self::Counter { .. } => return COUNTER,
            Self::CallCount(c) => (c, smccc::QUERY_CALL_COUNT),
            Self::CallUid(c) => (c, smccc::QUERY_CALL_UID),
            Self::Revision(c) => (c, smccc::QUERY_REVISION),
        };
        smccc::fast_call(convention, OWNER_VENDOR_HYPERVISOR, number)
    }
}

/// Decodes `function_id` (`w0`) with arguments `x1..x3` as a Bulkhead
/// hypercall, or `None` if it is not one.
pub(crate) fn decode(function_id: u32, args: [u64; 3]) -> Option<Hypercall> {
    let [x1, x2, _] = smccc::narrow_args(function_id, args);
    let call = match function_id {
        ABI_VERSION => Hypercall::AbiVersion,
        CELL_INFO => Hypercall::CellInfo,
        CONSOLE_WRITE => Hypercall::ConsoleWrite {
            gpa: GuestPhysAddr::new(x1),
            len: x2,
        },
        COUNTER => Hypercall::Counter { index: x1 },
        CALL_COUNT_32 | CALL_COUNT_64 => Hypercall::CallCount(Convention::of(function_id)),
        CALL_UID_32 | CALL_UID_64 => Hypercall::CallUid(Convention::of(function_id)),
        REVISION_32 | REVISION_64 => Hypercall::Revision(Convention::of(function_id)),
        _ => return None,
    };
    Some(call)
}

/// Answers `call`, made by vCPU `caller_vcpu` of `cell`. Never panics.
pub(crate) fn handle(
    call: &Hypercall,
    caller_vcpu: usize,
    cell: &mut impl CellServices,
) -> Outcome {
    match *call {
        Hypercall::AbiVersion => Outcome::Return1(u64::from(IMPLEMENTED_ABI_VERSION)),
        Hypercall::CellInfo => Outcome::Return4([
            smccc::return_code(smccc::SUCCESS),
            u64::from(cell.cell_id().0),
            cell.vcpu_count() as u64,
            caller_vcpu as u64,
        ]),
        Hypercall::ConsoleWrite { gpa, len } => console_write(cell, gpa, len),
        Hypercall::Counter { index } => match cell.counter(index) {
            Some(value) => Outcome::Return4([smccc::return_code(smccc::SUCCESS), value, 0, 0]),
            None => Outcome::Return1(HypercallError::InvalidParameters.to_register()),
        },
        Hypercall::CallCount(_) => Outcome::Return1(FUNCTION_COUNT),
        Hypercall::CallUid(_) => Outcome::Return4(uid_registers(&UID)),
        Hypercall::Revision(_) => Outcome::Return4([REVISION_MAJOR, REVISION_MINOR, 0, 0]),
    }
}

fn console_write(cell: &mut impl CellServices, gpa: GuestPhysAddr, len: u64) -> Outcome {
    let count = usize::try_from(len).map_or(CONSOLE_WRITE_MAX, |len| len.min(CONSOLE_WRITE_MAX));
    if count == 0 {
        return Outcome::Return1(0);
    }
    let mut buf = [0u8; CONSOLE_WRITE_MAX];
    let bytes = &mut buf[..count];
    // `count` <= 256, so the cast is exact; the range must not wrap.
    let fits = gpa.checked_add(count as u64).is_some();
    if !fits || cell.read_guest(gpa, bytes).is_err() {
        return Outcome::Refused {
            x0: HypercallError::InvalidParameters.to_register(),
            note: Note::BadBuffer { gpa, len },
        };
    }
    cell.console_write(bytes);
    Outcome::Return1(count as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::fake_cell::{FakeCell, RAM_BASE, RAM_SIZE};
    use crate::calls::psci;

    const INVALID_PARAMETERS: u64 = (-2i64) as u64;

    fn run(cell: &mut FakeCell, caller: usize, function_id: u32, args: [u64; 3]) -> Outcome {
        let call = decode(function_id, args).expect("a Bulkhead hypercall");
        handle(&call, caller, cell)
    }

    #[test]
    fn decodes_every_id() {
        let gpa = GuestPhysAddr::new(0x4000_0000);
        for (id, expected) in [
            (ABI_VERSION, Hypercall::AbiVersion),
            (CELL_INFO, Hypercall::CellInfo),
            (CONSOLE_WRITE, Hypercall::ConsoleWrite { gpa, len: 0x10 }),
            (CALL_COUNT_32, Hypercall::CallCount(Convention::Smc32)),
            (CALL_COUNT_64, Hypercall::CallCount(Convention::Smc64)),
            (CALL_UID_32, Hypercall::CallUid(Convention::Smc32)),
            (CALL_UID_64, Hypercall::CallUid(Convention::Smc64)),
            (REVISION_32, Hypercall::Revision(Convention::Smc32)),
            (REVISION_64, Hypercall::Revision(Convention::Smc64)),
        ] {
            let args = [gpa.as_u64(), 0x10, 0];
            assert_eq!(decode(id, args), Some(expected), "{id:#x}");
            assert_eq!(expected.function_id(), id);
            assert_eq!(smccc::owner(id), OWNER_VENDOR_HYPERVISOR);
            assert!(smccc::is_fast_call(id));
        }
        // Bulkhead's functions are SMC64 only, and nothing else is defined.
        for id in [
            0x8600_0000,
            0x8600_0001,
            0x8600_0002,
            0xc600_0004,
            0xc600_ff02,
            0x8600_ff02,
            0xc600_fffe,
            0x0600_0000,
            0xc500_0000,
        ] {
            assert_eq!(decode(id, [0; 3]), None, "{id:#x}");
        }
    }

    #[test]
    fn abi_version() {
        let mut cell = FakeCell::new(1);
        assert_eq!(
            run(&mut cell, 0, ABI_VERSION, [1, 2, 3]),
            Outcome::Return1(0x0001_0000)
        );
    }

    #[test]
    fn cell_info() {
        let mut cell = FakeCell::new(3);
        assert_eq!(
            run(&mut cell, 2, CELL_INFO, [0; 3]),
            Outcome::Return4([0, 7, 3, 2])
        );
    }

    #[test]
    fn general_queries() {
        let mut cell = FakeCell::new(1);
        for id in [CALL_COUNT_32, CALL_COUNT_64] {
            assert_eq!(run(&mut cell, 0, id, [0; 3]), Outcome::Return1(4));
        }
        let uid = [0x648a_4a8c, 0xd342_9686, 0x586b_f285, 0xb903_ca54];
        for id in [CALL_UID_32, CALL_UID_64] {
            assert_eq!(run(&mut cell, 0, id, [0; 3]), Outcome::Return4(uid));
        }
        for id in [REVISION_32, REVISION_64] {
            assert_eq!(
                run(&mut cell, 0, id, [0; 3]),
                Outcome::Return4([1, 0, 0, 0])
            );
        }
    }

    #[test]
    fn uid_layout_matches_kvm_published_values() {
        // 28b46fb6-2ec5-11e9-a9ca-4b564d003a74 and the register values Linux
        // compares KVM's CALL_UID answer against.
        let kvm = [
            0x28, 0xb4, 0x6f, 0xb6, 0x2e, 0xc5, 0x11, 0xe9, 0xa9, 0xca, 0x4b, 0x56, 0x4d, 0x00,
            0x3a, 0x74,
        ];
        assert_eq!(
            uid_registers(&kvm),
            [0xb66f_b428, 0xe911_c52e, 0x564b_caa9, 0x743a_004d]
        );
    }

    #[test]
    fn console_write_copies_the_bytes() {
        let mut cell = FakeCell::new(1);
        let outcome = run(&mut cell, 0, CONSOLE_WRITE, [RAM_BASE + 0x10, 5, 0]);
        assert_eq!(outcome, Outcome::Return1(5));
        assert_eq!(cell.console, [0x10, 0x11, 0x12, 0x13, 0x14]);
        assert_eq!(cell.console_writes, 1);
    }

    #[test]
    fn console_write_up_to_the_last_byte_of_ram() {
        let mut cell = FakeCell::new(1);
        let last = RAM_BASE + RAM_SIZE as u64 - 4;
        assert_eq!(
            run(&mut cell, 0, CONSOLE_WRITE, [last, 4, 0]),
            Outcome::Return1(4)
        );
        assert_eq!(cell.console, [0xfc, 0xfd, 0xfe, 0xff]);
    }

    #[test]
    fn console_write_of_nothing() {
        let mut cell = FakeCell::new(1);
        // Even from an address outside the cell: nothing is read.
        for gpa in [RAM_BASE, 0, u64::MAX] {
            assert_eq!(
                run(&mut cell, 0, CONSOLE_WRITE, [gpa, 0, 0]),
                Outcome::Return1(0)
            );
        }
        assert_eq!(cell.console_writes, 0);
        assert_eq!(cell.reads.get(), 0);
    }

    #[test]
    fn console_write_clamps_huge_lengths() {
        for len in [257, 0x1000, u64::MAX] {
            let mut cell = FakeCell::new(1);
            assert_eq!(
                run(&mut cell, 0, CONSOLE_WRITE, [RAM_BASE, len, 0]),
                Outcome::Return1(256),
                "{len:#x}"
            );
            assert_eq!(cell.console.len(), 256);
            assert_eq!(cell.console[255], 0xff);
            assert_eq!(cell.reads.get(), 1);
        }
        // Exactly the maximum is not clamped, just taken.
        let mut cell = FakeCell::new(1);
        assert_eq!(
            run(&mut cell, 0, CONSOLE_WRITE, [RAM_BASE + 1, 256, 0]),
            Outcome::Return1(256)
        );
    }

    #[test]
    fn console_write_refuses_buffers_outside_the_cell() {
        let end = RAM_BASE + RAM_SIZE as u64;
        for (gpa, len) in [
            (end - 2, 4),       // crosses the end of the cell's RAM
            (RAM_BASE - 1, 2),  // crosses its start
            (end, 1),           // just past it
            (0, 16),            // nowhere near it
            (u64::MAX - 3, 16), // wraps the address space
            (u64::MAX, u64::MAX),
            (end - 100, u64::MAX), // clamped to 256, still crosses
        ] {
            let mut cell = FakeCell::new(1);
            assert_eq!(
                run(&mut cell, 0, CONSOLE_WRITE, [gpa, len, 0]),
                Outcome::Refused {
                    x0: INVALID_PARAMETERS,
                    note: Note::BadBuffer {
                        gpa: GuestPhysAddr::new(gpa),
                        len
                    },
                },
                "{gpa:#x}+{len:#x}"
            );
            assert_eq!(cell.console_writes, 0);
        }
        // A long buffer whose first 256 bytes are inside: a short write.
        let mut cell = FakeCell::new(1);
        assert_eq!(
            run(&mut cell, 0, CONSOLE_WRITE, [end - 256, 1000, 0]),
            Outcome::Return1(256)
        );
    }

    #[test]
    fn error_codes() {
        assert_eq!(HypercallError::InvalidParameters.code(), -2);
        assert_eq!(
            HypercallError::InvalidParameters.to_register(),
            INVALID_PARAMETERS
        );
        // The same numbers as PSCI's.
        assert_eq!(
            HypercallError::InvalidParameters.code(),
            psci::PsciError::InvalidParameters.code()
        );
        assert_eq!(smccc::NOT_SUPPORTED, psci::PsciError::NotSupported.code());
    }

    #[test]
    fn counters_of_the_calling_cell() {
        let mut cell = FakeCell::new(1);
        assert_eq!(
            run(&mut cell, 0, COUNTER, [2, 0, 0]),
            Outcome::Return4([0, 102, 0, 0])
        );
        assert_eq!(
            run(&mut cell, 0, COUNTER, [3, 0, 0]),
            Outcome::Return1(HypercallError::InvalidParameters.to_register())
        );
    }

    /// F16: the ABI table in this module's documentation lists as many
    /// Bulkhead functions as `CALL_COUNT` returns, and says so.
    #[test]
    fn f16_call_count_matches_the_documented_abi_table() {
        let source = include_str!("hypercall.rs");
        let rows: Vec<&str> = source
            .lines()
            .filter(|l| l.starts_with("//! | `0xC600_00"))
            .collect();
        assert_eq!(rows.len() as u64, FUNCTION_COUNT, "{rows:#?}");
        let count_row = source
            .lines()
            .find(|l| l.starts_with("//! | `0xC600_FF00`"))
            .unwrap();
        assert!(
            count_row.contains(&format!("`x0` = {FUNCTION_COUNT}, ")),
            "{count_row}"
        );
    }
}
