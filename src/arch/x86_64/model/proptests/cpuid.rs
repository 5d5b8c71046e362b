//! The CPUID filter for any leaf, subleaf, host answer, cell topology and
//! guest CR4: VMX and SMX are always hidden and the hypervisor bit set in
//! leaf 1, the topology leaves describe the cell's CPUs only, the
//! hypervisor leaves are Bulkhead's, and every other leaf is the host's.

use proptest::prelude::*;

use super::config;
use crate::arch::x86_64::model::cpuid::{
    CellTopology, HYPERVISOR_LEAF, SIGNATURE, filter, reflect_guest_cr4,
};

fn leaf() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => prop::sample::select(vec![
            0u32, 1, 4, 7, 0xb, 0x1f, 0x4000_0000, 0x4000_0001, 0x4000_00ff, 0x4000_0100,
            0x8000_0001,
        ]),
        2 => 0u32..0x20,
        1 => 0x4000_0000u32..0x4000_0200,
        1 => any::<u32>(),
    ]
}

fn topology() -> impl Strategy<Value = CellTopology> {
    (
        prop_oneof![4 => 1u32..=64, 1 => 1u32..=0xffff],
        any::<u32>(),
    )
        .prop_map(|(vcpus, apic_id)| CellTopology { vcpus, apic_id })
}

proptest! {
    #![proptest_config(config(20_000))]

    #[test]
    fn cpuid_shows_the_cell(
        leaf in leaf(),
        subleaf in prop_oneof![0u32..4, any::<u32>()],
        host in any::<[u32; 4]>(),
        topo in topology(),
        cr4 in any::<u64>(),
    ) {
        let filtered = filter(leaf, subleaf, host, &topo);
        let [eax, ebx, ecx, edx] = reflect_guest_cr4(leaf, subleaf, filtered, cr4);
        match leaf {
            1 => {
                prop_assert_eq!(ecx & (1 << 5 | 1 << 6), 0, "VMX or SMX shown");
                prop_assert_ne!(ecx & 1 << 31, 0, "hypervisor bit clear");
                prop_assert_eq!(ecx & 1 << 27 != 0, cr4 & 1 << 18 != 0, "OSXSAVE");
                let logical = ebx >> 16 & 0xff;
                prop_assert!(logical <= topo.vcpus, "{} logical processors", logical);
                prop_assert_eq!(logical, topo.vcpus.min(0xff));
                prop_assert_eq!(ebx >> 24, topo.apic_id & 0xff);
                prop_assert_eq!(ebx & 0xffff, host[1] & 0xffff);
                prop_assert_eq!(edx & 1 << 28 != 0, topo.vcpus > 1, "HTT");
                prop_assert_eq!(eax, host[0]);
                let kept = !(1 << 5 | 1 << 6 | 1 << 27 | 1 << 31);
                prop_assert_eq!(ecx & kept, host[2] & kept, "other ECX bits are the host's");
            }
            0xb | 0x1f => {
                prop_assert_eq!(edx, topo.apic_id);
                match subleaf {
                    0 => prop_assert_eq!([eax, ebx, ecx & 0xff00], [0, 1, 1 << 8]),
                    1 => {
                        prop_assert_eq!(ebx, topo.vcpus);
                        let vcpus = u64::from(topo.vcpus);
                        prop_assert!(1u64 << eax >= vcpus, "shift {} for {}", eax, vcpus);
                        prop_assert!(eax == 0 || 1u64 << (eax - 1) < u64::from(topo.vcpus));
                        prop_assert_eq!(ecx & 0xff00, 2 << 8);
                    }
                    _ => prop_assert_eq!([eax, ebx, ecx & 0xff00], [0, 0, 0]),
                }
            }
            HYPERVISOR_LEAF => {
                prop_assert_eq!(eax, HYPERVISOR_LEAF, "no further hypervisor leaves");
                let mut signature = Vec::new();
                for register in [ebx, ecx, edx] {
                    signature.extend_from_slice(&register.to_le_bytes());
                }
                prop_assert_eq!(signature.as_slice(), SIGNATURE.as_slice());
            }
            0x4000_0001..=0x4000_00ff => prop_assert_eq!([eax, ebx, ecx, edx], [0; 4]),
            7 if subleaf == 0 => {
                prop_assert_eq!(ecx & 1 << 4 != 0, cr4 & 1 << 22 != 0, "OSPKE");
                let [host_eax, host_ebx, host_ecx, host_edx] = host;
                prop_assert_eq!(
                    [eax, ebx, ecx & !(1 << 4), edx],
                    [host_eax, host_ebx, host_ecx & !(1 << 4), host_edx]
                );
            }
            _ => prop_assert_eq!([eax, ebx, ecx, edx], host),
        }
    }
}
