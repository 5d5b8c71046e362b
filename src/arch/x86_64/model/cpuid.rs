//! CPUID as a cell sees it: the host's answer, filtered (docs/x86.md).
//!
//! Every `CPUID` in a cell exits; the hypervisor executes it on the host
//! with the same leaf and subleaf and passes the result through [`filter`]:
//!
//! - leaf 1: VMX and SMX cleared (no nested virtualisation, no `GETSEC`),
//!   the hypervisor-present bit set, the logical-processor count and
//!   initial APIC id describe the cell's CPUs;
//! - leaves 0xB and 0x1F (extended topology): a package of `vcpus` cores of
//!   one thread each;
//! - leaf 0x4000_0000: the vendor signature [`SIGNATURE`], no further
//!   hypervisor leaves (0x4000_0001..=0x4000_00ff read as zeros);
//! - everything else: the host's values.
//!
//! CPUID executed in VMX root mode reflects the *host's* `CR4.OSXSAVE` and
//! `CR4.PKE`; [`reflect_guest_cr4`] replaces those bits with the guest's.

/// What the topology leaves describe: the cell's CPUs and the asking one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CellTopology {
    /// Number of CPUs in the cell.
    pub(crate) vcpus: u32,
    /// The asking CPU's x2APIC id (its real one: x2APIC reads pass
    /// through, so CPUID must agree with the APIC ID register).
    pub(crate) apic_id: u32,
}

/// Hypervisor vendor signature, returned in EBX, ECX, EDX of
/// [`HYPERVISOR_LEAF`].
pub(crate) const SIGNATURE: [u8; 12] = *b"BulkheadVMM\0";

/// First hypervisor CPUID leaf (signature and highest hypervisor leaf).
pub(crate) const HYPERVISOR_LEAF: u32 = 0x4000_0000;

/// Last leaf of the hypervisor range.
const HYPERVISOR_LAST: u32 = 0x4000_00ff;

/// Leaf 1 ECX bit 5: VMX.
const LEAF1_ECX_VMX: u32 = 1 << 5;
/// Leaf 1 ECX bit 6: SMX.
const LEAF1_ECX_SMX: u32 = 1 << 6;
/// Leaf 1 ECX bit 27: OSXSAVE (mirrors CR4.OSXSAVE).
const LEAF1_ECX_OSXSAVE: u32 = 1 << 27;
/// Leaf 1 ECX bit 31: running under a hypervisor.
const LEAF1_ECX_HYPERVISOR: u32 = 1 << 31;
/// Leaf 1 EDX bit 28: HTT (EBX\[23:16\] is valid).
const LEAF1_EDX_HTT: u32 = 1 << 28;
/// Leaf 7 subleaf 0 ECX bit 4: OSPKE (mirrors CR4.PKE).
const LEAF7_ECX_OSPKE: u32 = 1 << 4;
/// CR4 bit 18: OSXSAVE.
const CR4_OSXSAVE: u64 = 1 << 18;
/// CR4 bit 22: PKE.
const CR4_PKE: u64 = 1 << 22;

/// Topology level type "SMT" (ECX\[15:8\] of leaves 0xB/0x1F).
const LEVEL_SMT: u32 = 1;
/// Topology level type "core".
const LEVEL_CORE: u32 = 2;

/// Bits needed to number `count` items: ceil(log2(count)), 0 for 0 or 1.
fn id_bits(count: u32) -> u32 {
    if count <= 1 {
        0
    } else {
        u32::BITS - (count - 1).leading_zeros()
    }
}

/// The extended topology leaves (0xB, 0x1F) for `subleaf`: level 0 is SMT
/// with one thread a core (shift 0), level 1 the cores of the package
/// (shift ceil(log2(vcpus)), `vcpus` logical processors), higher subleaves
/// are invalid (level type 0). EDX is always the x2APIC id.
///
/// The package id a guest derives (`apic_id >> shift`) is the same on
/// every CPU of the cell only if the cell's APIC ids share their bits above
/// the shift (contiguous and aligned, as on a cell of whole packages).
fn topology(subleaf: u32, topo: &CellTopology) -> [u32; 4] {
    match subleaf {
        0 => [0, 1, LEVEL_SMT << 8, topo.apic_id],
        1 => [
            id_bits(topo.vcpus),
            topo.vcpus & 0xffff,
            LEVEL_CORE << 8 | 1,
            topo.apic_id,
        ],
        _ => [0, 0, subleaf & 0xff, topo.apic_id],
    }
}

