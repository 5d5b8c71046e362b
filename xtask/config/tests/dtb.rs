//! The per-cell Linux device trees: every cell of every product and test
//! config gets a DTB that parses back (with the `fdt` crate) to exactly what
//! the config says, and that `dtc` accepts without warnings when it is
//! installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use bulkhead_config::dtb::{BootInfo, generate};
use bulkhead_config::model::{Arch, Cell, CellConsole, Config, Device, Range, Region};
use bulkhead_config::{LoadOptions, load};
use fdt::Fdt;
use fdt::node::FdtNode;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn toml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn load_config(path: &Path) -> Config {
    let options = LoadOptions {
        require_images: false,
        ..LoadOptions::for_workspace(&workspace())
    };
    load(path, &options).unwrap_or_else(|e| panic!("{e}"))
}

/// Every config the tests generate trees for: the AArch64 products, the
/// good test configs and the QEMU test configs (which add virtio-mmio and
/// GPIO cells). Device trees are AArch64's; x86_64 configs have none.
fn all_configs() -> Vec<Config> {
    let mut paths = toml_files("configs");
    for name in ["qemu-virt-demo.toml", "qemu-virt-gicv2-demo.toml"] {
        assert!(
            paths.iter().any(|p| p.ends_with(name)),
            "configs/{name} is missing"
        );
    }
    paths.extend(toml_files("tests/configs/good"));
    paths.extend(toml_files("tests/configs/qemu"));
    paths
        .iter()
        .map(|p| load_config(p))
        .filter(|c| c.platform.arch == Arch::Aarch64)
        .collect()
}

fn demo() -> Config {
    load_config(&workspace().join("configs/qemu-virt-demo.toml"))
}

/// The boot information the tests use for `cell`: an initrd in the upper
/// half of its first RAM region, or none.
fn boot_info(cell: &Cell, with_initrd: bool) -> BootInfo {
    let ram = cell.memory.iter().find(|r| r.device.is_none()).unwrap();
    BootInfo {
        bootargs: format!("console=ttyAMA0 earlycon root=/dev/ram0 cell={}", cell.name),
        initrd: with_initrd.then(|| Range::new(ram.gpa + ram.size / 2, ram.size / 4)),
    }
}

fn gen_ok(config: &Config, cell: &Cell, boot: &BootInfo) -> Vec<u8> {
    generate(config, cell, boot)
        .unwrap_or_else(|e| panic!("{} cell `{}`: {e}", config.name, cell.name))
}

// --- reading the tree back -------------------------------------------------

fn prop<'a>(node: FdtNode<'_, 'a>, name: &str) -> Option<&'a [u8]> {
    node.property(name).map(|p| p.value)
}

fn u32s(bytes: &[u8]) -> Vec<u32> {
    assert_eq!(bytes.len() % 4, 0, "cell array of {} bytes", bytes.len());
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
        .collect()
}

fn u64_of(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes.try_into().expect("a 64-bit value"))
}

fn cells(node: FdtNode<'_, '_>, name: &str) -> Vec<u32> {
    u32s(prop(node, name).unwrap_or_else(|| panic!("{} has no `{name}`", node.name)))
}

fn string<'a>(node: FdtNode<'_, 'a>, name: &str) -> &'a str {
    let bytes = prop(node, name).unwrap_or_else(|| panic!("{} has no `{name}`", node.name));
    let text = bytes
        .strip_suffix(&[0])
        .unwrap_or_else(|| panic!("{}/{name} is not NUL-terminated", node.name));
    std::str::from_utf8(text).unwrap()
}

fn strings<'a>(node: FdtNode<'_, 'a>, name: &str) -> Vec<&'a str> {
    let bytes = prop(node, name).unwrap_or_else(|| panic!("{} has no `{name}`", node.name));
    let text = bytes.strip_suffix(&[0]).unwrap();
    std::str::from_utf8(text).unwrap().split('\0').collect()
}

/// `reg` of a child of a node with `#address-cells = #size-cells = 2`.
fn reg(node: FdtNode<'_, '_>) -> Vec<Range> {
    let cells = cells(node, "reg");
    assert_eq!(
        cells.len() % 4,
        0,
        "{}: reg of {} cells",
        node.name,
        cells.len()
    );
    cells
        .chunks_exact(4)
        .map(|c| {
            Range::new(
                (u64::from(c[0]) << 32) | u64::from(c[1]),
                (u64::from(c[2]) << 32) | u64::from(c[3]),
            )
        })
        .collect()
}

