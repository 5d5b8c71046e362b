//! The Rust entries of the boot assembly: what each CPU does before the
//! core's boot sequence takes over.
//!
//! Boot CPU ([`bulkhead_boot_main`]): its index, the console UART, the
//! legacy PICs masked, the IDT; then `Hypervisor::boot` (the VMX checks,
//! the hypervisor's own page tables and VMXON come in
//! `Arch::init_boot_cpu`). Other CPUs ([`bulkhead_secondary_main`]): the
//! page tables, the IDT, x2APIC and VMXON; then `Hypervisor::secondary`.

use super::uart16550::Uart16550;
use super::{HV, cell_maps, cpu, idt, page_tables, secondaries};
use crate::hv_println;

/// Rust entry of the boot CPU (long mode, identity map, boot stack).
#[unsafe(no_mangle)]
extern "C" fn bulkhead_boot_main(_unused: u64) -> ! {
    let apic = cpu::initial_apic_id();
    let Some(me) = cpu::index_of_apic_id(apic) else {
        // Not a CPU of the platform: no console is known to work either.
        cpu::halt_forever()
    };
    cpu::set_index(me);
    cpu::enable_xsave();
    Uart16550.init();
    cpu::mask_legacy_pic();
    idt::build();
    idt::load();
    HV.boot(me)
}

/// Rust entry of another CPU (long mode, its own stack).
#[unsafe(no_mangle)]
extern "C" fn bulkhead_secondary_main(index: u64) -> ! {
    let me = index as usize;
    cpu::set_index(me);
    cpu::enable_xsave();
    page_tables::switch();
    idt::load();
    if !cpu::enable_x2apic() {
        panic!("cpu {me}: no x2APIC");
    }
    if let Err(e) = cell_maps::vmx_on(me) {
        panic!("cpu {me}: {}", e.0);
    }
    hv_println!(HV, "cpu {me} online (APIC id {}), VMX on", cpu::apic_id());
    secondaries::mark_online(me);
    HV.secondary(me)
}
