//! Arch-neutral translation-table builder over a static pool of 4 KiB tables.
//!
//! A [`PageTable`] owns a [`TablePool`] (a borrowed slice of [`Table`]s plus
//! the physical address of the first one) and maps ranges with the largest
//! leaf that alignment and size allow: 1 GiB blocks at level 1, 2 MiB blocks
//! at level 2, 4 KiB pages at level 3 (4 KiB granule, 9 index bits a level).
//!
//! Everything that depends on the bit layout of an entry goes through a
//! [`DescriptorFormat`]; the builder itself never inspects raw entry bits.
//! Tables hold physical addresses; walking converts them back to pool
//! indices with a bounds check, so a stray address is an error, never UB.
//!
//! `map` is all-or-nothing: it first plans the whole range (overlaps, tables
//! needed) without writing, so a failed call leaves the tables untouched.
//! The builder issues no barriers or TLB maintenance: it is meant for tables
//! that are not yet live (built at boot, before they are installed).

#![forbid(unsafe_code)]

use core::marker::PhantomData;

use crate::addr::{GuestPhysAddr, PhysAddr, VirtAddr};

/// Size of a page, of a table, and the alignment every mapping needs.
pub(crate) const PAGE_SIZE: u64 = 4096;

/// Number of 64-bit entries in one table.
pub(crate) const ENTRIES_PER_TABLE: usize = 512;

/// log2 of [`PAGE_SIZE`].
const PAGE_SHIFT: u32 = 12;

/// Input-address bits resolved by one level (log2 of [`ENTRIES_PER_TABLE`]).
const INDEX_BITS: u32 = 9;

/// A translation-table level (4 KiB granule: level 0 is the top, 3 the last).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Level {
    /// Each entry covers 512 GiB; only tables here.
    #[cfg_attr(
        target_arch = "aarch64",
        allow(dead_code, reason = "AArch64's maps start at level 1 (39-bit spaces)")
    )]
    Zero = 0,
    /// Each entry covers 1 GiB.
    One = 1,
    /// Each entry covers 2 MiB.
    Two = 2,
    /// Each entry covers one 4 KiB page.
    Three = 3,
}

impl Level {
    /// All levels, top to bottom.
    #[cfg(test)]
    pub(crate) const ALL: [Level; 4] = [Level::Zero, Level::One, Level::Two, Level::Three];

    /// The level as a number, 0 to 3.
    #[cfg(test)]
    pub(crate) const fn number(self) -> u8 {
        self as u8
    }

    /// Lowest input-address bit this level indexes with.
    pub(crate) const fn shift(self) -> u32 {
        PAGE_SHIFT + INDEX_BITS * (3 - self as u32)
    }

    /// Bytes of input address covered by one entry at this level.
    pub(crate) const fn entry_size(self) -> u64 {
        1 << self.shift()
    }

    /// The level below, or `None` for level 3.
    pub(crate) const fn next(self) -> Option<Level> {
        match self {
            Level::Zero => Some(Level::One),
            Level::One => Some(Level::Two),
            Level::Two => Some(Level::Three),
            Level::Three => None,
        }
    }

    /// Index of the entry translating `input` in a table at this level.
    const fn index_of(self, input: u64) -> usize {
        ((input >> self.shift()) as usize) & (ENTRIES_PER_TABLE - 1)
    }

    /// Position of this level in per-level arrays.
    const fn slot(self) -> usize {
        self as usize
    }
}

/// Memory type of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum MemKind {
    /// Normal, cacheable (write-back) memory.
    Normal,
    /// Device memory (no gathering, no reordering, early write ack allowed).
    Device,
}

/// Access permissions of a mapping: a configuration type (a cell region's
/// `perm`), defined with the other table types in `bulkhead-tables`.
pub(crate) use bulkhead_tables::Perm;

/// Arch-neutral attributes of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct MemAttrs {
    /// Memory type.
    pub(crate) kind: MemKind,
    /// Access permissions.
    pub(crate) perm: Perm,
}

impl MemAttrs {
    /// Normal memory with `perm`.
    pub(crate) const fn normal(perm: Perm) -> Self {
        Self {
            kind: MemKind::Normal,
            perm,
        }
    }

    /// Device memory with `perm`.
    pub(crate) const fn device(perm: Perm) -> Self {
        Self {
            kind: MemKind::Device,
            perm,
        }
    }
}

/// What a descriptor means, as decoded by a [`DescriptorFormat`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// Translation fault: nothing mapped through this entry.
    Invalid,
    /// Points to the next-level table at this physical address.
    Table(PhysAddr),
    /// A leaf: a block (levels 1 and 2) or a page (level 3).
    Block {
        /// Output address of the start of the block.
        out: PhysAddr,
        /// Attributes of the block.
        attrs: MemAttrs,
    },
}

