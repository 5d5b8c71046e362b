//! The guest boot area (docs/x86.md "Guest entry state"): a GDT, a TSS and
//! identity page tables for the first 4 GiB, written into the top 32 KiB
//! of a cell's first RAM region before each (re)start so every vCPU can
//! enter straight in 64-bit mode.
//!
//! Layout from the area's guest-physical base B ([`base`]):
//!
//! | offset            | contents                                          |
//! |-------------------|---------------------------------------------------|
//! | `0x0000`          | GDT: null, [`CODE64`], [`DATA`], [`TSS`] (16 bytes); limit [`GDT_LIMIT`] |
//! | `0x0800`          | 64-bit TSS, zero but for its I/O map base ([`TSS_OFFSET`]) |
//! | `0x1000`          | PML4 ([`PML4_OFFSET`]): entry 0 -> PDPT          |
//! | `0x2000`          | PDPT: entries 0..4 -> the page directories        |
//! | `0x3000..0x7000`  | 4 page directories: 2048 identity 2 MiB pages, 0-4 GiB |
//! | `0x7000`          | reserved (zeroed)                                 |
//!
//! Every table entry is present, writable and user-accessible (so leaves
//! alone decide), every leaf present, writable, supervisor-only, with PWT,
//! PCD and PAT clear: PAT entry 0, write-back with the power-on PAT. The
//! pages are executable (NX clear). Pure: [`write()`] fills a byte array; the
//! caller copies it to (or builds it in) the cell's RAM.

/// Size of the boot area: 32 KiB.
pub(crate) const SIZE: usize = 0x8000;

/// GDTR limit: five 8-byte slots (null, code, data, 16-byte TSS) minus one.
pub(crate) const GDT_LIMIT: u16 = 0x27;

/// Selector of the 64-bit code segment (GDT index 1, RPL 0).
pub(crate) const CODE64: u16 = 0x08;
/// Selector of the flat data segment (GDT index 2, RPL 0).
pub(crate) const DATA: u16 = 0x10;
/// Selector of the 64-bit TSS (GDT indices 3 and 4, RPL 0).
pub(crate) const TSS: u16 = 0x18;

/// Offset of the TSS from the area's base.
pub(crate) const TSS_OFFSET: u64 = 0x800;
/// Offset of the PML4 from the area's base (the guest's CR3 is B + this).
pub(crate) const PML4_OFFSET: u64 = 0x1000;
/// Offset of the PDPT.
pub(crate) const PDPT_OFFSET: u64 = 0x2000;
/// Offset of the first of the four page directories.
pub(crate) const PD_OFFSET: u64 = 0x3000;
/// Offset of the reserved page.
#[cfg(test)]
const RESERVED_OFFSET: u64 = 0x7000;

/// TSS limit: 104 bytes minus one.
pub(crate) const TSS_LIMIT: u32 = 0x67;

/// GDT descriptor of [`CODE64`]: base 0, limit 0xfffff, G, L, present,
/// DPL 0, execute/read code, accessed.
pub(crate) const CODE64_DESCRIPTOR: u64 = 0x00af_9b00_0000_ffff;
/// GDT descriptor of [`DATA`]: base 0, limit 0xfffff, G, D/B, present,
/// DPL 0, read/write data, accessed.
pub(crate) const DATA_DESCRIPTOR: u64 = 0x00cf_9300_0000_ffff;

/// VMCS access rights matching [`CODE64_DESCRIPTOR`].
pub(crate) const CODE64_ACCESS_RIGHTS: u32 = 0xa09b;
/// VMCS access rights matching [`DATA_DESCRIPTOR`].
pub(crate) const DATA_ACCESS_RIGHTS: u32 = 0xc093;
/// VMCS access rights of TR: present busy 64-bit TSS (type 11; VM entry
/// requires busy, the GDT descriptor is type 9, available, so a guest may
/// still `ltr` it).
pub(crate) const TSS_ACCESS_RIGHTS: u32 = 0x8b;

/// Guest-physical bytes the page directories identity-map: 4 GiB.
pub(crate) const MAPPED: u64 = 4 << 30;

