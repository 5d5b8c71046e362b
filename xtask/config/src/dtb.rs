//! Per-cell flattened device trees (DTB) for Linux cells.
//!
//! [`generate`] describes a cell as its Linux sees it: the cell's vCPUs
//! (virtual MPIDR Aff0 = vCPU index), PSCI over HVC, its RAM regions, the
//! GIC as the hypervisor presents it (GICv3: the distributor and only the
//! cell's own redistributors; GICv2: the distributor and the GICV frame at
//! the GICC address), the architected timer, a 24 MHz APB clock, the
//! console (an emulated PL011 or a passthrough UART), the passthrough
//! devices, the shared-memory channels as `no-map` reserved memory, and
//! `/chosen` (command line, console, initrd).
//!
//! The layout follows QEMU's `virt` machine: a flat tree, every device a
//! child of the root with 2-cell addresses and sizes, GIC interrupt
//! specifiers of 3 cells `<type number flags>`.

use std::collections::HashSet;

use vm_fdt::{FdtWriter, FdtWriterNode};

use crate::model::{Arch, Cell, CellConsole, Config, Device, IntcKind, Range};

/// What a Linux cell's device tree says beyond the config itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootInfo {
    /// Kernel command line (`/chosen/bootargs`).
    pub bootargs: String,
    /// Guest-physical initrd range, if any (`linux,initrd-start/end`).
    pub initrd: Option<Range>,
}

/// Phandle of the GIC node.
const PHANDLE_GIC: u32 = 1;
/// Phandle of the `/apb-pclk` fixed clock.
const PHANDLE_APB_PCLK: u32 = 2;

/// GIC interrupt specifier: shared peripheral interrupt.
const GIC_SPI: u32 = 0;
/// GIC interrupt specifier: private peripheral interrupt.
const GIC_PPI: u32 = 1;
/// Interrupt flags: rising edge.
const IRQ_TYPE_EDGE_RISING: u32 = 1;
/// Interrupt flags: active-high level.
const IRQ_TYPE_LEVEL_HIGH: u32 = 4;

/// First PPI INTID.
const FIRST_PPI: u32 = 16;
/// First SPI INTID.
const FIRST_SPI: u32 = 32;

/// Size of one GICv3 redistributor (RD_base + SGI_base frames).
const GICR_SIZE: u64 = 0x2_0000;
/// CPUs a GICv2 can address (the PPI CPU mask has 8 bits).
const GICV2_MAX_CPUS: usize = 8;

/// Stride of the virtio-mmio transports in a `virtio,mmio` block.
const VIRTIO_MMIO_STRIDE: u64 = 0x200;

/// Frequency of the APB clock PrimeCell peripherals are described with.
const APB_PCLK_HZ: u32 = 24_000_000;

/// Architected timer PPIs (DT numbers): secure physical, non-secure
/// physical, virtual, hypervisor.
const TIMER_PPIS: [u32; 4] = [13, 14, 11, 10];

/// The device tree of `cell` as its Linux sees it.
pub fn generate(config: &Config, cell: &Cell, boot: &BootInfo) -> Result<Vec<u8>, String> {
    let name = &cell.name;
    let fail = |message: String| format!("device tree of cell `{name}`: {message}");
    let plan = Plan::new(config, cell, boot).map_err(fail)?;
    plan.write().map_err(fail)
}

/// A device node, fully computed before anything is written.
struct DeviceNode {
    /// Node name, with unit address.
    name: String,
    /// `compatible` strings.
    compatible: Vec<String>,
    /// `reg` entries.
    reg: Vec<Range>,
    /// `interrupts` specifiers (3 cells each).
    interrupts: Vec<[u32; 3]>,
    /// `clock-names`, all referring to `/apb-pclk`.
    clocks: Vec<&'static str>,
    /// Whether it is a PL061 (a GPIO controller).
    gpio_controller: bool,
    /// Whether to add `dma-coherent`.
    dma_coherent: bool,
}