/// An input-address type a translation regime accepts.
///
/// Implemented by [`VirtAddr`] (hypervisor stage 1) and [`GuestPhysAddr`]
/// (stage 2). Each [`DescriptorFormat`] names exactly one, so a stage-2
/// table cannot be handed a virtual address or vice versa.
pub(crate) trait InputAddress: Copy {
    /// Wraps a raw address.
    #[cfg(test)]
    fn from_raw(raw: u64) -> Self;
    /// The raw address.
    fn to_raw(self) -> u64;
}

impl InputAddress for VirtAddr {
    #[cfg(test)]
    fn from_raw(raw: u64) -> Self {
        VirtAddr::new(raw)
    }

    fn to_raw(self) -> u64 {
        self.as_u64()
    }
}

impl InputAddress for GuestPhysAddr {
    #[cfg(test)]
    fn from_raw(raw: u64) -> Self {
        GuestPhysAddr::new(raw)
    }

    fn to_raw(self) -> u64 {
        self.as_u64()
    }
}

/// Bit layout of one translation regime's descriptors (4 KiB granule).
///
/// Every function gets the level of the entry it encodes or decodes, so a
/// format may lay out entries differently per level. The builder only ever
/// stores what these functions return and only interprets entries through
/// [`DescriptorFormat::decode`].
pub(crate) trait DescriptorFormat {
    /// Input addresses of this regime ([`VirtAddr`] or [`GuestPhysAddr`]).
    type Input: InputAddress;

    /// Output addresses, including table addresses, must lie below
    /// `1 << OUTPUT_BITS`.
    const OUTPUT_BITS: u32;

    /// An entry at `level` that translates nothing. Fresh tables are filled
    /// with it (it need not be zero).
    fn invalid(level: Level) -> u64;

    /// An entry at `level` pointing to the next-level table at `next`
    /// (4 KiB aligned, within [`Self::OUTPUT_BITS`]).
    fn table(level: Level, next: PhysAddr) -> u64;

    /// A leaf entry at `level` mapping the `level.entry_size()` bytes at
    /// `out` (aligned to that size, within [`Self::OUTPUT_BITS`]). Only
    /// called where [`Self::block_allowed`] holds (always at level 3) and
    /// with attributes [`Self::attrs_supported`] accepts.
    fn block(level: Level, out: PhysAddr, attrs: MemAttrs) -> u64;

    /// Interprets an entry found at `level`.
    fn decode(entry: u64, level: Level) -> Decoded;

    /// Whether a leaf may sit at `level` (levels 1 and 2 for blocks; level
    /// 3 holds pages, so it must return `true` there).
    fn block_allowed(level: Level) -> bool;

    /// Whether `attrs` can be encoded exactly; `map` rejects the rest rather
    /// than widening or narrowing them.
    fn attrs_supported(attrs: MemAttrs) -> bool;
}

/// One 4 KiB translation table: 512 raw entries, naturally aligned.
#[repr(C, align(4096))]
pub(crate) struct Table(pub [u64; ENTRIES_PER_TABLE]);

impl Table {
    /// An all-zero table, for initialising pools in `static`s
    /// (`[Table::ZEROED; N]`). The builder refills each table it takes with
    /// the format's invalid entry, so zero need not mean invalid.
    pub(crate) const ZEROED: Table = Table([0; ENTRIES_PER_TABLE]);
}

/// Why a [`TablePool`] or [`PageTable`] could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(target_os = "none", derive(defmt::Format))]
pub(crate) enum SetupError {
    /// The start level cannot resolve that many input-address bits, or
    /// needs fewer levels (concatenated root tables are not supported).
    UnsupportedGeometry,
    /// The pool's base physical address is not 4 KiB aligned.
    PoolMisaligned,
    /// The pool's physical range wraps around or lies beyond the format's
    /// output-address range.
    PoolOutOfRange,
    /// The pool has no table left for the root.
    PoolExhausted,
}

/// Why [`PageTable::map`] refused a mapping. Nothing was changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(target_os = "none", derive(defmt::Format))]
pub(crate) enum MapError {
    /// The input, output or size is not a multiple of 4 KiB.
    Misaligned,
    /// The size is zero.
    ZeroSize,
    /// The input range goes beyond the table's input-address bits, or the
    /// output range beyond the format's output-address bits.
    OutOfRange,
    /// Part of the input range is already mapped (by a page or a block).
    AlreadyMapped,
    /// The pool has too few free tables for this mapping.
    PoolExhausted,
    /// The input or output range wraps around the 64-bit address space.
    Overflow,
    /// The format cannot encode these attributes exactly.
    UnsupportedAttrs,
    /// A table entry points outside the pool (format bug or corruption).
    CorruptTable,
}

/// A set of tables, borrowed for the life of a [`PageTable`], with the
/// physical address of the first one.
///
/// Tables are handed out in order and never returned. On the target the
/// hypervisor identity-maps its memory, so [`TablePool::identity`] derives
/// the base from the slice's address; host tests pass a fake base.
pub(crate) struct TablePool<'a> {
    tables: &'a mut [Table],
    base: PhysAddr,
    used: usize,
}