fn children<'b, 'a>(node: FdtNode<'b, 'a>) -> Vec<FdtNode<'b, 'a>> {
    node.children().collect()
}

fn root<'b, 'a>(fdt: &'b Fdt<'a>) -> FdtNode<'b, 'a> {
    fdt.find_node("/").expect("a root node")
}

fn ram_regions(cell: &Cell) -> Vec<Range> {
    let mut ram: Vec<Range> = cell
        .memory
        .iter()
        .filter(|r| r.device.is_none())
        .map(Region::guest)
        .collect();
    ram.sort_by_key(|r| r.base);
    ram
}

/// Reg base and `interrupts` of every device node the cell's config calls
/// for (the virtual console, then its passthrough devices), sorted by base.
fn expected_devices(config: &Config, cell: &Cell) -> Vec<(u64, Vec<u32>)> {
    let mut expected = Vec::new();
    if cell.console == CellConsole::Virtual {
        let uart = &config.platform.devices[config.platform.console];
        expected.push((uart.mmio[0].base, vec![0, uart.irqs[0] - 32, 4]));
    }
    for &index in &cell.devices {
        let device = &config.platform.devices[index];
        if device.compatible == "virtio,mmio" {
            for (slot, &irq) in device.irqs.iter().enumerate() {
                expected.push((
                    device.mmio[0].base + slot as u64 * 0x200,
                    vec![0, irq - 32, 1],
                ));
            }
        } else {
            let irqs = device.irqs.iter().flat_map(|&i| [0, i - 32, 4]).collect();
            expected.push((device.mmio[0].base, irqs));
        }
    }
    expected.sort();
    expected
}

/// What a cell's tree is checked against, and the name messages use.
struct Case<'c> {
    config: &'c Config,
    cell: &'c Cell,
    what: String,
}

/// Checks one cell's tree against the config.
fn check_tree(config: &Config, cell: &Cell, boot: &BootInfo, dtb: &[u8]) {
    let what = format!("{} cell `{}`", config.name, cell.name);
    let fdt = Fdt::new(dtb).unwrap_or_else(|e| panic!("{what}: the DTB does not parse: {e:?}"));
    let case = Case { config, cell, what };
    check_root_and_cpus(&case, &fdt);
    check_memory(&case, &fdt);
    check_gic(&case, &fdt);
    let clock_phandle = check_timer_and_clock(&case, &fdt);
    let device_nodes = check_devices(&case, &fdt, &clock_phandle);
    check_console_and_chosen(&case, &fdt, &device_nodes, boot);
    check_reserved_memory(&case, &fdt);
}

fn check_root_and_cpus(case: &Case<'_>, fdt: &Fdt<'_>) {
    let (cell, what) = (case.cell, &case.what);
    let root = root(fdt);
    let n = cell.cpus.len();

    // Root.
    assert_eq!(cells(root, "#address-cells"), [2], "{what}");
    assert_eq!(cells(root, "#size-cells"), [2], "{what}");
    assert_eq!(strings(root, "compatible"), ["linux,dummy-virt"], "{what}");
    assert_eq!(
        string(root, "model"),
        format!("Bulkhead cell {}", cell.name),
        "{what}"
    );

    // CPUs: vCPU i is cpu@i with reg i.
    let cpus = fdt.find_node("/cpus").expect("/cpus");
    assert_eq!(cells(cpus, "#address-cells"), [1], "{what}");
    assert_eq!(cells(cpus, "#size-cells"), [0], "{what}");
    let cpu_nodes = children(cpus);
    assert_eq!(cpu_nodes.len(), n, "{what}: cpu nodes");
    for (i, cpu) in cpu_nodes.iter().enumerate() {
        assert_eq!(cpu.name, format!("cpu@{i:x}"), "{what}");
        assert_eq!(cells(*cpu, "reg"), [i as u32], "{what}");
        assert_eq!(string(*cpu, "device_type"), "cpu", "{what}");
        assert_eq!(string(*cpu, "enable-method"), "psci", "{what}");
        assert_eq!(strings(*cpu, "compatible"), ["arm,armv8"], "{what}");
    }
    assert_eq!(fdt.cpus().count(), n, "{what}: fdt::Fdt::cpus");

    // PSCI.
    let psci = fdt.find_node("/psci").expect("/psci");
    assert_eq!(string(psci, "method"), "hvc", "{what}");
    assert_eq!(
        strings(psci, "compatible"),
        ["arm,psci-1.0", "arm,psci-0.2"],
        "{what}"
    );
}