/// Smallest first RAM region [`base`] accepts: 64 KiB (the area and as
/// much again below it).
const MIN_REGION: u64 = 0x1_0000;
/// Page size.
const PAGE: u64 = 0x1000;
/// Number of page directories.
const PAGE_DIRECTORIES: u64 = 4;
/// Bytes one 2 MiB page maps.
const LARGE_PAGE: u64 = 2 << 20;

/// Paging-structure entry bit 0: present.
pub(crate) const PRESENT: u64 = 1 << 0;
/// Bit 1: writable.
pub(crate) const WRITABLE: u64 = 1 << 1;
/// Bit 2: user-mode accesses allowed.
pub(crate) const USER: u64 = 1 << 2;
/// Bit 7 of a PDE: 2 MiB page.
pub(crate) const PAGE_SIZE_BIT: u64 = 1 << 7;

/// TSS offset 0x66: I/O map base address.
const TSS_IOMAP_BASE: usize = 0x66;

/// Base of the boot area in a first RAM region at `region_gpa` of
/// `region_size` bytes: its top 32 KiB. `None` if the region is smaller
/// than 64 KiB, not 4 KiB aligned (base or size), or its top wraps or
/// lies above 4 GiB (the area must be reachable through its own identity
/// map).
pub(crate) fn base(region_gpa: u64, region_size: u64) -> Option<u64> {
    if region_size < MIN_REGION
        || !region_gpa.is_multiple_of(PAGE)
        || !region_size.is_multiple_of(PAGE)
    {
        return None;
    }
    let end = region_gpa.checked_add(region_size)?;
    if end > MAPPED {
        return None;
    }
    Some(end - SIZE as u64)
}