impl<'a> TablePool<'a> {
    /// A pool over `tables`, the first of which lives at physical `base`.
    pub(crate) fn new(tables: &'a mut [Table], base: PhysAddr) -> Result<Self, SetupError> {
        if !base.is_aligned(PAGE_SIZE) {
            return Err(SetupError::PoolMisaligned);
        }
        let bytes = (tables.len() as u64)
            .checked_mul(PAGE_SIZE)
            .ok_or(SetupError::PoolOutOfRange)?;
        base.checked_add(bytes).ok_or(SetupError::PoolOutOfRange)?;
        Ok(Self {
            tables,
            base,
            used: 0,
        })
    }

    /// A pool whose physical base is the address of `tables` (for an
    /// identity-mapped hypervisor, where PA == VA).
    pub(crate) fn identity(tables: &'a mut [Table]) -> Result<Self, SetupError> {
        let base = PhysAddr::new(tables.as_ptr().addr() as u64);
        Self::new(tables, base)
    }

    /// Number of tables in the pool.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.tables.len()
    }

    /// Number of tables handed out so far.
    pub(crate) fn used(&self) -> usize {
        self.used
    }

    /// Physical address of the first table.
    #[cfg(test)]
    pub(crate) fn base(&self) -> PhysAddr {
        self.base
    }

    /// Number of tables still free.
    fn free(&self) -> usize {
        self.tables.len() - self.used
    }

    /// One past the last byte of the pool (cannot overflow: checked in `new`).
    fn end(&self) -> u64 {
        self.base.as_u64() + self.tables.len() as u64 * PAGE_SIZE
    }

    /// Takes the next free table, returning its index.
    fn allocate(&mut self) -> Option<usize> {
        if self.used == self.tables.len() {
            return None;
        }
        self.used += 1;
        Some(self.used - 1)
    }

    /// Physical address of the table at `index`.
    fn address_of(&self, index: usize) -> PhysAddr {
        PhysAddr::new(self.base.as_u64() + index as u64 * PAGE_SIZE)
    }

    /// Index of the handed-out table at `address`, if it is one.
    fn index_of(&self, address: PhysAddr) -> Option<usize> {
        let offset = address.offset_from(self.base)?;
        if !offset.is_multiple_of(PAGE_SIZE) {
            return None;
        }
        let index = usize::try_from(offset / PAGE_SIZE).ok()?;
        (index < self.used).then_some(index)
    }
}

/// A translation table tree in the layout of format `F`.
pub(crate) struct PageTable<'a, F: DescriptorFormat> {
    pool: TablePool<'a>,
    root: usize,
    start_level: Level,
    input_bits: u32,
    blocks: [usize; 4],
    format: PhantomData<F>,
}

impl<'a, F: DescriptorFormat> PageTable<'a, F> {
    /// An empty tree whose root is at `start_level` and which translates
    /// input addresses below `1 << input_bits` (e.g. level 0 with 40 to 48
    /// bits, level 1 with 31 to 39). Takes the root from `pool`.
    pub(crate) fn new(
        mut pool: TablePool<'a>,
        start_level: Level,
        input_bits: u32,
    ) -> Result<Self, SetupError> {
        let covered_below = start_level.shift();
        if input_bits <= covered_below || input_bits > covered_below + INDEX_BITS {
            return Err(SetupError::UnsupportedGeometry);
        }
        if exceeds_bits(pool.end(), F::OUTPUT_BITS) {
            return Err(SetupError::PoolOutOfRange);
        }
        let root = pool.allocate().ok_or(SetupError::PoolExhausted)?;
        let mut page_table = Self {
            pool,
            root,
            start_level,
            input_bits,
            blocks: [0; 4],
            format: PhantomData,
        };
        page_table.clear(root, start_level);
        Ok(page_table)
    }

    /// Physical address of the root table (for TTBR0_EL2, VTTBR_EL2, ...).
    pub(crate) fn root(&self) -> PhysAddr {
        self.pool.address_of(self.root)
    }

    /// Level of the root table.
    #[cfg(test)]
    pub(crate) fn start_level(&self) -> Level {
        self.start_level
    }

    /// Number of input-address bits translated.
    #[cfg(test)]
    pub(crate) fn input_bits(&self) -> u32 {
        self.input_bits
    }

    /// Tables taken from the pool so far, root included.
    pub(crate) fn tables_used(&self) -> usize {
        self.pool.used()
    }

    /// Total tables in the pool.
    #[cfg(test)]
    pub(crate) fn tables_capacity(&self) -> usize {
        self.pool.capacity()
    }

    /// Number of leaves written at `level` (1: 1 GiB blocks, 2: 2 MiB
    /// blocks, 3: 4 KiB pages; always 0 at level 0).
    pub(crate) fn blocks_at(&self, level: Level) -> usize {
        self.blocks[level.slot()]
    }