/// The `[eax, ebx, ecx, edx]` a cell CPU sees for `CPUID` leaf `leaf`,
/// subleaf `subleaf`, given the host's answer `host` (see the module
/// documentation).
pub(crate) fn filter(leaf: u32, subleaf: u32, host: [u32; 4], topo: &CellTopology) -> [u32; 4] {
    let [eax, ebx, ecx, edx] = host;
    match leaf {
        1 => {
            let count = topo.vcpus.min(0xff);
            let ebx = (ebx & 0xffff) | count << 16 | (topo.apic_id & 0xff) << 24;
            let ecx = (ecx & !(LEAF1_ECX_VMX | LEAF1_ECX_SMX)) | LEAF1_ECX_HYPERVISOR;
            let edx = if topo.vcpus > 1 {
                edx | LEAF1_EDX_HTT
            } else {
                edx & !LEAF1_EDX_HTT
            };
            [eax, ebx, ecx, edx]
        }
        0xb | 0x1f => topology(subleaf, topo),
        HYPERVISOR_LEAF => {
            let chunk = |i: usize| {
                u32::from_le_bytes([
                    SIGNATURE[i],
                    SIGNATURE[i + 1],
                    SIGNATURE[i + 2],
                    SIGNATURE[i + 3],
                ])
            };
            [HYPERVISOR_LEAF, chunk(0), chunk(4), chunk(8)]
        }
        0x4000_0001..=HYPERVISOR_LAST => [0; 4],
        _ => host,
    }
}