/// Everything the tree says, checked.
struct Plan<'a> {
    cell: &'a Cell,
    boot: &'a BootInfo,
    vcpus: usize,
    ram: Vec<Range>,
    gic: DeviceNode,
    gic_version: u8,
    timer_flags: u32,
    devices: Vec<DeviceNode>,
    stdout: Option<String>,
    reserved: Vec<(String, Range)>,
}

impl<'a> Plan<'a> {
    fn new(config: &'a Config, cell: &'a Cell, boot: &'a BootInfo) -> Result<Self, String> {
        let platform = &config.platform;
        if platform.arch != Arch::Aarch64 || platform.intc.kind != IntcKind::Gic {
            return Err(format!(
                "platform `{}` is not AArch64 with a GIC; only those get a Linux device tree",
                platform.name
            ));
        }
        let vcpus = cell.cpus.len();
        if vcpus == 0 {
            return Err("the cell has no CPU".into());
        }

        let ram: Vec<Range> = cell
            .memory
            .iter()
            .filter(|r| r.device.is_none())
            .map(|r| r.guest())
            .collect();
        if ram.is_empty() {
            return Err(
                "the cell has no RAM region (a `[[cell.memory]]` without `device`); \
                 Linux needs at least one /memory node"
                    .into(),
            );
        }

        let (gic, timer_flags) = gic_node(config, vcpus)?;

        let mut devices = Vec::new();
        if cell.console == CellConsole::Virtual {
            let uart = platform.devices.get(platform.console).ok_or_else(|| {
                format!(
                    "platform console device index {} does not exist",
                    platform.console
                )
            })?;
            devices.push(virtual_uart(uart)?);
        }
        let mut stdout = devices.first().map(|d| format!("/{}", d.name));
        for &index in &cell.devices {
            let device = platform
                .devices
                .get(index)
                .ok_or_else(|| format!("passthrough device index {index} does not exist"))?;
            let first = devices.len();
            devices.extend(passthrough(device)?);
            if cell.console == CellConsole::Passthrough && stdout.is_none() && is_uart(device) {
                stdout = Some(format!("/{}", devices[first].name));
            }
        }
        if cell.console == CellConsole::Passthrough && stdout.is_none() {
            return Err(
                "the cell has `console = \"passthrough\"` but owns no UART (PL011 or 16550)".into(),
            );
        }

        let mut reserved = Vec::new();
        for channel in &config.channels {
            for end in channel.ends.iter().filter(|e| e.cell == cell.id) {
                reserved.push((
                    format!("{}@{:x}", channel.name, end.gpa),
                    Range::new(end.gpa, channel.memory.size),
                ));
            }
        }

        if let Some(initrd) = boot.initrd {
            if initrd.size == 0 {
                return Err(format!("the initrd at {:#x} is empty", initrd.base));
            }
            let in_ram = initrd.base.checked_add(initrd.size).is_some()
                && ram.iter().any(|r| r.contains_range(&initrd));
            if !in_ram {
                return Err(format!(
                    "the initrd {initrd} is not inside one RAM region of the cell"
                ));
            }
        }

        Ok(Plan {
            cell,
            boot,
            vcpus,
            ram,
            gic,
            gic_version: platform.intc.version,
            timer_flags,
            devices,
            stdout,
            reserved,
        })
    }

