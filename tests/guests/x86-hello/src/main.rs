//! `x86-hello`: every vCPU of the cell says hello, then the cell powers off
//! (the x86_64 counterpart of `hello`).
//!
//! vCPU 0 asks `CELL_INFO` for its cell id and vCPU count, prints its x2APIC
//! id and what CPUID tells a guest (hypervisor bit, VMX, the hypervisor
//! signature of leaf 0x4000_0000, the logical-processor count), starts the
//! other vCPUs with PSCI `CPU_ON` (context = the cell id), waits until each
//! has printed and called `CPU_OFF` (PSCI `AFFINITY_INFO`), then calls
//! `SYSTEM_OFF`, which stops this cell only.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use rt::{println, psci};

    rt::entry!(main, secondary);

    /// `PAUSE` iterations between two `AFFINITY_INFO` polls (each is an
    /// exit; the other vCPUs need the emulator's time more).
    const POLL_SPINS: u64 = 10_000;

    /// The hypervisor signature of CPUID leaf 0x4000_0000 (EBX, ECX, EDX),
    /// as text with NULs dropped (other non-ASCII bytes as `?`).
    fn signature(buf: &mut [u8; 12]) -> &str {
        let leaf = rt::cpuid(0x4000_0000, 0);
        let bytes = [leaf.ebx, leaf.ecx, leaf.edx].map(u32::to_le_bytes);
        let mut len = 0;
        for &b in bytes.iter().flatten().filter(|&&b| b != 0) {
            buf[len] = if b.is_ascii_graphic() || b == b' ' {
                b
            } else {
                b'?'
            };
            len += 1;
        }
        core::str::from_utf8(&buf[..len]).unwrap_or("?")
    }

    /// Text straight to an I/O port the cell owns.
    struct PortWriter(u16);

    impl core::fmt::Write for PortWriter {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            for byte in s.bytes() {
                rt::outb(self.0, byte);
            }
            Ok(())
        }
    }

    fn main() -> ! {
        let info = rt::cell_info();
        let (cell, vcpus) = info.map_or((u64::MAX, 1), |i| (i.cell_id, i.vcpus.max(1)));
        println!(
            "hello from vcpu 0 of {vcpus} (cell {cell}, apic id {})",
            rt::apic_id()
        );
        let leaf1 = rt::cpuid(1, 0);
        let mut buf = [0; 12];
        println!(
            "cpuid: hypervisor bit {}, vmx {}, signature {}, logical cpus {}",
            leaf1.ecx >> 31 & 1,
            leaf1.ecx >> 5 & 1,
            signature(&mut buf),
            leaf1.ebx >> 16 & 0xff
        );
        // A boot argument names an I/O port the cell owns (a passthrough
        // device, e.g. Bochs' debug console at 0xe9): say hello there too.
        let port = rt::boot_arg();
        if let Ok(port) = u16::try_from(port)
            && port != 0
        {
            let _ = core::fmt::Write::write_fmt(
                &mut PortWriter(port),
                format_args!("passthrough: hello from cell {cell} on port {port:#x}\n"),
            );
            println!("wrote to passthrough port {port:#x}");
        }
        let mut started = 1;
        for vcpu in 1..vcpus {
            let status = rt::start_vcpu(vcpu as u64, cell);
            if status == psci::SUCCESS {
                started += 1;
            } else {
                println!("CPU_ON vcpu {vcpu} -> {}", psci::status_name(status));
                continue;
            }
            while rt::affinity_info(vcpu as u64) != psci::AFFINITY_OFF {
                rt::delay_spins(POLL_SPINS);
            }
        }
        if started == vcpus {
            println!("all {vcpus} vcpus said hello; powering the cell off");
        } else {
            println!("{started} of {vcpus} vcpus said hello; powering the cell off");
        }
        let status = rt::system_off();
        println!("SYSTEM_OFF returned {status}");
        rt::park()
    }

    fn secondary(cell: u64) -> ! {
        println!("hello from vcpu {} (cell {cell})", rt::vcpu_index());
        rt::cpu_off();
        rt::park()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "guest-x86-hello is a bare-metal x86_64 guest for a Bulkhead cell; build it for x86_64-unknown-none"
    );
}
