//! Group 1, memory: catalogue items 1 (other cells' RAM), 2 (the own-RAM
//! boundary), 3 (read-only memory), 4 (non-executable memory), 9 (the
//! address limits), 10.1 (a guest 1 GiB page over foreign addresses), 11
//! (the hypervisor's host addresses as guest addresses) and 58.1 (an EPT
//! violation under `inject`). The cell (policy `inject`) has RAM at
//! 0..4 MiB, a read-only region at 8 MiB, a read-write (not executable)
//! region at 10 MiB and the victim's shared page, read-only, at
//! 0x1010_0000 (tests/configs/bochs/catalogue-memory.toml). Every access
//! outside its map must get #GP(0) and leave the other cells untouched.

use core::arch::asm;

use rt::{Fault, println};

use crate::common::{Outcome, attempt, counter, counters, done, raised, read, write};

/// The cell's RAM ends here.
const RAM_END: u64 = 0x40_0000;
/// The read-only region (`perm = "r"`).
const READ_ONLY: u64 = 0x80_0000;
/// The read-write, not executable region (`perm = "rw"`).
const NOT_EXECUTABLE: u64 = 0xa0_0000;
/// The victim's shared page (read-only here).
const SHARED: u64 = 0x1010_0000;
/// What the victim keeps in its first word.
const SHARED_FIRST: u64 = 0x5eed_da7a << 32;
/// Host addresses of other cells, as guest addresses here: the victim's
/// canary (host 0x0100_0000 + 0x30_0000), the witness's RAM, the phoenix
/// cell's RAM.
const VICTIM_CANARY: u64 = 0x130_0000;
const WITNESS_RAM: u64 = 0x300_0000;
const PHOENIX_RAM: u64 = 0x400_0000;
/// The hypervisor's memory (host 1..16 MiB) and the multiboot2 header
/// magic its image starts with.
const HYPERVISOR: u64 = 0x10_0000;
const HYPERVISOR_END: u64 = 0x100_0000;
const MULTIBOOT2_MAGIC: u32 = 0xe852_50d6;

pub(crate) fn run() -> ! {
    println!("intruder: group memory (other cells, boundaries, permissions, limits)");
    other_cells();
    boundary();
    read_only();
    not_executable();
    address_limits();
    hypervisor_addresses();
    done("memory")
}

/// `#GP` with error code 0: what `inject` gives for an EPT violation.
fn gp0(result: Result<(), Fault>) -> bool {
    result
        == Err(Fault {
            vector: Fault::GP,
            error: 0,
        })
}

fn other_cells() {
    let faults = counter(counters::FAULT).unwrap_or(0);
    let r = read(VICTIM_CANARY).map(|_| ());
    attempt(
        "1.1",
        format_args!("read the victim's canary at gpa {VICTIM_CANARY:#x}"),
        gp0(r),
        format_args!("{}", Outcome(r)),
    );
    // SAFETY: outside this cell's RAM: the access must fault.
    let w = unsafe { write(VICTIM_CANARY, 0xdead_beef) };
    attempt(
        "1.2",
        format_args!("write the victim's canary at gpa {VICTIM_CANARY:#x}"),
        gp0(w),
        format_args!("{}", Outcome(w)),
    );
    let r = read(WITNESS_RAM).map(|_| ());
    attempt(
        "1.3",
        format_args!("read the witness's ram at gpa {WITNESS_RAM:#x}"),
        gp0(r),
        format_args!("{}", Outcome(r)),
    );
    // SAFETY: as above.
    let w = unsafe { write(PHOENIX_RAM + 0x20_0000, 0xdead_beef) };
    attempt(
        "1.4",
        format_args!(
            "write the phoenix cell's image at gpa {:#x}",
            PHOENIX_RAM + 0x20_0000
        ),
        gp0(w),
        format_args!("{}", Outcome(w)),
    );
    let after = counter(counters::FAULT).unwrap_or(0);
    let r = read(0xc0_0000).map(|_| ());
    let last = counter(counters::FAULT).unwrap_or(0);
    attempt(
        "58.1",
        format_args!("ept violation under the inject policy"),
        gp0(r) && after == faults + 4 && last == after + 1,
        format_args!(
            "{}, fault counter {faults} -> {after} -> {last}, still running",
            Outcome(r)
        ),
    );
}