    fn write(&self) -> Result<Vec<u8>, String> {
        let mut t = Tree::new()?;
        let root = t.begin("")?;
        t.string("compatible", "linux,dummy-virt")?;
        t.string("model", &format!("Bulkhead cell {}", self.cell.name))?;
        t.u32("#address-cells", 2)?;
        t.u32("#size-cells", 2)?;
        t.u32("interrupt-parent", PHANDLE_GIC)?;

        let cpus = t.begin("cpus")?;
        t.u32("#address-cells", 1)?;
        t.u32("#size-cells", 0)?;
        for vcpu in 0..self.vcpus {
            let reg = u32::try_from(vcpu).map_err(|_| "too many vCPUs".to_string())?;
            let cpu = t.begin(&format!("cpu@{reg:x}"))?;
            t.string("device_type", "cpu")?;
            t.string("compatible", "arm,armv8")?;
            t.u32("reg", reg)?;
            t.string("enable-method", "psci")?;
            t.end(cpu)?;
        }
        t.end(cpus)?;

        let psci = t.begin("psci")?;
        t.strings("compatible", &["arm,psci-1.0", "arm,psci-0.2"])?;
        t.string("method", "hvc")?;
        t.end(psci)?;

        for ram in &self.ram {
            let memory = t.begin(&format!("memory@{:x}", ram.base))?;
            t.string("device_type", "memory")?;
            t.reg(&[*ram])?;
            t.end(memory)?;
        }

        let gic = t.begin(&self.gic.name)?;
        t.strings("compatible", &self.gic.compatible)?;
        t.null("interrupt-controller")?;
        t.u32("#interrupt-cells", 3)?;
        t.u32("#address-cells", 0)?;
        if self.gic_version == 3 {
            t.u32("#redistributor-regions", 1)?;
        }
        t.reg(&self.gic.reg)?;
        t.interrupts(&self.gic.interrupts)?;
        t.phandle(PHANDLE_GIC)?;
        t.end(gic)?;

        let timer = t.begin("timer")?;
        t.string("compatible", "arm,armv8-timer")?;
        let timer_irqs: Vec<[u32; 3]> = TIMER_PPIS
            .iter()
            .map(|&ppi| [GIC_PPI, ppi, self.timer_flags])
            .collect();
        t.interrupts(&timer_irqs)?;
        t.null("always-on")?;
        t.end(timer)?;

        let clock = t.begin("apb-pclk")?;
        t.string("compatible", "fixed-clock")?;
        t.u32("#clock-cells", 0)?;
        t.u32("clock-frequency", APB_PCLK_HZ)?;
        t.string("clock-output-names", "clk24mhz")?;
        t.phandle(PHANDLE_APB_PCLK)?;
        t.end(clock)?;

        for device in &self.devices {
            let node = t.begin(&device.name)?;
            t.strings("compatible", &device.compatible)?;
            if !device.reg.is_empty() {
                t.reg(&device.reg)?;
            }
            if !device.interrupts.is_empty() {
                t.interrupts(&device.interrupts)?;
            }
            if !device.clocks.is_empty() {
                t.cells("clocks", &vec![PHANDLE_APB_PCLK; device.clocks.len()])?;
                t.strings("clock-names", &device.clocks)?;
            }
            if device.gpio_controller {
                t.null("gpio-controller")?;
                t.u32("#gpio-cells", 2)?;
            }
            if device.dma_coherent {
                t.null("dma-coherent")?;
            }
            t.end(node)?;
        }

        if !self.reserved.is_empty() {
            let reserved = t.begin("reserved-memory")?;
            t.u32("#address-cells", 2)?;
            t.u32("#size-cells", 2)?;
            t.null("ranges")?;
            for (name, range) in &self.reserved {
                let node = t.begin(name)?;
                t.reg(&[*range])?;
                t.null("no-map")?;
                t.end(node)?;
            }
            t.end(reserved)?;
        }

        let chosen = t.begin("chosen")?;
        t.string("bootargs", &self.boot.bootargs)?;
        if let Some(stdout) = &self.stdout {
            t.string("stdout-path", stdout)?;
        }
        if let Some(initrd) = self.boot.initrd {
            t.u64("linux,initrd-start", initrd.base)?;
            t.u64("linux,initrd-end", initrd.end())?;
        }
        t.end(chosen)?;

        t.end(root)?;
        t.finish()
    }
}