fn check_memory(case: &Case<'_>, fdt: &Fdt<'_>) {
    let (cell, what) = (case.cell, &case.what);
    let root = root(fdt);
    // Memory: exactly the RAM regions.
    let memory_nodes: Vec<_> = children(root)
        .into_iter()
        .filter(|c| c.name.starts_with("memory@"))
        .collect();
    let mut memory: Vec<Range> = Vec::new();
    for node in &memory_nodes {
        assert_eq!(string(*node, "device_type"), "memory", "{what}");
        let r = reg(*node);
        assert_eq!(r.len(), 1, "{what}: {}", node.name);
        assert_eq!(node.name, format!("memory@{:x}", r[0].base), "{what}");
        memory.extend(r);
    }
    memory.sort_by_key(|r| r.base);
    assert_eq!(memory, ram_regions(cell), "{what}: memory nodes");
}

fn check_gic(case: &Case<'_>, fdt: &Fdt<'_>) {
    let (config, what) = (case.config, &case.what);
    let root = root(fdt);
    let intc = &config.platform.intc;
    let n = case.cell.cpus.len();
    // GIC: the only interrupt controller, the root's interrupt parent.
    let gics: Vec<_> = fdt
        .all_nodes()
        .filter(|n| n.property("interrupt-controller").is_some())
        .collect();
    assert_eq!(gics.len(), 1, "{what}: interrupt controllers");
    let gic = gics[0];
    let distributor = intc.distributor.unwrap();
    assert_eq!(gic.name, format!("intc@{:x}", distributor.base), "{what}");
    assert_eq!(cells(gic, "#interrupt-cells"), [3], "{what}");
    assert_eq!(
        cells(gic, "phandle"),
        cells(root, "interrupt-parent"),
        "{what}"
    );
    assert_eq!(
        cells(gic, "interrupts"),
        [1, intc.maintenance_irq - 16, 4],
        "{what}: maintenance interrupt"
    );
    match intc.version {
        3 => {
            assert_eq!(strings(gic, "compatible"), ["arm,gic-v3"], "{what}");
            assert_eq!(cells(gic, "#redistributor-regions"), [1], "{what}");
            let gicr = Range::new(intc.redistributor.unwrap().base, 0x2_0000 * n as u64);
            assert_eq!(reg(gic), [distributor, gicr], "{what}: GICv3 reg");
        }
        2 => {
            assert_eq!(strings(gic, "compatible"), ["arm,cortex-a15-gic"], "{what}");
            let gicc = intc.cpu_interface.unwrap();
            let size = gicc.size.min(intc.virtual_cpu.unwrap().size);
            assert_eq!(
                reg(gic),
                [distributor, Range::new(gicc.base, size)],
                "{what}: GICv2 reg"
            );
        }
        v => panic!("{what}: GIC version {v}"),
    }
    assert!(
        fdt.find_compatible(&["arm,gic-v3-its", "arm,gic-v2m-frame"])
            .is_none()
    );
}

/// The timer and the APB clock; returns the clock's phandle.
fn check_timer_and_clock(case: &Case<'_>, fdt: &Fdt<'_>) -> Vec<u32> {
    let what = &case.what;
    let intc = &case.config.platform.intc;
    let n = case.cell.cpus.len();
    // Timer.
    let timer = fdt.find_node("/timer").expect("/timer");
    assert_eq!(strings(timer, "compatible"), ["arm,armv8-timer"], "{what}");
    assert!(timer.property("always-on").is_some(), "{what}");
    let flags = if intc.version == 2 {
        (((1 << n) - 1) << 8) | 4
    } else {
        4
    };
    assert_eq!(
        cells(timer, "interrupts"),
        [1, 13, flags, 1, 14, flags, 1, 11, flags, 1, 10, flags],
        "{what}: timer"
    );

    // The APB clock.
    let clock = fdt.find_node("/apb-pclk").expect("/apb-pclk");
    assert_eq!(strings(clock, "compatible"), ["fixed-clock"], "{what}");
    assert_eq!(cells(clock, "clock-frequency"), [24_000_000], "{what}");
    assert_eq!(cells(clock, "#clock-cells"), [0], "{what}");
    cells(clock, "phandle")
}