fn boundary() {
    let last = RAM_END - 8;
    let before = read(last);
    // SAFETY: the last word of this cell's RAM, in the boot area's
    // reserved page: written back as it was.
    let w = unsafe { write(last, 0x1234_5678_9abc_def0) };
    let back = read(last);
    if let Ok(value) = before {
        // SAFETY: as above.
        let _ = unsafe { write(last, value) };
    }
    attempt(
        "2.1",
        format_args!("read and write the last 8 bytes at {last:#x}"),
        before.is_ok() && w.is_ok() && back == Ok(0x1234_5678_9abc_def0),
        format_args!(
            "read {}, write {}, read back",
            Outcome(before.map(|_| ())),
            Outcome(w)
        ),
    );
    let byte = {
        let value: u8;
        // SAFETY: a one-byte read past the end of this cell's RAM.
        let outcome = unsafe {
            rt::try_insn!("mov {v}, byte ptr [{a}]"; a = in(reg) RAM_END, v = out(reg_byte) value, options(nostack))
        };
        let _ = value;
        outcome
    };
    attempt(
        "2.2",
        format_args!("read the first byte past the end at {RAM_END:#x}"),
        gp0(byte),
        format_args!("{}", Outcome(byte)),
    );
    let straddle = RAM_END - 4;
    let before = read(last);
    // SAFETY: 4 bytes of this cell's last word and 4 beyond: the write
    // must fault as a whole.
    let w = unsafe { write(straddle, u64::MAX) };
    let after = read(last);
    attempt(
        "2.3",
        format_args!("8-byte write across the end at {straddle:#x}"),
        gp0(w) && before.is_ok() && before == after,
        format_args!(
            "{}, the last word {:#x} -> {:#x} (no partial write)",
            Outcome(w),
            before.unwrap_or(0),
            after.unwrap_or(0)
        ),
    );
}

fn read_only() {
    let before = read(READ_ONLY);
    // SAFETY: the read-only region: the write must fault.
    let w = unsafe { write(READ_ONLY, 0xdead_beef) };
    let after = read(READ_ONLY);
    attempt(
        "3.1",
        format_args!("write the read-only region at {READ_ONLY:#x}"),
        gp0(w) && before.is_ok() && before == after,
        format_args!("{}, value kept {:#x}", Outcome(w), after.unwrap_or(0)),
    );
    // The victim fills its shared page at its start: wait for it.
    let mut first = read(SHARED);
    for _ in 0..10_000 {
        if first == Ok(SHARED_FIRST) {
            break;
        }
        rt::delay_spins(1000);
        first = read(SHARED);
    }
    // SAFETY: this end of the channel is read-only: the write must fault.
    let w = unsafe { write(SHARED, 0xdead_beef) };
    let after = read(SHARED);
    attempt(
        "3.2",
        format_args!("write the read-only channel end at {SHARED:#x}"),
        gp0(w) && first == Ok(SHARED_FIRST) && after == Ok(SHARED_FIRST),
        format_args!(
            "{}, the victim's word {:#x} kept",
            Outcome(w),
            after.unwrap_or(0)
        ),
    );
}

/// Jumps to `target` as a probe: the fetch must fault there (the probe
/// covers 16 bytes from `target`); code that runs there is expected to
/// come back with `jmp r11`.
fn try_execute(target: u64) -> Result<(), Fault> {
    let slot = rt::probe_slot();
    // SAFETY: a jump into memory this cell may not execute; if it can,
    // the code there (`jmp r11`, written by the caller where it could
    // write) comes straight back to label 2. The probe slot is this
    // vCPU's.
    unsafe {
        asm!(
            "mov [{slot}], {t}",
            "lea {tmp}, [{t} + 16]",
            "mov [{slot} + 8], {tmp}",
            "lea r11, [rip + 2f]",
            "mov [{slot} + 16], r11",
            "jmp {t}",
            "2:",
            "mov qword ptr [{slot}], 0",
            slot = in(reg) slot,
            t = in(reg) target,
            tmp = out(reg) _,
            out("r11") _,
        );
    }
    rt::probe_outcome()
}

fn not_executable() {
    // `jmp r11`: if the region were executable, straight back.
    // SAFETY: the read-write region is this cell's; nothing else uses it.
    let _ = unsafe { write(NOT_EXECUTABLE, 0x00e3_ff41) };
    let cases = [
        ("4.1", "execute the read-write region", NOT_EXECUTABLE),
        ("4.2", "execute the read-only region", READ_ONLY),
        ("4.3", "execute the read-only channel end", SHARED),
    ];
    for (id, what, target) in cases {
        let r = try_execute(target);
        attempt(
            id,
            format_args!("{what} at {target:#x}"),
            gp0(r),
            format_args!("{}", Outcome(r)),
        );
    }
}