/// The GIC node as the cell sees it, and the timer's interrupt flags.
fn gic_node(config: &Config, vcpus: usize) -> Result<(DeviceNode, u32), String> {
    let intc = &config.platform.intc;
    let distributor = intc
        .distributor
        .ok_or("the platform's GIC has no distributor range")?;
    let maintenance = ppi(intc.maintenance_irq, IRQ_TYPE_LEVEL_HIGH)
        .map_err(|e| format!("GIC maintenance interrupt: {e}"))?;
    let (compatible, second, timer_flags) = match intc.version {
        3 => {
            let redistributor = intc
                .redistributor
                .ok_or("the platform's GICv3 has no redistributor range")?;
            let mine = Range::new(redistributor.base, GICR_SIZE * vcpus as u64);
            if !redistributor.contains_range(&mine) {
                return Err(format!(
                    "{vcpus} redistributors ({mine}) do not fit in the platform's redistributor \
                     region {redistributor}"
                ));
            }
            ("arm,gic-v3", mine, IRQ_TYPE_LEVEL_HIGH)
        }
        2 => {
            let gicc = intc
                .cpu_interface
                .ok_or("the platform's GICv2 has no CPU interface (GICC) range")?;
            // The hypervisor maps the GICV frame at the GICC address: no
            // more of it than GICV has.
            let size = intc
                .virtual_cpu
                .map_or(gicc.size, |v| gicc.size.min(v.size));
            if vcpus > GICV2_MAX_CPUS {
                return Err(format!(
                    "{vcpus} vCPUs, but a GICv2 addresses at most {GICV2_MAX_CPUS}"
                ));
            }
            let mask = (1u32 << vcpus) - 1;
            (
                "arm,cortex-a15-gic",
                Range::new(gicc.base, size),
                (mask << 8) | IRQ_TYPE_LEVEL_HIGH,
            )
        }
        v => return Err(format!("GIC version {v} is not supported (2 or 3)")),
    };
    let node = DeviceNode {
        name: format!("intc@{:x}", distributor.base),
        compatible: vec![compatible.into()],
        reg: vec![distributor, second],
        interrupts: vec![maintenance],
        clocks: Vec::new(),
        gpio_controller: false,
        dma_coherent: false,
    };
    Ok((node, timer_flags))
}

/// The emulated PL011 at the platform console UART's place.
fn virtual_uart(uart: &Device) -> Result<DeviceNode, String> {
    let what = || format!("virtual console (platform console device `{}`)", uart.name);
    let mmio = *uart
        .mmio
        .first()
        .ok_or_else(|| format!("{}: the device has no MMIO range", what()))?;
    let irq = *uart
        .irqs
        .first()
        .ok_or_else(|| format!("{}: the device has no interrupt", what()))?;
    Ok(DeviceNode {
        name: format!("pl011@{:x}", mmio.base),
        compatible: vec!["arm,pl011".into(), "arm,primecell".into()],
        reg: vec![mmio],
        interrupts: vec![spi(irq, IRQ_TYPE_LEVEL_HIGH).map_err(|e| format!("{}: {e}", what()))?],
        clocks: vec!["uartclk", "apb_pclk"],
        gpio_controller: false,
        dma_coherent: false,
    })
}

/// Whether the device is a UART a passthrough console can use.
fn is_uart(device: &Device) -> bool {
    device.compatible.contains("pl011") || device.compatible.contains("16550")
}

/// The nodes of a passthrough device (several for a virtio-mmio block).
fn passthrough(device: &Device) -> Result<Vec<DeviceNode>, String> {
    let what = |e: String| format!("device `{}`: {e}", device.name);
    if device.compatible == "virtio,mmio" {
        return virtio_mmio(device).map_err(what);
    }
    let base_name = node_base_name(&device.compatible).map_err(what)?;
    let name = match device.mmio.first() {
        Some(mmio) => format!("{base_name}@{:x}", mmio.base),
        None => base_name.clone(),
    };
    let primecell = device.compatible.starts_with("arm,pl0");
    let mut compatible = vec![device.compatible.clone()];
    if primecell {
        compatible.push("arm,primecell".into());
    }
    let clocks = match (primecell, device.compatible == "arm,pl011") {
        (false, _) => Vec::new(),
        (true, true) => vec!["uartclk", "apb_pclk"],
        (true, false) => vec!["apb_pclk"],
    };
    let interrupts = device
        .irqs
        .iter()
        .map(|&irq| spi(irq, IRQ_TYPE_LEVEL_HIGH))
        .collect::<Result<_, _>>()
        .map_err(what)?;
    Ok(vec![DeviceNode {
        name,
        compatible,
        reg: device.mmio.clone(),
        interrupts,
        clocks,
        gpio_controller: device.compatible == "arm,pl061",
        dma_coherent: false,
    }])
}