    /// Maps `size` bytes at `input` to `output` with `attrs`, using the
    /// largest blocks that the alignment of both addresses and the remaining
    /// size allow. All-or-nothing: on error nothing has changed.
    pub(crate) fn map(
        &mut self,
        input: F::Input,
        output: PhysAddr,
        size: u64,
        attrs: MemAttrs,
    ) -> Result<(), MapError> {
        let input = input.to_raw();
        let output = output.as_u64();
        if size == 0 {
            return Err(MapError::ZeroSize);
        }
        if !(input | output | size).is_multiple_of(PAGE_SIZE) {
            return Err(MapError::Misaligned);
        }
        if !F::attrs_supported(attrs) {
            return Err(MapError::UnsupportedAttrs);
        }
        let input_end = input.checked_add(size).ok_or(MapError::Overflow)?;
        let output_end = output.checked_add(size).ok_or(MapError::Overflow)?;
        if exceeds_bits(input_end, self.input_bits) || exceeds_bits(output_end, F::OUTPUT_BITS) {
            return Err(MapError::OutOfRange);
        }

        let range = Chunk {
            input,
            output,
            end: input_end,
        };
        let tables_needed = self.plan(self.start_level, Some(self.root), range)?;
        if tables_needed > self.pool.free() {
            return Err(MapError::PoolExhausted);
        }
        self.commit(self.start_level, self.root, range, attrs)
    }

    /// Output address and attributes that `input` translates to, if mapped.
    #[cfg(test)]
    pub(crate) fn translate(&self, input: F::Input) -> Option<(PhysAddr, MemAttrs)> {
        let input = input.to_raw();
        if input >> self.input_bits != 0 {
            return None;
        }
        let mut level = self.start_level;
        let mut table = self.root;
        loop {
            match F::decode(self.entry(table, level, input), level) {
                Decoded::Invalid => return None,
                Decoded::Block { out, attrs } => {
                    let offset = input & (level.entry_size() - 1);
                    return Some((out.checked_add(offset)?, attrs));
                }
                Decoded::Table(next) => {
                    table = self.pool.index_of(next)?;
                    level = level.next()?;
                }
            }
        }
    }

    /// Calls `visit(input, output, size, attrs)` for every block and page
    /// in the tree, in ascending input order: an audit of everything the
    /// tables map, not just of what was asked for (the isolation tests use
    /// it). Entries pointing outside the pool are skipped.
    #[cfg(test)]
    pub(crate) fn for_each_mapping(&self, mut visit: impl FnMut(u64, PhysAddr, u64, MemAttrs)) {
        self.walk(self.start_level, self.root, 0, &mut visit);
    }

    #[cfg(test)]
    fn walk(
        &self,
        level: Level,
        table: usize,
        base: u64,
        visit: &mut impl FnMut(u64, PhysAddr, u64, MemAttrs),
    ) {
        let entries = if level == self.start_level {
            1usize << (self.input_bits - level.shift())
        } else {
            ENTRIES_PER_TABLE
        };
        for (i, &entry) in self.pool.tables[table].0[..entries].iter().enumerate() {
            let input = base + i as u64 * level.entry_size();
            match F::decode(entry, level) {
                Decoded::Invalid => {}
                Decoded::Block { out, attrs } => visit(input, out, level.entry_size(), attrs),
                Decoded::Table(next) => {
                    if let Ok((child, index)) = self.follow(level, next) {
                        self.walk(child, index, input, visit);
                    }
                }
            }
        }
    }

    /// Counts the tables mapping `range` would take, checking for overlaps.
    /// `table` is `None` for a table that does not exist yet (all invalid).
    fn plan(&self, level: Level, table: Option<usize>, range: Chunk) -> Result<usize, MapError> {
        let mut tables_needed = 0;
        for chunk in range.split(level) {
            let existing = match table {
                Some(index) => F::decode(self.entry(index, level, chunk.input), level),
                None => Decoded::Invalid,
            };
            match (existing, chunk.child_level::<F>(level)) {
                (Decoded::Block { .. }, _) => return Err(MapError::AlreadyMapped),
                (Decoded::Invalid, None) => {}
                (Decoded::Invalid, Some(child)) => {
                    tables_needed += 1 + self.plan(child, None, chunk)?;
                }
                (Decoded::Table(next), _) => {
                    let (child, index) = self.follow(level, next)?;
                    tables_needed += self.plan(child, Some(index), chunk)?;
                }
            }
        }
        Ok(tables_needed)
    }

    /// Writes the mapping of `range` that [`Self::plan`] approved. New
    /// tables are filled before the entry pointing to them is written.
    fn commit(
        &mut self,
        level: Level,
        table: usize,
        range: Chunk,
        attrs: MemAttrs,
    ) -> Result<(), MapError> {
        for chunk in range.split(level) {
            let slot = level.index_of(chunk.input);
            let existing = F::decode(self.pool.tables[table].0[slot], level);
            match (existing, chunk.child_level::<F>(level)) {
                (Decoded::Block { .. }, _) => return Err(MapError::AlreadyMapped),
                (Decoded::Invalid, None) => {
                    let out = PhysAddr::new(chunk.output);
                    self.pool.tables[table].0[slot] = F::block(level, out, attrs);
                    self.blocks[level.slot()] += 1;
                }
                (Decoded::Invalid, Some(child)) => {
                    let index = self.pool.allocate().ok_or(MapError::PoolExhausted)?;
                    self.clear(index, child);
                    self.commit(child, index, chunk, attrs)?;
                    let next = self.pool.address_of(index);
                    self.pool.tables[table].0[slot] = F::table(level, next);
                }
                (Decoded::Table(next), _) => {
                    let (child, index) = self.follow(level, next)?;
                    self.commit(child, index, chunk, attrs)?;
                }
            }
        }
        Ok(())
    }

