//! The device nodes of a cell's tree, computed (and checked) before
//! anything is written: the GIC as the cell sees it, the virtual console,
//! passthrough devices (a virtio-mmio block split into its transports), and
//! the GIC interrupt specifiers they carry.

use crate::model::{Config, Device, Range};

/// GIC interrupt specifier: shared peripheral interrupt.
const GIC_SPI: u32 = 0;
/// GIC interrupt specifier: private peripheral interrupt.
pub(super) const GIC_PPI: u32 = 1;
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

/// A device node, fully computed before anything is written.
pub(super) struct DeviceNode {
    /// Node name, with unit address.
    pub(super) name: String,
    /// `compatible` strings.
    pub(super) compatible: Vec<String>,
    /// `reg` entries.
    pub(super) reg: Vec<Range>,
    /// `interrupts` specifiers (3 cells each).
    pub(super) interrupts: Vec<[u32; 3]>,
    /// `clock-names`, all referring to `/apb-pclk`.
    pub(super) clocks: Vec<&'static str>,
    /// Whether it is a PL061 (a GPIO controller).
    pub(super) gpio_controller: bool,
    /// Whether to add `dma-coherent`.
    pub(super) dma_coherent: bool,
}

/// The GIC node as the cell sees it, and the timer's interrupt flags.
pub(super) fn gic_node(config: &Config, vcpus: usize) -> Result<(DeviceNode, u32), String> {
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
pub(super) fn virtual_uart(uart: &Device) -> Result<DeviceNode, String> {
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
pub(super) fn is_uart(device: &Device) -> bool {
    device.compatible.contains("pl011") || device.compatible.contains("16550")
}

/// The nodes of a passthrough device (several for a virtio-mmio block).
pub(super) fn passthrough(device: &Device) -> Result<Vec<DeviceNode>, String> {
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
            dma: true,
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
