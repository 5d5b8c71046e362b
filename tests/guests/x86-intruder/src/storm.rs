//! Group 9, the soak's restart storm on x86 (`cargo xtask soak --machine
//! bochs`): each boot reads the other cells' RAM at their guest addresses
//! (which this cell lacks: each read must fault), then resets the cell,
//! for ever. Its boots are counted in RAM outside its image (a restart
//! reloads only the image): `storm: boot <n>`.

use rt::println;

use crate::common::{attempt, read};

/// The boot counter: `[MAGIC, boots]`, above the image, below the boot
/// area.
const COUNTER_GPA: u64 = 0x38_0000;
const MAGIC: u64 = 0x5707_3a11_0000_0009;

/// Counts this boot; returns its number (1 on the first).
fn count_boot() -> u64 {
    // SAFETY: two words of this cell's RAM used by nothing else (the
    // image ends below 0x30_0000, the boot area starts at 0x3f_8000).
    unsafe { rt::count_boot(COUNTER_GPA, MAGIC) }
}

pub(crate) fn run() -> ! {
    let boot = count_boot();
    println!("storm: boot {boot}");
    // Its RAM is 4 MiB from 0; these are the other cells' host addresses
    // of the soak's config, seen as guest addresses here.
    for (k, address) in [
        0x100_0000u64,
        0x200_0000,
        0x300_0000,
        0x30_0000 + 0x100_0000,
    ]
    .into_iter()
    .enumerate()
    {
        let result = read(address);
        attempt(
            &crate::common::id("1", k + 1),
            format_args!("read {address:#x}"),
            result.is_err(),
            format_args!("{}", crate::common::Outcome(result.map(|_| ()))),
        );
    }
    rt::delay_spins(100_000);
    let status = rt::system_reset();
    println!("storm: SYSTEM_RESET returned {status}");
    rt::park()
}