    /// Level and pool index of the table that an entry at `level` points to.
    fn follow(&self, level: Level, next: PhysAddr) -> Result<(Level, usize), MapError> {
        let child = level.next().ok_or(MapError::CorruptTable)?;
        let index = self.pool.index_of(next).ok_or(MapError::CorruptTable)?;
        Ok((child, index))
    }

    /// The raw entry translating `input` in table `index` at `level`.
    fn entry(&self, index: usize, level: Level, input: u64) -> u64 {
        self.pool.tables[index].0[level.index_of(input)]
    }

    /// Fills table `index` with invalid entries for `level`.
    fn clear(&mut self, index: usize, level: Level) {
        self.pool.tables[index].0.fill(F::invalid(level));
    }
}

/// A page-aligned piece of a mapping: `[input, end)` to `output` onward.
#[derive(Clone, Copy, Debug)]
struct Chunk {
    input: u64,
    output: u64,
    end: u64,
}

impl Chunk {
    /// Splits `self` at the boundaries of entries at `level`.
    fn split(self, level: Level) -> impl Iterator<Item = Chunk> {
        let mut rest = self;
        core::iter::from_fn(move || {
            if rest.input >= rest.end {
                return None;
            }
            // In range: inputs are below 1 << 48, so this cannot overflow.
            let entry_end = (rest.input & !(level.entry_size() - 1)) + level.entry_size();
            let end = rest.end.min(entry_end);
            let chunk = Chunk { end, ..rest };
            rest.output += end - rest.input;
            rest.input = end;
            Some(chunk)
        })
    }

    /// `None` if this chunk (within one entry at `level`) can be a single
    /// leaf there, else the level of the table it must be split into.
    fn child_level<F: DescriptorFormat>(self, level: Level) -> Option<Level> {
        let child = level.next()?;
        let whole_entry = self.end - self.input == level.entry_size();
        let output_aligned = self.output.is_multiple_of(level.entry_size());
        if whole_entry && output_aligned && F::block_allowed(level) {
            None
        } else {
            Some(child)
        }
    }
}