/// Checks the device nodes and returns them.
fn check_devices<'b, 'a>(
    case: &Case<'_>,
    fdt: &'b Fdt<'a>,
    clock_phandle: &[u32],
) -> Vec<FdtNode<'b, 'a>> {
    let (config, cell, what) = (case.config, case.cell, &case.what);
    let root = root(fdt);
    // Devices: exactly the virtual console and the passthrough devices, by
    // reg base; none of any other platform device.
    let structural = [
        "cpus", "psci", "memory", "intc", "timer", "apb-pclk", "chosen",
    ];
    let device_nodes: Vec<_> = children(root)
        .into_iter()
        .filter(|c| {
            let base = c.name.split('@').next().unwrap();
            !structural.contains(&base) && base != "reserved-memory"
        })
        .collect();
    let mut found: Vec<(u64, Vec<u32>)> = device_nodes
        .iter()
        .map(|d| {
            let r = reg(*d);
            assert_eq!(
                d.name.split_once('@').unwrap().1,
                format!("{:x}", r[0].base)
            );
            (r[0].base, cells(*d, "interrupts"))
        })
        .collect();
    found.sort();
    assert_eq!(found, expected_devices(config, cell), "{what}: devices");
    for (index, device) in config.platform.devices.iter().enumerate() {
        let owned = cell.devices.contains(&index)
            || (cell.console == CellConsole::Virtual && index == config.platform.console);
        if owned {
            continue;
        }
        for node in &device_nodes {
            let base = reg(*node)[0].base;
            assert!(
                !device.mmio.iter().any(|m| m.contains(base)),
                "{what}: {} describes device `{}`, which the cell does not own",
                node.name,
                device.name
            );
        }
    }
    for node in &device_nodes {
        let compatible = strings(*node, "compatible");
        if compatible[0].starts_with("arm,pl0") {
            assert_eq!(compatible[1], "arm,primecell", "{what}: {}", node.name);
            let clocks = cells(*node, "clocks");
            assert!(!clocks.is_empty());
            assert!(clocks.iter().all(|c| [*c] == clock_phandle[..]), "{what}");
            assert_eq!(strings(*node, "clock-names").len(), clocks.len(), "{what}");
        }
        if compatible[0] == "virtio,mmio" {
            assert!(node.property("dma-coherent").is_some(), "{what}");
            assert_eq!(reg(*node)[0].size, 0x200, "{what}");
            assert!(node.name.starts_with("virtio_mmio@"), "{what}");
        }
    }
    device_nodes
}

fn check_console_and_chosen(
    case: &Case<'_>,
    fdt: &Fdt<'_>,
    device_nodes: &[FdtNode<'_, '_>],
    boot: &BootInfo,
) {
    let (config, cell, what) = (case.config, case.cell, &case.what);
    // Console.
    let console_base = config.platform.devices[config.platform.console].mmio[0].base;
    let virtual_console = device_nodes
        .iter()
        .find(|d| d.name == format!("pl011@{console_base:x}"));
    assert_eq!(
        virtual_console.is_some(),
        cell.console == CellConsole::Virtual || cell.devices.contains(&config.platform.console),
        "{what}: console node"
    );
    let chosen = fdt.find_node("/chosen").expect("/chosen");
    let stdout = prop(chosen, "stdout-path").map(|_| string(chosen, "stdout-path"));
    match cell.console {
        CellConsole::Virtual => {
            let node = virtual_console.unwrap();
            assert_eq!(stdout, Some(format!("/{}", node.name).as_str()), "{what}");
            assert_eq!(
                strings(*node, "compatible"),
                ["arm,pl011", "arm,primecell"],
                "{what}"
            );
            assert_eq!(strings(*node, "clock-names"), ["uartclk", "apb_pclk"]);
            assert_eq!(fdt.chosen().stdout().map(|n| n.name), Some(node.name));
        }
        CellConsole::Passthrough => {
            let uart = fdt.chosen().stdout().expect("a passthrough stdout node");
            let base = reg(uart)[0].base;
            assert!(
                cell.devices.iter().any(|&d| {
                    let device = &config.platform.devices[d];
                    device.compatible.contains("pl011") && device.mmio[0].base == base
                }),
                "{what}: stdout-path {stdout:?} is not a passthrough UART"
            );
        }
        CellConsole::None => assert_eq!(stdout, None, "{what}"),
    }

    // Chosen.
    assert_eq!(
        fdt.chosen().bootargs(),
        Some(boot.bootargs.as_str()),
        "{what}"
    );
    let start = prop(chosen, "linux,initrd-start").map(u64_of);
    let end = prop(chosen, "linux,initrd-end").map(u64_of);
    assert_eq!(
        start.zip(end),
        boot.initrd.map(|r| (r.base, r.end())),
        "{what}: initrd"
    );
}

