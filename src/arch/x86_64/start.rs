//! The boot flow after the entry assembly.
//!
//! Boot CPU ([`boot_main`]): console, IDT, banner and partition table, the
//! VMX checks, x2APIC and VMXON, the other CPUs (INIT-SIPI-SIPI, one at a
//! time), every cell's EPT and bitmaps, the images, then its own vCPU.
//! Other CPUs ([`secondary_main`]): IDT, x2APIC, VMXON, then their vCPU.

use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

use super::boot::{self, AP_CPU, AP_STACK_TOP, STACK_SIZE, STACKS, TRAMPOLINE};
use super::console::{self, println};
use super::{cells, cpu, idt, ioapic, mmu, panic, vmx};
use crate::config::{CPUS, TABLES};
use crate::partition_table::{write_banner, write_partition_table};

/// CPUs online, as a bit mask of indices.
static ONLINE: AtomicU64 = AtomicU64::new(0);

struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        console::_print(format_args!("{s}"));
        Ok(())
    }
}

/// Rust entry of the boot CPU (long mode, identity map, boot stack).
#[unsafe(no_mangle)]
extern "C" fn bulkhead_boot_main(_unused: u64) -> ! {
    let apic = cpu::initial_apic_id();
    let Some(me) = cpu::index_of_apic_id(apic) else {
        // Not a CPU of the platform: no console is known to work either.
        cpu::halt_forever()
    };
    cpu::set_index(me);
    console::init();
    cpu::mask_legacy_pic();
    idt::build();
    idt::load();
    let _ = write_banner(&mut Console);
    let controls = match vmx::check() {
        Ok(controls) => controls,
        Err(missing) => {
            println!(
                "bulkhead: this CPU cannot run cells: it lacks {}",
                missing.0
            );
            panic::power_off()
        }
    };
    if !cpu::enable_x2apic() {
        println!("bulkhead: this CPU cannot run cells: it lacks x2APIC");
        panic::power_off()
    }
    println!(
        "boot cpu {me} (APIC id {apic}) in long mode; VMX: VMCS revision {:#x}, EPT, VPID, unrestricted guest{}",
        controls.revision,
        if controls.hlt_activity {
            ", HLT activity state"
        } else {
            ""
        }
    );
    let map = match mmu::build() {
        Ok(map) => map,
        Err(error) => panic!("cannot build the hypervisor's page tables: {error:?}"),
    };
    copy_trampoline();
    mmu::switch();
    println!(
        "boot cpu {me}: own page tables ({} tables, {} 2 MiB pages, {} 4 KiB pages; code RX, data NX)",
        map.tables, map.blocks_2m, map.pages
    );
    let _ = write_partition_table(&mut Console, &TABLES);
    cells::set_controls(controls);
    if let Err(e) = cells::vmx_on(me) {
        panic!("cpu {me}: {}", e.0);
    }
    ONLINE.fetch_or(1 << me, Ordering::AcqRel);
    start_secondaries(me);
    let online = ONLINE.load(Ordering::Acquire).count_ones();
    println!("all {online} CPUs online");
    if cfg!(feature = "panic-selftest") {
        // Test-only: the hypervisor's code is read-only on its own page
        // tables, so this write faults (#PF) and the fault panics, which
        // stops every other CPU.
        let code = bulkhead_boot_main as *const () as u64;
        println!("panic-selftest: writing to the hypervisor's code at {code:#x}");
        // SAFETY: a deliberate fault: the page is mapped read-execute, so
        // the write never happens.
        unsafe { core::ptr::write_volatile(code as *mut u8, 0xcc) };
        panic!("panic-selftest: the write to code at {code:#x} did not fault");
    }
    cells::build();
    ioapic::mask_all();
    cells::start_all();
    super::vconsole::route_input();
    cells::run(me)
}

/// Copies the AP trampoline to [`TRAMPOLINE`]. Boot CPU, while it still
/// runs on the entry code's flat map (the hypervisor's own map leaves low
/// memory out; the APs run the trampoline with paging off).
fn copy_trampoline() {
    let code = boot::trampoline();
    // SAFETY: conventional memory at 0x8000 is outside the hypervisor and
    // every cell (platform RAM starts at 1 MiB) and identity-mapped by the
    // entry code's tables; no other CPU runs yet.
    unsafe {
        core::ptr::copy_nonoverlapping(code.as_ptr(), TRAMPOLINE as *mut u8, code.len());
    }
}

fn start_secondaries(me: usize) {
    for (index, desc) in CPUS.iter().enumerate() {
        if index == me {
            continue;
        }
        let apic = desc.hw_id;
        // SAFETY: only the boot CPU touches the stacks' addresses here; the
        // AP takes the top of its own stack.
        let top = unsafe { (&raw mut STACKS.0[index]) as u64 } + STACK_SIZE as u64;
        AP_CPU.store(index as u64, Ordering::Release);
        AP_STACK_TOP.store(top, Ordering::Release);
        // INIT, then two start-up IPIs with the trampoline's page.
        cpu::send_ipi((apic << 32) | (0b101 << 8) | (1 << 14));
        cpu::delay(10_000);
        for _ in 0..2 {
            cpu::send_ipi((apic << 32) | (0b110 << 8) | (1 << 14) | (TRAMPOLINE >> 12));
            cpu::delay(2_000);
            if ONLINE.load(Ordering::Acquire) & (1 << index) != 0 {
                break;
            }
        }
        let mut spins = 0u64;
        while ONLINE.load(Ordering::Acquire) & (1 << index) == 0 && spins < 50_000_000 {
            spins += 1;
            core::hint::spin_loop();
        }
        if ONLINE.load(Ordering::Acquire) & (1 << index) == 0 {
            println!("cpu {index} (APIC id {apic}) did not come online");
        }
    }
}

/// Rust entry of another CPU (long mode, its own stack).
#[unsafe(no_mangle)]
extern "C" fn bulkhead_secondary_main(index: u64) -> ! {
    let me = index as usize;
    cpu::set_index(me);
    mmu::switch();
    idt::load();
    if !cpu::enable_x2apic() {
        panic!("cpu {me}: no x2APIC");
    }
    if let Err(e) = cells::vmx_on(me) {
        panic!("cpu {me}: {}", e.0);
    }
    println!("cpu {me} online (APIC id {}), VMX on", cpu::apic_id());
    ONLINE.fetch_or(1 << me, Ordering::AcqRel);
    cells::run(me)
}
