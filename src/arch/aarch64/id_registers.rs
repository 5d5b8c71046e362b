//! Reading the core's real ID registers (group 3, trapped by HCR_EL2.TID3)
//! for the guest's view (`model::id_registers`).

use core::arch::asm;

/// Reads `S3_0_C0_C<crm>_<op2>` for the literal pairs listed, 0 otherwise.
macro_rules! read_id {
    ($crm:expr, $op2:expr; $(($c:literal, $o:literal)),* $(,)?) => {
        match ($crm, $op2) {
            $(($c, $o) => {
                let value: u64;
                // SAFETY: reads an ID register (op0 = 3, op1 = 0, CRn = 0,
                // CRm = 1..=7), which every encoding in that space allows at
                // EL2 (reserved ones read as zero); no side effects.
                unsafe {
                    asm!(
                        concat!("mrs {}, S3_0_C0_C", stringify!($c), "_", stringify!($o)),
                        out(reg) value,
                        options(nomem, nostack, preserves_flags)
                    )
                };
                value
            })*
            _ => 0,
        }
    };
}

/// The core's value of ID register `(crm, op2)`.
pub(super) fn read(crm: u8, op2: u8) -> u64 {
    read_id!(crm, op2;
        (1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (1, 7),
        (2, 0), (2, 1), (2, 2), (2, 3), (2, 4), (2, 5), (2, 6), (2, 7),
        (3, 0), (3, 1), (3, 2), (3, 3), (3, 4), (3, 5), (3, 6), (3, 7),
        (4, 0), (4, 1), (4, 2), (4, 3), (4, 4), (4, 5), (4, 6), (4, 7),
        (5, 0), (5, 1), (5, 2), (5, 3), (5, 4), (5, 5), (5, 6), (5, 7),
        (6, 0), (6, 1), (6, 2), (6, 3), (6, 4), (6, 5), (6, 6), (6, 7),
        (7, 0), (7, 1), (7, 2), (7, 3), (7, 4), (7, 5), (7, 6), (7, 7),
    )
}