fn check_reserved_memory(case: &Case<'_>, fdt: &Fdt<'_>) {
    let (config, cell, what) = (case.config, case.cell, &case.what);
    // Reserved memory: one no-map child per channel end of the cell.
    let mut wanted: Vec<(String, Range)> = config
        .channels
        .iter()
        .flat_map(|ch| {
            ch.ends.iter().filter(|e| e.cell == cell.id).map(|e| {
                (
                    format!("{}@{:x}", ch.name, e.gpa),
                    Range::new(e.gpa, ch.memory.size),
                )
            })
        })
        .collect();
    wanted.sort_by_key(|w| w.1.base);
    match fdt.find_node("/reserved-memory") {
        None => assert!(wanted.is_empty(), "{what}: no /reserved-memory"),
        Some(reserved) => {
            assert_eq!(cells(reserved, "#address-cells"), [2], "{what}");
            assert_eq!(cells(reserved, "#size-cells"), [2], "{what}");
            assert_eq!(prop(reserved, "ranges"), Some(&[][..]), "{what}");
            let mut got: Vec<(String, Range)> = children(reserved)
                .into_iter()
                .map(|c| {
                    assert!(c.property("no-map").is_some(), "{what}: {}", c.name);
                    let r = reg(c);
                    assert_eq!(r.len(), 1);
                    (c.name.to_string(), r[0])
                })
                .collect();
            got.sort_by_key(|g| g.1.base);
            assert_eq!(got, wanted, "{what}: reserved memory");
        }
    }
}

#[test]
fn every_cell_tree_matches_its_config() {
    let configs = all_configs();
    let mut trees = 0;
    let mut versions = Vec::new();
    for config in &configs {
        versions.push(config.platform.intc.version);
        for cell in &config.cells {
            for with_initrd in [false, true] {
                let boot = boot_info(cell, with_initrd);
                let dtb = gen_ok(config, cell, &boot);
                check_tree(config, cell, &boot, &dtb);
                trees += 1;
            }
        }
    }
    assert!(versions.contains(&2) && versions.contains(&3));
    assert!(trees >= 20, "only {trees} trees checked");
}

#[test]
fn virtio_mmio_block_becomes_one_transport_per_interrupt() {
    let config = load_config(&workspace().join("tests/configs/qemu/entropy.toml"));
    let cell = config.cells.iter().find(|c| c.name == "entropy").unwrap();
    let dtb = gen_ok(&config, cell, &boot_info(cell, false));
    let fdt = Fdt::new(&dtb).unwrap();
    let transports: Vec<_> = children(root(&fdt))
        .into_iter()
        .filter(|c| c.name.starts_with("virtio_mmio@"))
        .collect();
    assert_eq!(transports.len(), 32);
    let last = fdt
        .find_node("/virtio_mmio@a003e00")
        .expect("the last slot");
    assert_eq!(reg(last), [Range::new(0x0a00_3e00, 0x200)]);
    assert_eq!(cells(last, "interrupts"), [0, 79 - 32, 1]);
}

#[test]
fn demo_cells_get_their_devices_and_channels() {
    let config = demo();
    let sensor = &config.cells[0];
    let fdt_bytes = gen_ok(&config, sensor, &boot_info(sensor, false));
    let fdt = Fdt::new(&fdt_bytes).unwrap();
    let names: Vec<&str> = children(root(&fdt)).iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "cpus",
            "psci",
            "memory@40000000",
            "intc@8000000",
            "timer",
            "apb-pclk",
            "pl011@9000000",
            "pl031@9010000",
            "reserved-memory",
            "chosen"
        ]
    );
    let rtc = fdt.find_node("/pl031@9010000").unwrap();
    assert_eq!(strings(rtc, "compatible"), ["arm,pl031", "arm,primecell"]);
    assert_eq!(strings(rtc, "clock-names"), ["apb_pclk"]);
    assert_eq!(cells(rtc, "interrupts"), [0, 2, 4]);
    assert!(
        fdt.find_node("/reserved-memory/telemetry@50000000")
            .is_some()
    );

    let control = &config.cells[1];
    let fdt_bytes = gen_ok(&config, control, &boot_info(control, false));
    let fdt = Fdt::new(&fdt_bytes).unwrap();
    assert_eq!(fdt.cpus().count(), 3);
    let gpio = fdt.find_node("/pl061@9030000").expect("the gpio node");
    assert!(gpio.property("gpio-controller").is_some());
    assert!(fdt.find_node("/pl031@9010000").is_none());
    let gic = fdt.find_node("/intc@8000000").unwrap();
    assert_eq!(reg(gic)[1], Range::new(0x080a_0000, 3 * 0x2_0000));
}