/// Replaces the CPUID bits that mirror the executing CPU's CR4 (leaf 1
/// ECX.OSXSAVE, leaf 7 subleaf 0 ECX.OSPKE) with the values for the
/// guest's `guest_cr4`.
pub(crate) fn reflect_guest_cr4(
    leaf: u32,
    subleaf: u32,
    regs: [u32; 4],
    guest_cr4: u64,
) -> [u32; 4] {
    let [eax, ebx, mut ecx, edx] = regs;
    let set = |ecx: u32, bit: u32, on: bool| if on { ecx | bit } else { ecx & !bit };
    match (leaf, subleaf) {
        (1, _) => ecx = set(ecx, LEAF1_ECX_OSXSAVE, guest_cr4 & CR4_OSXSAVE != 0),
        (7, 0) => ecx = set(ecx, LEAF7_ECX_OSPKE, guest_cr4 & CR4_PKE != 0),
        _ => {}
    }
    [eax, ebx, ecx, edx]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Leaf 1 of a Skylake-X (Bochs `corei7_skylake_x`-like): family 6,
    /// 16 logical processors, APIC id 0, VMX, SMX, x2APIC, hypervisor off.
    const HOST_LEAF1: [u32; 4] = [0x0005_0654, 0x0010_0800, 0x7ffe_fbff, 0xbfeb_fbff];

    const TWO: CellTopology = CellTopology {
        vcpus: 2,
        apic_id: 3,
    };
    const ONE: CellTopology = CellTopology {
        vcpus: 1,
        apic_id: 0x1_0005,
    };

    #[test]
    fn leaf_1() {
        let [eax, ebx, ecx, edx] = filter(1, 0, HOST_LEAF1, &TWO);
        assert_eq!(eax, HOST_LEAF1[0]);
        // Brand index and CLFLUSH size kept; 2 logical processors; APIC 3.
        assert_eq!(ebx, 0x0302_0800);
        assert_eq!(ecx & (1 << 5), 0, "VMX");
        assert_eq!(ecx & (1 << 6), 0, "SMX");
        assert_ne!(ecx & (1 << 31), 0, "hypervisor");
        assert_eq!(ecx | 0x60, HOST_LEAF1[2] | 1 << 31, "other bits kept");
        assert_eq!(edx, HOST_LEAF1[3]);
        assert_ne!(edx & (1 << 28), 0, "HTT");
    }

    #[test]
    fn leaf_1_single_cpu() {
        let [_, ebx, _, edx] = filter(1, 0, HOST_LEAF1, &ONE);
        // One logical processor; the initial APIC id's low 8 bits.
        assert_eq!(ebx, 0x0501_0800);
        assert_eq!(edx & (1 << 28), 0);
        assert_eq!(edx | 1 << 28, HOST_LEAF1[3]);
        // HTT is set for a multi-CPU cell even if the host lacked it.
        let no_htt = [0, 0, 0, 0];
        assert_eq!(filter(1, 0, no_htt, &TWO)[3], 1 << 28);
    }

    #[test]
    fn extended_topology() {
        for leaf in [0xb, 0x1f] {
            let host = [1, 2, 0x100, 0];
            assert_eq!(filter(leaf, 0, host, &TWO), [0, 1, 0x100, 3]);
            assert_eq!(filter(leaf, 1, host, &TWO), [1, 2, 0x201, 3]);
            assert_eq!(filter(leaf, 2, host, &TWO), [0, 0, 2, 3]);
            assert_eq!(filter(leaf, 7, host, &ONE), [0, 0, 7, 0x1_0005]);
            assert_eq!(filter(leaf, 1, host, &ONE), [0, 1, 0x201, 0x1_0005]);
        }
    }

    #[test]
    fn core_level_shift_covers_the_cpus() {
        let shift = |vcpus| filter(0xb, 1, [0; 4], &CellTopology { vcpus, apic_id: 0 })[0];
        assert_eq!(
            [1, 2, 3, 4, 5, 8, 9, 64, 65].map(shift),
            [0, 1, 2, 2, 3, 3, 4, 6, 7]
        );
    }

    #[test]
    fn hypervisor_leaves() {
        let host = [0x1111, 0x2222, 0x3333, 0x4444];
        let [eax, ebx, ecx, edx] = filter(0x4000_0000, 0, host, &TWO);
        assert_eq!(eax, 0x4000_0000);
        assert_eq!(ebx, u32::from_le_bytes(*b"Bulk"));
        assert_eq!(ecx, u32::from_le_bytes(*b"head"));
        assert_eq!(edx, u32::from_le_bytes(*b"VMM\0"));
        assert_eq!(ebx, 0x6b6c_7542);
        let mut bytes = [0; 12];
        bytes[..4].copy_from_slice(&ebx.to_le_bytes());
        bytes[4..8].copy_from_slice(&ecx.to_le_bytes());
        bytes[8..].copy_from_slice(&edx.to_le_bytes());
        assert_eq!(&bytes, b"BulkheadVMM\0");
        for leaf in [0x4000_0001, 0x4000_0010, 0x4000_00ff] {
            assert_eq!(filter(leaf, 0, host, &TWO), [0; 4]);
        }
        assert_eq!(filter(0x4000_0100, 0, host, &TWO), host);
    }

    #[test]
    fn other_leaves_pass_through() {
        let host = [0x16, 0x756e_6547, 0x6c65_746e, 0x4965_6e69]; // GenuineIntel
        assert_eq!(filter(0, 0, host, &TWO), host);
        for leaf in [4, 7, 0xd, 0x8000_0000, 0x8000_0001, 0x8000_0008] {
            assert_eq!(filter(leaf, 0, [1, 2, 3, 4], &TWO), [1, 2, 3, 4]);
        }
    }

    #[test]
    fn guest_cr4_bits() {
        let regs = filter(1, 0, HOST_LEAF1, &TWO);
        let off = reflect_guest_cr4(1, 0, regs, 0);
        assert_eq!(off[2] & (1 << 27), 0);
        let on = reflect_guest_cr4(1, 0, off, 1 << 18);
        assert_eq!(on[2], off[2] | 1 << 27);
        assert_eq!([on[0], on[1], on[3]], [regs[0], regs[1], regs[3]]);
        assert_eq!(reflect_guest_cr4(7, 0, [0, 0, 0x10, 0], 0), [0; 4]);
        assert_eq!(reflect_guest_cr4(7, 0, [0; 4], 1 << 22), [0, 0, 0x10, 0]);
        // Other leaves and leaf 7's other subleaves are left alone.
        assert_eq!(reflect_guest_cr4(7, 1, [0, 0, 0x10, 0], 0), [0, 0, 0x10, 0]);
        assert_eq!(reflect_guest_cr4(0xd, 0, [1, 2, 3, 4], 0), [1, 2, 3, 4]);
    }
}
