//! The VMX capability arithmetic (SDM appendix A.3-A.5): which control
//! bits a CPU lets Bulkhead set, and the optional hardening controls it
//! runs without where the CPU lacks them (finding F11; `vmx::check` reads
//! the MSRs, this decides).

/// Adjusts `wanted` to a capability MSR value `cap` (low half: bits that
/// must be 1; high half: bits that may be 1). Returns the value and the
/// wanted bits the CPU cannot set.
pub(crate) fn adjust(cap: u64, wanted: u32) -> (u32, u32) {
    let must = cap as u32;
    let may = (cap >> 32) as u32;
    ((wanted | must) & may, wanted & !may)
}

/// Controls Bulkhead uses where the CPU has them, and runs without
/// otherwise (none of them is needed for isolation): `true` for each one
/// this CPU lacks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Lacking {
    /// WBINVD exiting: a guest's WBINVD then writes back and invalidates
    /// the caches every cell shares.
    pub(crate) wbinvd_exiting: bool,
    /// RDPMC exiting: a guest's RDPMC then reads the core's counters.
    pub(crate) rdpmc_exiting: bool,
    /// Saving and loading DR7 and IA32_DEBUGCTL: guest breakpoints are
    /// then cleared at every exit.
    pub(crate) debug_controls: bool,
}

impl Lacking {
    /// The names of what is lacking, for the boot line.
    pub(crate) fn names(&self) -> impl Iterator<Item = &'static str> {
        [
            (self.wbinvd_exiting, "WBINVD exiting"),
            (self.rdpmc_exiting, "RDPMC exiting"),
            (self.debug_controls, "saving and loading debug controls"),
        ]
        .into_iter()
        .filter_map(|(lacking, name)| lacking.then_some(name))
    }
}

/// Which of the VM-exit and VM-entry controls cannot be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// A required VM-exit control.
    Exit,
    /// A required VM-entry control.
    Entry,
}

/// The VM-exit and VM-entry controls for the capabilities `exit_cap` and
/// `entry_cap`: the `required` bits of each, plus the optional pair
/// `debug` (save on exit, load on entry) in both or in neither (a DR7
/// saved but never loaded, or loaded but never saved, would be stale; a
/// bit the CPU forces stays set). Returns the controls and whether the
/// pair was dropped.
pub(crate) fn exit_entry(
    (exit_cap, entry_cap): (u64, u64),
    required: (u32, u32),
    debug: (u32, u32),
) -> Result<(u32, u32, bool), Side> {
    let (exit, missing_exit) = adjust(exit_cap, required.0 | debug.0);
    if missing_exit & !debug.0 != 0 {
        return Err(Side::Exit);
    }
    let (entry, missing_entry) = adjust(entry_cap, required.1 | debug.1);
    if missing_entry & !debug.1 != 0 {
        return Err(Side::Entry);
    }
    if missing_exit & debug.0 == 0 && missing_entry & debug.1 == 0 {
        return Ok((exit, entry, false));
    }
    let must_exit = exit_cap as u32 & debug.0;
    let must_entry = entry_cap as u32 & debug.1;
    Ok((
        exit & !debug.0 | must_exit,
        entry & !debug.1 | must_entry,
        true,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bochs' corei7_skylake_x IA32_VMX_TRUE_EXIT_CTLS and
    /// IA32_VMX_TRUE_ENTRY_CTLS.
    const EXIT_CAP: u64 = 0x01ff_ffff_0003_6dfb;
    const ENTRY_CAP: u64 = 0x0003_ffff_0000_11fb;
    /// 64-bit host, PAT and EFER; IA-32e guest, PAT and EFER.
    const REQUIRED: (u32, u32) = (0x3c_0200, 0xc200);
    /// Save debug controls (exit bit 2), load debug controls (entry bit 2).
    const DEBUG: (u32, u32) = (1 << 2, 1 << 2);

    #[test]
    fn adjust_sets_the_must_bits_and_names_what_cannot_be() {
        assert_eq!(adjust(0x0000_00ff_0000_0016, 0x28), (0x3e, 0));
        assert_eq!(adjust(0x0000_000f_0000_0001, 0x30), (0x01, 0x30));
    }

    #[test]
    fn f11_debug_controls_are_used_where_the_cpu_has_them() {
        let (exit, entry, dropped) = exit_entry((EXIT_CAP, ENTRY_CAP), REQUIRED, DEBUG).unwrap();
        assert!(!dropped);
        assert_eq!(exit & REQUIRED.0, REQUIRED.0);
        assert_ne!(exit & DEBUG.0, 0);
        assert_ne!(entry & DEBUG.1, 0);
    }

    #[test]
    fn f11_optional_controls_a_cpu_lacks_are_dropped_in_both_directions_and_named() {
        // A CPU that can load debug controls on entry but not save them on
        // exit: neither is used.
        let no_save = EXIT_CAP & !(u64::from(DEBUG.0) << 32);
        let (exit, entry, dropped) = exit_entry((no_save, ENTRY_CAP), REQUIRED, DEBUG).unwrap();
        assert!(dropped);
        assert_eq!(exit & DEBUG.0, 0);
        assert_eq!(entry & DEBUG.1, 0);
        assert_eq!(exit & REQUIRED.0, REQUIRED.0);
        let lacking = Lacking {
            debug_controls: dropped,
            wbinvd_exiting: true,
            ..Lacking::default()
        };
        assert_eq!(
            lacking.names().collect::<Vec<_>>(),
            ["WBINVD exiting", "saving and loading debug controls"]
        );
        assert_eq!(Lacking::default().names().count(), 0);
    }

    #[test]
    fn required_controls_are_not_optional() {
        let no_efer = EXIT_CAP & !(1u64 << (32 + 21));
        assert_eq!(
            exit_entry((no_efer, ENTRY_CAP), REQUIRED, DEBUG),
            Err(Side::Exit)
        );
        let no_ia32e = ENTRY_CAP & !(1u64 << (32 + 9));
        assert_eq!(
            exit_entry((EXIT_CAP, no_ia32e), REQUIRED, DEBUG),
            Err(Side::Entry)
        );
    }
}