/// Whether `end` (an exclusive bound or an address) exceeds `1 << bits`.
fn exceeds_bits(end: u64, bits: u32) -> bool {
    1u64.checked_shl(bits).is_some_and(|limit| end > limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::aarch64::model::descriptors::{El2Stage1, Stage2};
    use crate::mm::fake::FakeFormat;

    /// Fake format with 1 GiB blocks, on guest-physical inputs.
    type Fake = FakeFormat<GuestPhysAddr, true>;
    /// Fake format without 1 GiB blocks, on virtual inputs.
    type FakeNoGiant = FakeFormat<VirtAddr, false>;

    const PAGE: u64 = PAGE_SIZE;
    const MIB2: u64 = 1 << 21;
    const GIB: u64 = 1 << 30;
    /// Physical base of test pools: above 4 GiB, to catch truncation.
    const POOL_BASE: PhysAddr = PhysAddr::new(0x80_4000_0000);
    const NORMAL_RW: MemAttrs = MemAttrs::normal(Perm::RW);

    /// Runs a generic check against the fake and both AArch64 formats.
    macro_rules! for_each_format {
        ($check:ident) => {
            $check::<Fake>();
            $check::<El2Stage1>();
            $check::<Stage2>();
        };
    }

    fn page_table<F: DescriptorFormat>(
        tables: &mut [Table],
        start_level: Level,
        input_bits: u32,
    ) -> PageTable<'_, F> {
        let pool = TablePool::new(tables, POOL_BASE).unwrap();
        PageTable::new(pool, start_level, input_bits).unwrap()
    }

    fn at<F: DescriptorFormat>(raw: u64) -> F::Input {
        F::Input::from_raw(raw)
    }

    fn pa(raw: u64) -> PhysAddr {
        PhysAddr::new(raw)
    }

    /// Leaves per level, level 0 first.
    fn block_counts<F: DescriptorFormat>(table: &PageTable<'_, F>) -> [usize; 4] {
        Level::ALL.map(|level| table.blocks_at(level))
    }

    #[test]
    fn aligned_gib_uses_one_level1_block() {
        fn check<F: DescriptorFormat>() {
            let mut tables = [Table::ZEROED; 4];
            let mut table = page_table::<F>(&mut tables, Level::Zero, 48);
            table
                .map(at::<F>(3 * GIB), pa(5 * GIB), GIB, NORMAL_RW)
                .unwrap();
            assert_eq!(block_counts(&table), [0, 1, 0, 0]);
            assert_eq!(table.tables_used(), 2);
            let inside = 3 * GIB + 0x1234_5678;
            assert_eq!(
                table.translate(at::<F>(inside)),
                Some((pa(5 * GIB + 0x1234_5678), NORMAL_RW))
            );
        }
        for_each_format!(check);

        let mut tables = [Table::ZEROED; 4];
        let mut table = page_table::<FakeNoGiant>(&mut tables, Level::Zero, 48);
        table
            .map(VirtAddr::new(3 * GIB), pa(5 * GIB), GIB, NORMAL_RW)
            .unwrap();
        assert_eq!(block_counts(&table), [0, 0, 512, 0]);
        assert_eq!(table.tables_used(), 3);
    }

    #[test]
    fn two_mib_blocks_and_pages_mix() {
        fn check<F: DescriptorFormat>() {
            let mut tables = [Table::ZEROED; 6];
            let mut table = page_table::<F>(&mut tables, Level::Zero, 48);
            let input = GIB + MIB2 - 3 * PAGE;
            let output = 2 * GIB + MIB2 - 3 * PAGE;
            let size = 3 * PAGE + 2 * MIB2 + 5 * PAGE;
            table
                .map(at::<F>(input), pa(output), size, NORMAL_RW)
                .unwrap();
            assert_eq!(block_counts(&table), [0, 0, 2, 8]);
            // Root, level 1, level 2, and two level-3 tables at either end.
            assert_eq!(table.tables_used(), 5);
        }
        for_each_format!(check);
    }

    #[test]
    fn unaligned_output_forces_pages() {
        fn check<F: DescriptorFormat>() {
            let mut tables = [Table::ZEROED; 8];
            let mut table = page_table::<F>(&mut tables, Level::Zero, 48);
            table
                .map(at::<F>(GIB), pa(2 * GIB + PAGE), 2 * MIB2, NORMAL_RW)
                .unwrap();
            assert_eq!(block_counts(&table), [0, 0, 0, 1024]);
            assert_eq!(table.tables_used(), 5);
            // Aligned addresses but a size short of 2 MiB: pages too.
            table
                .map(at::<F>(4 * GIB), pa(4 * GIB), MIB2 - PAGE, NORMAL_RW)
                .unwrap();
            assert_eq!(block_counts(&table), [0, 0, 0, 1024 + 511]);
            assert_eq!(table.tables_used(), 7); // Shares root and level 1.
        }
        for_each_format!(check);
    }

    #[test]
    fn translate_round_trips_every_page_of_a_mixed_mapping() {
        fn check<F: DescriptorFormat>() {
            let mut tables = [Table::ZEROED; 8];
            let mut table = page_table::<F>(&mut tables, Level::One, 39);
            let input = GIB - MIB2 - 2 * PAGE;
            let output = 7 * GIB - MIB2 - 2 * PAGE;
            let size = 2 * PAGE + MIB2 + GIB + MIB2 + 3 * PAGE;
            let device = MemAttrs::device(Perm::RW);
            table.map(at::<F>(input), pa(output), size, device).unwrap();
            assert_eq!(block_counts(&table), [0, 1, 2, 5]);

            let mut offset = 0;
            while offset < size {
                // Vary the byte within the page too.
                let byte = offset / PAGE * 8 % PAGE;
                let expected = Some((pa(output + offset + byte), device));
                assert_eq!(table.translate(at::<F>(input + offset + byte)), expected);
                offset += PAGE;
            }
            assert_eq!(table.translate(at::<F>(input - 1)), None);
            assert_eq!(table.translate(at::<F>(input + size)), None);
            assert_eq!(table.translate(at::<F>(1 << 39)), None);
        }
        for_each_format!(check);
    }

    #[test]
    fn overlaps_are_refused_and_change_nothing() {
        fn check<F: DescriptorFormat>() {
            let mut tables = [Table::ZEROED; 8];
            let mut table = page_table::<F>(&mut tables, Level::Zero, 48);
            table.map(at::<F>(GIB), pa(GIB), MIB2, NORMAL_RW).unwrap();
            table
                .map(at::<F>(GIB + 2 * MIB2 + PAGE), pa(0), PAGE, NORMAL_RW)
                .unwrap();
            let used = table.tables_used();
            let counts = block_counts(&table);

            let overlapping = [
                (GIB, MIB2),                   // the same block again
                (GIB + 5 * PAGE, PAGE),        // a page inside the block
                (GIB - PAGE, 2 * PAGE),        // straddling its start
                (GIB + MIB2 - PAGE, 2 * PAGE), // straddling its end
                (0, 4 * GIB),                  // 1 GiB blocks over it
                (GIB + 2 * MIB2, MIB2),        // a 2 MiB block over a page
                (GIB + 2 * MIB2 + PAGE, PAGE), // the same page again
            ];
            for (input, size) in overlapping {
                let result = table.map(at::<F>(input), pa(8 * GIB), size, NORMAL_RW);
                assert_eq!(result, Err(MapError::AlreadyMapped), "{input:#x}+{size:#x}");
            }
            assert_eq!(table.tables_used(), used);
            assert_eq!(block_counts(&table), counts);
            assert_eq!(table.translate(at::<F>(GIB - PAGE)), None);
            assert_eq!(table.translate(at::<F>(GIB + MIB2)), None);
            assert_eq!(table.translate(at::<F>(0)), None);

            // Neighbours still fit.
            table
                .map(at::<F>(GIB - PAGE), pa(8 * GIB), PAGE, NORMAL_RW)
                .unwrap();
            table
                .map(at::<F>(GIB + MIB2), pa(8 * GIB), PAGE, NORMAL_RW)
                .unwrap();
        }
        for_each_format!(check);
    }

    #[test]
    fn pool_exhaustion_is_reported_up_front() {
        fn check<F: DescriptorFormat>() {
            let mut tables = [Table::ZEROED; 3];
            let mut table = page_table::<F>(&mut tables, Level::Zero, 48);
            // A page needs root + 3 tables; only 2 are left.
            let result = table.map(at::<F>(0), pa(0), PAGE, NORMAL_RW);
            assert_eq!(result, Err(MapError::PoolExhausted));
            assert_eq!(table.tables_used(), 1);
            assert_eq!(table.translate(at::<F>(0)), None);

            // A 1 GiB block needs one more table, a 2 MiB block one after it.
            table.map(at::<F>(0), pa(0), GIB, NORMAL_RW).unwrap();
            table.map(at::<F>(GIB), pa(GIB), MIB2, NORMAL_RW).unwrap();
            assert_eq!(table.tables_used(), 3);
            let result = table.map(at::<F>(GIB + MIB2), pa(0), PAGE, NORMAL_RW);
            assert_eq!(result, Err(MapError::PoolExhausted));
            assert_eq!(table.tables_used(), table.tables_capacity());
        }
        for_each_format!(check);
    }

    #[test]
    fn bad_arguments_are_refused() {
        fn check<F: DescriptorFormat>() {
            let mut tables = [Table::ZEROED; 4];
            let mut table = page_table::<F>(&mut tables, Level::One, 39);
            let map = |table: &mut PageTable<'_, F>, input: u64, output: u64, size: u64| {
                table.map(at::<F>(input), pa(output), size, NORMAL_RW)
            };
            assert_eq!(map(&mut table, 0, 0, 0), Err(MapError::ZeroSize));
            assert_eq!(map(&mut table, 0x800, 0, PAGE), Err(MapError::Misaligned));
            assert_eq!(map(&mut table, 0, 0x800, PAGE), Err(MapError::Misaligned));
            assert_eq!(map(&mut table, 0, 0, PAGE + 1), Err(MapError::Misaligned));
            assert_eq!(map(&mut table, 1 << 39, 0, PAGE), Err(MapError::OutOfRange));
            assert_eq!(
                map(&mut table, (1 << 39) - PAGE, 0, 2 * PAGE),
                Err(MapError::OutOfRange)
            );
            let output_limit = 1 << F::OUTPUT_BITS;
            let result = map(&mut table, 0, output_limit - PAGE, 2 * PAGE);
            assert_eq!(result, Err(MapError::OutOfRange));
            assert_eq!(
                map(&mut table, u64::MAX - PAGE + 1, 0, PAGE),
                Err(MapError::Overflow)
            );
            assert_eq!(
                map(&mut table, 0, u64::MAX - PAGE + 1, 2 * PAGE),
                Err(MapError::Overflow)
            );
            assert_eq!(table.tables_used(), 1);
            // The very last page of both ranges is fine.
            map(&mut table, (1 << 39) - PAGE, output_limit - PAGE, PAGE).unwrap();
        }
        for_each_format!(check);

        let mut tables = [Table::ZEROED; 4];
        let mut table = page_table::<El2Stage1>(&mut tables, Level::Zero, 48);
        for attrs in [MemAttrs::normal(Perm::NONE), MemAttrs::device(Perm::RWX)] {
            let result = table.map(VirtAddr::new(0), pa(0), PAGE, attrs);
            assert_eq!(result, Err(MapError::UnsupportedAttrs));
        }
    }

    #[test]
    fn setup_validates_geometry_and_pool() {
        let mut tables = [Table::ZEROED; 2];
        let geometries = [
            (Level::Zero, 48, true),
            (Level::Zero, 40, true),
            (Level::Zero, 39, false),
            (Level::Zero, 49, false),
            (Level::One, 39, true),
            (Level::One, 31, true),
            (Level::One, 40, false),
            (Level::Two, 30, true),
        ];
        for (start_level, input_bits, valid) in geometries {
            let pool = TablePool::new(&mut tables, POOL_BASE).unwrap();
            let result = PageTable::<Stage2>::new(pool, start_level, input_bits);
            let expected = if valid {
                Ok(())
            } else {
                Err(SetupError::UnsupportedGeometry)
            };
            assert_eq!(result.map(|_| ()), expected, "{start_level:?} {input_bits}");
        }

        let result = TablePool::new(&mut tables, pa(POOL_BASE.as_u64() + 0x800));
        assert_eq!(result.err(), Some(SetupError::PoolMisaligned));
        let result = TablePool::new(&mut tables, pa(u64::MAX - PAGE + 1));
        assert_eq!(result.err(), Some(SetupError::PoolOutOfRange));

        // Two tables ending past 1 << 48: fine for the 52-bit fake only.
        let high = pa((1 << 48) - PAGE);
        let pool = TablePool::new(&mut tables, high).unwrap();
        let result = PageTable::<Stage2>::new(pool, Level::Zero, 48);
        assert_eq!(result.err(), Some(SetupError::PoolOutOfRange));
        let pool = TablePool::new(&mut tables, high).unwrap();
        let table = PageTable::<Fake>::new(pool, Level::Zero, 48).unwrap();
        assert_eq!(table.root(), high);

        let pool = TablePool::new(&mut [], POOL_BASE).unwrap();
        let result = PageTable::<Fake>::new(pool, Level::Zero, 48);
        assert_eq!(result.err(), Some(SetupError::PoolExhausted));
    }

    #[test]
    fn root_and_table_addresses_come_from_the_pool_base() {
        let mut tables = [Table::ZEROED; 4];
        let mut table = page_table::<Stage2>(&mut tables, Level::Zero, 48);
        assert_eq!(table.root(), POOL_BASE);
        assert_eq!((table.start_level(), table.input_bits()), (Level::Zero, 48));
        table
            .map(GuestPhysAddr::new(0), pa(0), GIB, NORMAL_RW)
            .unwrap();
        let level1 = POOL_BASE.checked_add(PAGE).unwrap();
        assert_eq!(
            Stage2::decode(table.pool.tables[0].0[0], Level::Zero),
            Decoded::Table(level1)
        );
    }

    #[test]
    fn identity_pool_uses_the_tables_own_address() {
        let mut tables = [Table::ZEROED; 2];
        let address = tables.as_ptr().addr() as u64;
        let pool = TablePool::identity(&mut tables).unwrap();
        assert_eq!(pool.base(), pa(address));
        assert!(pool.base().is_aligned(PAGE));
        let table = PageTable::<Fake>::new(pool, Level::Zero, 48).unwrap();
        assert_eq!(table.root(), pa(address));
    }

    #[test]
    fn fresh_tables_are_cleared_with_the_formats_invalid_entry() {
        let mut tables = [const { Table([u64::MAX; ENTRIES_PER_TABLE]) }; 4];
        let mut table = page_table::<Fake>(&mut tables, Level::Zero, 48);
        table
            .map(GuestPhysAddr::new(GIB), pa(GIB), MIB2, NORMAL_RW)
            .unwrap();
        for (index, level) in [(0, Level::Zero), (1, Level::One), (2, Level::Two)] {
            let valid = table.pool.tables[index]
                .0
                .iter()
                .filter(|&&entry| Fake::decode(entry, level) != Decoded::Invalid)
                .count();
            assert_eq!(valid, 1, "table {index}");
        }
        assert_eq!(table.pool.tables[3].0, [u64::MAX; ENTRIES_PER_TABLE]);
    }

    #[test]
    fn table_entries_outside_the_pool_are_errors() {
        fn check<F: DescriptorFormat>() {
            let foreign = [pa(0x1000), POOL_BASE.checked_add(3 * PAGE).unwrap()];
            for next in foreign {
                let mut tables = [Table::ZEROED; 4];
                let mut table = page_table::<F>(&mut tables, Level::Zero, 48);
                table.pool.tables[0].0[0] = F::table(Level::Zero, next);
                assert_eq!(table.translate(at::<F>(0)), None);
                let result = table.map(at::<F>(0), pa(0), PAGE, NORMAL_RW);
                assert_eq!(result, Err(MapError::CorruptTable));
            }
        }
        for_each_format!(check);
    }

    #[test]
    fn for_each_mapping_reports_exactly_what_was_mapped() {
        let mut tables = [Table::ZEROED; 16];
        let pool = TablePool::new(&mut tables, PhysAddr::new(0x8000_0000)).unwrap();
        let mut pt = PageTable::<crate::arch::aarch64::model::descriptors::Stage2>::new(
            pool,
            Level::One,
            39,
        )
        .unwrap();
        let rw = MemAttrs::normal(Perm::RW);
        pt.map(
            GuestPhysAddr::new(0x4000_0000),
            PhysAddr::new(0x4100_0000),
            0x20_3000,
            rw,
        )
        .unwrap();
        let mut seen = Vec::new();
        pt.for_each_mapping(|input, out, size, attrs| {
            seen.push((input, out.as_u64(), size, attrs))
        });
        assert_eq!(
            seen.first(),
            Some(&(0x4000_0000, 0x4100_0000, 0x20_0000, rw))
        );
        assert_eq!(seen.len(), 1 + 3);
        assert_eq!(seen.iter().map(|m| m.2).sum::<u64>(), 0x20_3000);
        assert_eq!(seen.last().map(|m| m.0), Some(0x4020_2000));
    }
}