/// A block of virtio-mmio transports, one per INTID, 0x200 bytes apart.
fn virtio_mmio(device: &Device) -> Result<Vec<DeviceNode>, String> {
    let block = *device
        .mmio
        .first()
        .ok_or("a virtio-mmio block needs an MMIO range")?;
    let needed = VIRTIO_MMIO_STRIDE * device.irqs.len() as u64;
    if needed > block.size {
        return Err(format!(
            "{} transports of {VIRTIO_MMIO_STRIDE:#x} bytes (one per interrupt) do not fit in \
             {block}",
            device.irqs.len()
        ));
    }
    let mut nodes = Vec::new();
    for (slot, &irq) in device.irqs.iter().enumerate() {
        let base = block.base + slot as u64 * VIRTIO_MMIO_STRIDE;
        nodes.push(DeviceNode {
            name: format!("virtio_mmio@{base:x}"),
            compatible: vec![device.compatible.clone()],
            reg: vec![Range::new(base, VIRTIO_MMIO_STRIDE)],
            interrupts: vec![spi(irq, IRQ_TYPE_EDGE_RISING)?],
            clocks: Vec::new(),
            gpio_controller: false,
            dma_coherent: true,
        });
    }
    Ok(nodes)
}

/// A node name from a compatible string: the part after the vendor prefix
/// (`arm,pl031` -> `pl031`), characters a node name cannot hold replaced by
/// `-`.
fn node_base_name(compatible: &str) -> Result<String, String> {
    let model = compatible.split_once(',').map_or(compatible, |(_, m)| m);
    let name: String = model
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, ',' | '.' | '_' | '+' | '-') {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(format!(
            "cannot derive a node name from compatible `{compatible}` (it must start with a \
             letter after the vendor prefix)"
        ));
    }
    Ok(name)
}

/// `<GIC_SPI n flags>` for INTID `intid`.
fn spi(intid: u32, flags: u32) -> Result<[u32; 3], String> {
    if intid < FIRST_SPI {
        return Err(format!(
            "interrupt {intid} is not a shared peripheral interrupt (INTID 32 or more)"
        ));
    }
    Ok([GIC_SPI, intid - FIRST_SPI, flags])
}

/// `<GIC_PPI n flags>` for INTID `intid`.
fn ppi(intid: u32, flags: u32) -> Result<[u32; 3], String> {
    if !(FIRST_PPI..FIRST_SPI).contains(&intid) {
        return Err(format!(
            "interrupt {intid} is not a private peripheral interrupt (INTID 16..32)"
        ));
    }
    Ok([GIC_PPI, intid - FIRST_PPI, flags])
}

/// A [`FdtWriter`] that tracks the current path for error messages and
/// refuses two nodes with the same path.
struct Tree {
    fdt: FdtWriter,
    path: Vec<String>,
    paths: HashSet<String>,
}

impl Tree {
    fn new() -> Result<Self, String> {
        Ok(Tree {
            fdt: FdtWriter::new().map_err(|e| format!("cannot start a device tree: {e}"))?,
            path: Vec::new(),
            paths: HashSet::new(),
        })
    }

    /// The path of the open node (`/` for the root).
    fn here(&self) -> String {
        let path = self.path.iter().skip(1).fold(String::new(), |mut p, n| {
            p.push('/');
            p.push_str(n);
            p
        });
        if path.is_empty() { "/".into() } else { path }
    }

    fn begin(&mut self, name: &str) -> Result<FdtWriterNode, String> {
        let path = if self.path.is_empty() {
            "/".to_string()
        } else {
            let parent = self.here();
            format!("{}/{name}", parent.trim_end_matches('/'))
        };
        if !self.paths.insert(path.clone()) {
            return Err(format!(
                "two nodes would be named `{path}` (devices or channels at the same address?)"
            ));
        }
        let node = self
            .fdt
            .begin_node(name)
            .map_err(|e| format!("node `{path}`: {e}"))?;
        self.path.push(name.to_string());
        Ok(node)
    }