/// Stores `value` little-endian at `offset` of `area`.
fn put(area: &mut [u8; SIZE], offset: u64, value: u64) {
    let offset = offset as usize;
    area[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
}

/// The 16-byte available 64-bit TSS descriptor for a TSS at `tss` with
/// limit [`TSS_LIMIT`], as (low, high) quadwords.
pub(crate) fn tss_descriptor(tss: u64) -> (u64, u64) {
    let limit = u64::from(TSS_LIMIT);
    let low = (limit & 0xffff)
        | (tss & 0xff_ffff) << 16
        | 0x89 << 40 // present, DPL 0, type 9: available 64-bit TSS
        | (limit >> 16 & 0xf) << 48
        | (tss >> 24 & 0xff) << 56;
    (low, tss >> 32)
}

/// Fills `area`, which the guest sees at guest-physical `base`, with the
/// boot area: every byte is written (nothing of a previous run survives).
pub(crate) fn write(area: &mut [u8; SIZE], base: u64) {
    area.fill(0);
    // GDT.
    put(area, u64::from(CODE64), CODE64_DESCRIPTOR);
    put(area, u64::from(DATA), DATA_DESCRIPTOR);
    let (tss_low, tss_high) = tss_descriptor(base + TSS_OFFSET);
    put(area, u64::from(TSS), tss_low);
    put(area, u64::from(TSS) + 8, tss_high);
    // TSS: no I/O permission bitmap (its base is past the limit), so CPL 3
    // port accesses obey IOPL alone.
    let iomap = TSS_OFFSET as usize + TSS_IOMAP_BASE;
    area[iomap..iomap + 2].copy_from_slice(&(TSS_LIMIT as u16 + 1).to_le_bytes());
    // PML4[0] -> PDPT; PDPT[0..4] -> the page directories.
    let table = PRESENT | WRITABLE | USER;
    put(area, PML4_OFFSET, (base + PDPT_OFFSET) | table);
    for pd in 0..PAGE_DIRECTORIES {
        let pd_address = base + PD_OFFSET + pd * PAGE;
        put(area, PDPT_OFFSET + pd * 8, pd_address | table);
    }
    // 2048 identity 2 MiB pages.
    for page in 0..MAPPED / LARGE_PAGE {
        put(
            area,
            PD_OFFSET + page * 8,
            (page * LARGE_PAGE) | PRESENT | WRITABLE | PAGE_SIZE_BIT,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: u64 = 0x00ff_8000; // top of a 16 MiB region at 0

    fn built() -> Box<[u8; SIZE]> {
        let mut area = Box::new([0xa5u8; SIZE]);
        write(&mut area, B);
        area
    }

    fn get(area: &[u8; SIZE], offset: u64) -> u64 {
        let offset = offset as usize;
        u64::from_le_bytes(area[offset..offset + 8].try_into().unwrap())
    }

    /// Walks the 4-level tables in `area` (at guest `B`) like the CPU does
    /// for a supervisor access: `Some((physical, writable, user))`.
    fn translate(area: &[u8; SIZE], cr3: u64, va: u64) -> Option<(u64, bool, bool)> {
        let read = |gpa: u64| {
            assert!(
                (B..B + SIZE as u64).contains(&gpa),
                "walk left the area: {gpa:#x}"
            );
            get(area, gpa - B)
        };
        let address = |entry: u64| entry & 0x000f_ffff_ffff_f000;
        let pml4e = read(cr3 + (va >> 39 & 0x1ff) * 8);
        if pml4e & PRESENT == 0 {
            return None;
        }
        let pdpte = read(address(pml4e) + (va >> 30 & 0x1ff) * 8);
        if pdpte & PRESENT == 0 {
            return None;
        }
        assert_eq!(pdpte & PAGE_SIZE_BIT, 0, "no 1 GiB pages");
        let pde = read(address(pdpte) + (va >> 21 & 0x1ff) * 8);
        if pde & PRESENT == 0 {
            return None;
        }
        assert_ne!(pde & PAGE_SIZE_BIT, 0, "only 2 MiB pages");
        let writable = pml4e & pdpte & pde & WRITABLE != 0;
        let user = pml4e & pdpte & pde & USER != 0;
        Some((
            (pde & 0x000f_ffff_ffe0_0000) + (va & 0x1f_ffff),
            writable,
            user,
        ))
    }

    #[test]
    fn base_is_the_top_32_kib() {
        assert_eq!(base(0, 16 << 20), Some(0xff_8000));
        assert_eq!(base(0x10_0000, 0x1_0000), Some(0x10_8000));
        assert_eq!(base(0x10_0000, 0xffff), None); // too small and misaligned
        assert_eq!(base(0x10_0000, 0xf000), None); // too small
        assert_eq!(base(0x10_0800, 0x10_0000), None); // misaligned base
        assert_eq!(base(0x10_0000, 0x10_0800), None); // misaligned size
        assert_eq!(base(0xffff_0000, 0x1_0000), Some(0xffff_8000));
        assert_eq!(base(0xffff_0000, 0x2_0000), None); // above 4 GiB
        assert_eq!(base(u64::MAX - 0xfff, 0x1_0000), None); // wraps
    }

    #[test]
    fn gdt_descriptors() {
        let area = built();
        assert_eq!(get(&area, 0), 0);
        assert_eq!(get(&area, 8), 0x00af_9b00_0000_ffff);
        assert_eq!(get(&area, 0x10), 0x00cf_9300_0000_ffff);
        // Decode the code and data descriptors field by field.
        for (offset, l, db, access, rights) in [
            (8, 1, 0, 0x9b, CODE64_ACCESS_RIGHTS),
            (0x10, 0, 1, 0x93, DATA_ACCESS_RIGHTS),
        ] {
            let d = get(&area, offset);
            assert_eq!(d & 0xffff | (d >> 48 & 0xf) << 16, 0xf_ffff, "limit");
            assert_eq!(d >> 16 & 0xff_ffff | (d >> 56) << 24, 0, "base");
            assert_eq!(d >> 40 & 0xff, access, "access byte");
            assert_eq!(d >> 53 & 1, l, "L");
            assert_eq!(d >> 54 & 1, db, "D/B");
            assert_eq!(d >> 55 & 1, 1, "G");
            // VMCS access rights: type/S/DPL/P, then AVL/L/D/G.
            assert_eq!(u64::from(rights), (d >> 40 & 0xff) | (d >> 52 & 0xf) << 12);
        }
        // The TSS descriptor: 16 bytes, type 9, present, base B + 0x800.
        let (low, high) = (get(&area, 0x18), get(&area, 0x20));
        let tss_base = (low >> 16 & 0xff_ffff) | (low >> 56 & 0xff) << 24 | high << 32;
        assert_eq!(tss_base, B + TSS_OFFSET);
        assert_eq!(low & 0xffff | (low >> 48 & 0xf) << 16, 0x67, "limit");
        assert_eq!(low >> 40 & 0xf, 9, "type: available 64-bit TSS");
        assert_eq!(low >> 44 & 1, 0, "system descriptor");
        assert_eq!(low >> 45 & 3, 0, "DPL");
        assert_eq!(low >> 47 & 1, 1, "present");
        assert_eq!(low >> 55 & 1, 0, "byte granularity");
        assert_eq!(u64::from(TSS_ACCESS_RIGHTS), (low >> 40 & 0xff) | 2);
        // Nothing past the GDT limit.
        assert_eq!(usize::from(GDT_LIMIT) + 1, 0x28);
        assert!(area[0x28..TSS_OFFSET as usize].iter().all(|&b| b == 0));
    }

    #[test]
    fn tss_descriptor_splits_a_high_base() {
        let (low, high) = tss_descriptor(0x1234_5678_9abc_d800);
        assert_eq!(low, 0x9a00_89bc_d800_0067);
        assert_eq!(high, 0x1234_5678);
    }

    #[test]
    fn tss_is_zero_but_for_the_io_map_base() {
        let area = built();
        let tss = &area[TSS_OFFSET as usize..TSS_OFFSET as usize + 0x68];
        assert!(tss[..0x66].iter().all(|&b| b == 0));
        assert_eq!(u16::from_le_bytes([tss[0x66], tss[0x67]]), 0x68);
        assert!(
            area[TSS_OFFSET as usize + 0x68..PML4_OFFSET as usize]
                .iter()
                .all(|&b| b == 0)
        );
    }

    #[test]
    fn tables_map_the_first_4_gib_identity() {
        let area = built();
        let cr3 = B + PML4_OFFSET;
        for va in [
            0,
            0x1234,
            0x20_0000,
            0x10_0000,
            B,
            B + 0x7fff,
            0x8000_0000,
            0xfee0_0000,
            0xffff_ffff,
        ] {
            assert_eq!(
                translate(&area, cr3, va),
                Some((va, true, false)),
                "{va:#x}"
            );
        }
        assert_eq!(translate(&area, cr3, 1 << 32), None);
        assert_eq!(translate(&area, cr3, 1 << 39), None);
        assert_eq!(translate(&area, cr3, 0xffff_8000_0000_0000), None);
    }

    #[test]
    fn table_entries_bits() {
        let area = built();
        assert_eq!(get(&area, PML4_OFFSET), (B + 0x2000) | 0b111);
        assert!((1..512).all(|i| get(&area, PML4_OFFSET + i * 8) == 0));
        for i in 0..4 {
            assert_eq!(
                get(&area, PDPT_OFFSET + i * 8),
                (B + 0x3000 + i * 0x1000) | 0b111
            );
        }
        assert!((4..512).all(|i| get(&area, PDPT_OFFSET + i * 8) == 0));
        for i in 0..2048 {
            // P, RW, PS; PWT, PCD, PAT (bit 12) and NX clear: write-back.
            assert_eq!(get(&area, PD_OFFSET + i * 8), i << 21 | 0x83, "{i}");
        }
        assert!(area[RESERVED_OFFSET as usize..].iter().all(|&b| b == 0));
    }

    #[test]
    fn rewriting_is_idempotent_and_base_dependent() {
        let mut area = built();
        let first = area.clone();
        write(&mut area, B);
        assert_eq!(area, first);
        write(&mut area, 0x10_8000);
        assert_eq!(get(&area, PML4_OFFSET), 0x10_a007);
        assert_eq!(get(&area, 0x18) >> 16 & 0xff_ffff, 0x10_8000 + TSS_OFFSET);
        // The identity map does not depend on where the area is.
        assert_eq!(area[PD_OFFSET as usize..], first[PD_OFFSET as usize..]);
    }
}
