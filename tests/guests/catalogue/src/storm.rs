//! The soak's restart storm (`cargo xtask soak`): each boot makes a few
//! escape attempts and then resets the cell, for ever. Its boots are
//! counted in RAM outside its image (a restart reloads only the image).

use crate::attempt::{Id, expect_external_abort};

const COUNT: u64 = rt::RAM_BASE + 0xf8_0000;
const MAGIC: u64 = 0x50a4_0000_0000_0000;

pub(crate) fn run() -> ! {
    let word = rt::probe_read(COUNT).unwrap_or(0);
    let boots = if word & 0xffff_0000_0000_0000 == MAGIC {
        (word & 0xffff_ffff) + 1
    } else {
        1
    };
    // SAFETY: own RAM outside the image, used only for this count.
    let _ = unsafe { rt::probe_write(COUNT, MAGIC | boots) };
    rt::println!("storm: boot {boots}");
    for (k, address) in [0x4100_0000u64, 0x4200_0000, 0x4300_0000, 0x4400_0000]
        .into_iter()
        .enumerate()
    {
        expect_external_abort(
            Id(1, k + 1),
            format_args!("read {address:#x}"),
            rt::probe_read(address),
        );
    }
    rt::delay_ms(20);
    rt::system_reset();
    rt::park()
}