    fn end(&mut self, node: FdtWriterNode) -> Result<(), String> {
        let here = self.here();
        self.fdt
            .end_node(node)
            .map_err(|e| format!("closing node `{here}`: {e}"))?;
        self.path.pop();
        Ok(())
    }

    fn check(&self, name: &str, result: Result<(), vm_fdt::Error>) -> Result<(), String> {
        result.map_err(|e| format!("property `{name}` of `{}`: {e}", self.here()))
    }

    fn null(&mut self, name: &str) -> Result<(), String> {
        let r = self.fdt.property_null(name);
        self.check(name, r)
    }

    fn string(&mut self, name: &str, value: &str) -> Result<(), String> {
        let r = self.fdt.property_string(name, value);
        self.check(name, r)
    }

    fn strings<S: AsRef<str>>(&mut self, name: &str, values: &[S]) -> Result<(), String> {
        let values = values.iter().map(|s| s.as_ref().to_string()).collect();
        let r = self.fdt.property_string_list(name, values);
        self.check(name, r)
    }

    fn u32(&mut self, name: &str, value: u32) -> Result<(), String> {
        let r = self.fdt.property_u32(name, value);
        self.check(name, r)
    }

    fn u64(&mut self, name: &str, value: u64) -> Result<(), String> {
        let r = self.fdt.property_u64(name, value);
        self.check(name, r)
    }

    fn cells(&mut self, name: &str, cells: &[u32]) -> Result<(), String> {
        let r = self.fdt.property_array_u32(name, cells);
        self.check(name, r)
    }

    /// `reg` with 2-cell addresses and sizes.
    fn reg(&mut self, ranges: &[Range]) -> Result<(), String> {
        let cells: Vec<u64> = ranges.iter().flat_map(|r| [r.base, r.size]).collect();
        let r = self.fdt.property_array_u64("reg", &cells);
        self.check("reg", r)
    }

    fn interrupts(&mut self, specifiers: &[[u32; 3]]) -> Result<(), String> {
        self.cells("interrupts", specifiers.as_flattened())
    }

    fn phandle(&mut self, value: u32) -> Result<(), String> {
        let r = self.fdt.property_phandle(value);
        self.check("phandle", r)
    }

    fn finish(self) -> Result<Vec<u8>, String> {
        self.fdt
            .finish()
            .map_err(|e| format!("cannot finish the device tree: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_drop_the_vendor_and_keep_valid_characters() {
        assert_eq!(node_base_name("arm,pl031").unwrap(), "pl031");
        assert_eq!(node_base_name("ns16550a").unwrap(), "ns16550a");
        assert_eq!(node_base_name("snps,dw apb/uart").unwrap(), "dw-apb-uart");
        assert!(node_base_name("acme,3com").is_err());
        assert!(node_base_name("").is_err());
    }

    #[test]
    fn interrupt_specifiers_check_the_interrupt_kind() {
        assert_eq!(spi(33, 4).unwrap(), [0, 1, 4]);
        assert_eq!(ppi(25, 4).unwrap(), [1, 9, 4]);
        assert!(spi(31, 4).is_err());
        assert!(ppi(32, 4).is_err());
        assert!(ppi(15, 4).is_err());
    }

    #[test]
    fn virtio_blocks_are_split_into_transports() {
        let device = Device {
            name: "virtio".into(),
            compatible: "virtio,mmio".into(),
            mmio: vec![Range::new(0xa00_0000, 0x400)],
            irqs: vec![48, 49],
            ports: Vec::new(),
        };
        let nodes = passthrough(&device).unwrap();
        let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["virtio_mmio@a000000", "virtio_mmio@a000200"]);
        assert_eq!(nodes[1].reg, [Range::new(0xa00_0200, 0x200)]);
        assert_eq!(nodes[1].interrupts, [[0, 17, 1]]);
        let crowded = Device {
            irqs: vec![48, 49, 50],
            ..device
        };
        let err = passthrough(&crowded).err().unwrap();
        assert!(err.contains("do not fit"), "{err}");
    }
}
