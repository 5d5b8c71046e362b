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
//! specifiers of 3 cells `<type number flags>`. Everything is computed and
//! checked first (a `Plan`, with the device nodes of `nodes.rs`), then
//! written in one go through `tree.rs`.

mod nodes;
mod tree;

use crate::model::{Arch, Cell, CellConsole, Config, IntcKind, Range};

use nodes::{DeviceNode, GIC_PPI, gic_node, is_uart, passthrough, virtual_uart};
use tree::Tree;

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
        let (devices, stdout) = devices_of(config, cell)?;
        let reserved = reserved_of(config, cell);
        check_initrd(boot, &ram)?;
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
        self.write_cpus(&mut t)?;
        for ram in &self.ram {
            let memory = t.begin(&format!("memory@{:x}", ram.base))?;
            t.string("device_type", "memory")?;
            t.reg(&[*ram])?;
            t.end(memory)?;
        }
        self.write_gic(&mut t)?;
        self.write_timer_and_clock(&mut t)?;
        for device in &self.devices {
            write_device(&mut t, device)?;
        }
        self.write_reserved(&mut t)?;
        self.write_chosen(&mut t)?;
        t.end(root)?;
        t.finish()
    }

    /// `/cpus` (one node per vCPU, `reg` = its virtual MPIDR) and `/psci`.
    fn write_cpus(&self, t: &mut Tree) -> Result<(), String> {
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
        t.end(psci)
    }

    fn write_gic(&self, t: &mut Tree) -> Result<(), String> {
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
        t.end(gic)
    }

    /// The architected timer and the APB clock PrimeCells refer to.
    fn write_timer_and_clock(&self, t: &mut Tree) -> Result<(), String> {
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
        t.end(clock)
    }

    /// The channel windows, which Linux must leave alone (`no-map`).
    fn write_reserved(&self, t: &mut Tree) -> Result<(), String> {
        if self.reserved.is_empty() {
            return Ok(());
        }
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
        t.end(reserved)
    }

    fn write_chosen(&self, t: &mut Tree) -> Result<(), String> {
        let chosen = t.begin("chosen")?;
        t.string("bootargs", &self.boot.bootargs)?;
        if let Some(stdout) = &self.stdout {
            t.string("stdout-path", stdout)?;
        }
        if let Some(initrd) = self.boot.initrd {
            t.u64("linux,initrd-start", initrd.base)?;
            t.u64("linux,initrd-end", initrd.end())?;
        }
        t.end(chosen)
    }
}

/// The cell's device nodes (its console first) and the console's path
/// (`/chosen/stdout-path`).
fn devices_of(config: &Config, cell: &Cell) -> Result<(Vec<DeviceNode>, Option<String>), String> {
    let platform = &config.platform;
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
    Ok((devices, stdout))
}

/// The cell's channel windows, as reserved-memory nodes.
fn reserved_of(config: &Config, cell: &Cell) -> Vec<(String, Range)> {
    let mut reserved = Vec::new();
    for channel in &config.channels {
        for end in channel.ends.iter().filter(|e| e.cell == cell.id) {
            reserved.push((
                format!("{}@{:x}", channel.name, end.gpa),
                Range::new(end.gpa, channel.memory.size),
            ));
        }
    }
    reserved
}

/// The initrd, if any, is not empty and lies in one RAM region.
fn check_initrd(boot: &BootInfo, ram: &[Range]) -> Result<(), String> {
    let Some(initrd) = boot.initrd else {
        return Ok(());
    };
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
    Ok(())
}

fn write_device(t: &mut Tree, device: &DeviceNode) -> Result<(), String> {
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
    t.end(node)
}