/// A 4 KiB page-directory-pointer table for this cell's own mappings.
#[repr(C, align(4096))]
struct Table([u64; 512]);

static mut PDPT: Table = Table([0; 512]);

/// Linear address of PML4 entry 1: 512 GiB.
const WINDOW: u64 = 1 << 39;
/// 1 GiB.
const GIB: u64 = 1 << 30;

/// Maps four 1 GiB pages at [`WINDOW`] through PML4 entry 1 of the boot
/// page tables: `targets[i]` at `WINDOW + i GiB`.
fn map_window(targets: [u64; 4]) {
    let pdpt = (&raw mut PDPT) as u64;
    let pml4 = (rt::boot_area() + 0x1000) as *mut u64;
    // SAFETY: this program's table and the boot PML4 (cell RAM); entry 1
    // is unused; the TLB is flushed after.
    unsafe {
        for (i, target) in targets.into_iter().enumerate() {
            ((pdpt + 8 * i as u64) as *mut u64).write_volatile(target | 0x83);
        }
        pml4.add(1).write_volatile(pdpt | 0x3);
        asm!("mov {t}, cr3", "mov cr3, {t}", t = out(reg) _, options(nostack));
    }
}

fn address_limits() {
    let maxphy = rt::cpuid(0x8000_0008, 0).eax & 0xff;
    let has_1g = rt::cpuid(0x8000_0001, 0).edx & (1 << 26) != 0;
    println!("intruder: maxphyaddr {maxphy}, 1 GiB pages {has_1g}");
    map_window([(1 << 39) - GIB, 1 << 39, 1 << 48, 0]);
    let r = read(WINDOW + GIB - 8).map(|_| ());
    attempt(
        "9.1",
        format_args!("read gpa 2^39-8"),
        gp0(r),
        format_args!("{}", Outcome(r)),
    );
    let r = read(WINDOW + GIB).map(|_| ());
    attempt(
        "9.2",
        format_args!("read gpa 2^39"),
        gp0(r),
        format_args!("{}", Outcome(r)),
    );
    let r = read(WINDOW + 2 * GIB).map(|_| ());
    // Beyond MAXPHYADDR the guest's own paging refuses (#PF, reserved
    // bit); below it, the EPT (#GP).
    let expected = if maxphy <= 48 { Fault::PF } else { Fault::GP };
    attempt(
        "9.3",
        format_args!("read gpa 2^48"),
        raised(r, expected),
        format_args!("{} (maxphyaddr {maxphy})", Outcome(r)),
    );
    let own = read(WINDOW + 3 * GIB + 0x20_0000);
    let direct = read(0x20_0000);
    let foreign = read(WINDOW + 3 * GIB + VICTIM_CANARY).map(|_| ());
    attempt(
        "10.1",
        format_args!("a 1 gib guest page over gpa 0, read at {VICTIM_CANARY:#x}"),
        own.is_ok() && own == direct && gp0(foreign),
        format_args!("own ram through it ok, foreign {}", Outcome(foreign)),
    );
}

fn hypervisor_addresses() {
    // The cell's RAM covers guest addresses equal to the hypervisor's host
    // addresses: they must be the cell's own bytes.
    let mut found = false;
    for offset in (0..0x8000).step_by(8) {
        if read(HYPERVISOR + offset).is_ok_and(|v| v as u32 == MULTIBOOT2_MAGIC) {
            found = true;
        }
    }
    // SAFETY: this cell's own RAM (outside its image): a marker.
    let w = unsafe { write(HYPERVISOR, 0x0bad_cafe) };
    let back = read(HYPERVISOR);
    attempt(
        "11.1",
        format_args!("gpa {HYPERVISOR:#x} (the hypervisor's hpa) is own ram"),
        !found && w.is_ok() && back == Ok(0x0bad_cafe),
        format_args!("no multiboot2 header in the first 32 KiB, own marker read back"),
    );
    let r = read(HYPERVISOR_END - 8).map(|_| ());
    attempt(
        "11.2",
        format_args!(
            "read gpa {:#x} (the hypervisor's last word)",
            HYPERVISOR_END - 8
        ),
        gp0(r),
        format_args!("{}", Outcome(r)),
    );
    let r = read(RAM_END + 0x1000).map(|_| ());
    attempt(
        "11.3",
        format_args!(
            "read gpa {:#x} (just past the own window)",
            RAM_END + 0x1000
        ),
        gp0(r),
        format_args!("{}", Outcome(r)),
    );
}
