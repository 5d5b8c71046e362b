//! Bringing the other CPUs up (INIT, then two start-up IPIs with the
//! trampoline's page), and which CPUs are online.

use core::sync::atomic::{AtomicU64, Ordering};

use super::cpu;
use super::entry_asm::{self, AP_CPU, AP_STACK_TOP, TRAMPOLINE};
use crate::arch::Print;
use crate::config::CPUS;

/// Bit i set once CPU i runs hypervisor Rust code.
static ONLINE: AtomicU64 = AtomicU64::new(0);

/// How long the boot CPU polls for a started CPU to arrive.
const ARRIVAL_SPINS: u64 = 50_000_000;

/// Records that `cpu` is up.
pub(super) fn mark_online(cpu: usize) {
    ONLINE.fetch_or(1 << cpu, Ordering::AcqRel);
}

/// Bitmask of online CPUs.
pub(super) fn online_mask() -> u64 {
    ONLINE.load(Ordering::Acquire)
}

/// Copies the AP trampoline to [`TRAMPOLINE`]. Boot CPU, while it still
/// runs on the entry code's flat map (the hypervisor's own map leaves low
/// memory out; the APs run the trampoline with paging off).
pub(super) fn copy_trampoline() {
    let code = entry_asm::trampoline();
    // SAFETY: conventional memory at 0x8000 is outside the hypervisor and
    // every cell (platform RAM starts at 1 MiB) and identity-mapped by the
    // entry code's tables; no other CPU runs yet.
    unsafe {
        core::ptr::copy_nonoverlapping(code.as_ptr(), TRAMPOLINE as *mut u8, code.len());
    }
}

/// Starts every CPU other than `me`, one at a time, each on its own stack;
/// prints those that do not arrive. Returns the online mask.
pub(super) fn start(me: usize, print: Print<'_>) -> u64 {
    for (index, desc) in CPUS.iter().enumerate() {
        if index == me {
            continue;
        }
        let apic = desc.hw_id;
        AP_CPU.store(index as u64, Ordering::Release);
        AP_STACK_TOP.store(entry_asm::stack_top(index), Ordering::Release);
        // INIT, then two start-up IPIs with the trampoline's page.
        cpu::send_ipi((apic << 32) | (0b101 << 8) | (1 << 14));
        cpu::delay(10_000);
        for _ in 0..2 {
            cpu::send_ipi((apic << 32) | (0b110 << 8) | (1 << 14) | (TRAMPOLINE >> 12));
            cpu::delay(2_000);
            if online_mask() & (1 << index) != 0 {
                break;
            }
        }
        let mut spins = 0u64;
        while online_mask() & (1 << index) == 0 && spins < ARRIVAL_SPINS {
            spins += 1;
            core::hint::spin_loop();
        }
        if online_mask() & (1 << index) == 0 {
            print(format_args!(
                "cpu {index} (APIC id {apic}) did not come online"
            ));
        }
    }
    online_mask()
}