#[test]
fn passthrough_and_absent_consoles() {
    let mut config = demo();
    // A second PL011 the hypervisor does not use, passed through to cell 0.
    config.platform.devices.push(Device {
        name: "uart1".into(),
        compatible: "arm,pl011".into(),
        mmio: vec![Range::new(0x0904_0000, 0x1000)],
        irqs: vec![40],
        ports: Vec::new(),
        dma: false,
    });
    let uart1 = config.platform.devices.len() - 1;
    config.cells[0].devices.push(uart1);
    config.cells[0].console = CellConsole::Passthrough;
    config.cells[1].console = CellConsole::None;
    for cell in &config.cells {
        let boot = boot_info(cell, true);
        let dtb = gen_ok(&config, cell, &boot);
        check_tree(&config, cell, &boot, &dtb);
    }
    let cell = &config.cells[0];
    let dtb = gen_ok(&config, cell, &boot_info(cell, false));
    let fdt = Fdt::new(&dtb).unwrap();
    let stdout = fdt.chosen().stdout().unwrap();
    assert_eq!(stdout.name, "pl011@9040000");
    assert_eq!(strings(stdout, "clock-names"), ["uartclk", "apb_pclk"]);
    assert!(fdt.find_node("/pl011@9000000").is_none());

    // Passthrough without a UART is refused.
    config.cells[1].console = CellConsole::Passthrough;
    let err = generate(
        &config,
        &config.cells[1],
        &boot_info(&config.cells[1], false),
    )
    .unwrap_err();
    assert!(err.contains("owns no UART"), "{err}");
}

#[test]
fn impossible_trees_are_errors() {
    let config = demo();
    let cell = &config.cells[0];

    let mut no_ram = cell.clone();
    no_ram.memory.clear();
    let err = generate(&config, &no_ram, &boot_info(cell, false)).unwrap_err();
    assert!(
        err.contains("cell `sensor`") && err.contains("no RAM region"),
        "{err}"
    );

    let outside = BootInfo {
        bootargs: String::new(),
        initrd: Some(Range::new(0x8000_0000, 0x1000)),
    };
    let err = generate(&config, cell, &outside).unwrap_err();
    assert!(err.contains("initrd"), "{err}");

    let nul = BootInfo {
        bootargs: "a\0b".into(),
        initrd: None,
    };
    let err = generate(&config, cell, &nul).unwrap_err();
    assert!(err.contains("bootargs"), "{err}");

    // A channel end at the same address twice: two nodes, one name.
    let mut doubled = config.clone();
    let channel = doubled.channels[0].clone();
    doubled.channels.push(channel);
    let err = generate(&doubled, &doubled.cells[0], &boot_info(cell, false)).unwrap_err();
    assert!(err.contains("two nodes"), "{err}");

    // More vCPUs than the GICv3 redistributor region holds.
    let mut crowded = cell.clone();
    crowded.cpus = (0..200).collect();
    let err = generate(&config, &crowded, &boot_info(cell, false)).unwrap_err();
    assert!(err.contains("redistributor"), "{err}");
}

/// `dtc` decompiles every tree without a warning (skipped when `dtc` is not
/// installed, except in CI: `cargo xtask test` installs
/// `device-tree-compiler` as root).
#[test]
fn dtc_accepts_every_tree() {
    if Command::new("dtc").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "dtc is missing in CI: apt-get install device-tree-compiler"
        );
        eprintln!("dtc not found; skipping the dtc check");
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dtb");
    std::fs::create_dir_all(&dir).unwrap();
    for config in all_configs() {
        for cell in &config.cells {
            let dtb = gen_ok(&config, cell, &boot_info(cell, true));
            let path = dir.join(format!("{}-{}.dtb", config.name, cell.name));
            std::fs::write(&path, &dtb).unwrap();
            let out = Command::new("dtc")
                .args(["-I", "dtb", "-O", "dts", "-o", "-"])
                .arg(&path)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && stderr.trim().is_empty(),
                "dtc on {}: {}\n{stderr}",
                path.display(),
                out.status
            );
            let dts = String::from_utf8_lossy(&out.stdout);
            assert!(dts.contains(&format!("model = \"Bulkhead cell {}\"", cell.name)));
        }
    }
}
