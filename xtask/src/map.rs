//! `cargo xtask map CONFIG`: a picture of the partition (`map.svg`).
//!
//! Cores coloured by the cell that owns them; the host physical memory map
//! in address order (RAM banks, the hypervisor, each cell's regions with
//! their guest addresses, channels with every end, devices with their
//! owner, interrupt controller frames); each cell's interrupts; a legend.
//! Not to scale: rows, so that a 4 KiB device window and a 1 GiB bank are
//! both readable. Text is monospace with a known advance, so the layout
//! knows every label's box and [`Map::overlaps`] can check that none
//! overlaps another.

use std::fmt::Write as _;

use bulkhead_config::model::{Config, Range, human_size};

/// Width of the picture.
const WIDTH: f64 = 1100.0;
/// Font size of labels (monospace).
const FONT: f64 = 12.0;
/// Advance of one monospace character at [`FONT`] (0.6 em; generous for
/// DejaVu Sans Mono and Liberation Mono, 0.602 em).
const ADVANCE: f64 = 7.3;
/// Height of a row.
const ROW: f64 = 22.0;
/// Left margin.
const LEFT: f64 = 16.0;

/// Colours for cells, in cell order (then again).
const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
];
const HYPERVISOR: &str = "#404040";
const SHARED: &str = "#d4a6c8";
const FREE: &str = "#d0d0d0";

/// A label and where it is drawn (its box, from the font metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// The text.
    pub text: String,
    /// Left edge.
    pub x: f64,
    /// Baseline.
    pub y: f64,
}

impl Label {
    /// The label's box: left, top, right, bottom.
    pub fn bounds(&self) -> (f64, f64, f64, f64) {
        let width = self.text.chars().count() as f64 * ADVANCE;
        (self.x, self.y - FONT, self.x + width, self.y + 3.0)
    }
}

/// The picture: SVG text and the labels in it.
#[derive(Debug, Clone)]
pub struct Map {
    /// The SVG document.
    pub svg: String,
    /// Every label drawn.
    pub labels: Vec<Label>,
    /// Picture width and height.
    pub size: (f64, f64),
}

impl Map {
    /// Pairs of labels whose boxes overlap, and labels that leave the
    /// picture.
    pub fn overlaps(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (i, a) in self.labels.iter().enumerate() {
            let (l, t, r, b) = a.bounds();
            if l < 0.0 || t < 0.0 || r > self.size.0 || b > self.size.1 {
                problems.push(format!("`{}` leaves the picture", a.text));
            }
            for other in &self.labels[i + 1..] {
                let (l2, t2, r2, b2) = other.bounds();
                if l < r2 && l2 < r && t < b2 && t2 < b {
                    problems.push(format!("`{}` overlaps `{}`", a.text, other.text));
                }
            }
        }
        problems
    }
}

/// What a host memory row shows.
struct Row {
    range: Range,
    colour: &'static str,
    what: String,
    detail: String,
}

struct Svg {
    body: String,
    labels: Vec<Label>,
    y: f64,
}

impl Svg {
    fn text(&mut self, x: f64, y: f64, text: &str, extra: &str) {
        let _ = writeln!(
            self.body,
            r#"<text x="{x:.1}" y="{y:.1}"{extra}>{}</text>"#,
            escape(text)
        );
        self.labels.push(Label {
            text: text.to_string(),
            x,
            y,
        });
    }

    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str) {
        let _ = writeln!(
            self.body,
            r##"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" rx="3" fill="{fill}" stroke="#202020" stroke-width="0.5"/>"##
        );
    }

    fn heading(&mut self, text: &str) {
        self.y += ROW;
        self.text(LEFT, self.y, text, r#" font-weight="bold""#);
        self.y += 8.0;
    }
}

/// The cell colours: `PALETTE[cell % 8]`.
fn colour(cell: usize) -> &'static str {
    PALETTE[cell % PALETTE.len()]
}

/// Draws `config`'s partition.
pub fn render(config: &Config) -> Map {
    let p = &config.platform;
    let mut svg = Svg {
        body: String::new(),
        labels: Vec::new(),
        y: 8.0,
    };
    svg.y += ROW;
    svg.text(
        LEFT,
        svg.y,
        &format!(
            "{}: {} cells on {} ({:?}, {} CPUs)",
            config.name,
            config.cells.len(),
            p.name,
            p.arch,
            p.cpus.len()
        ),
        r#" font-weight="bold" font-size="15""#,
    );

    cores(&mut svg, config);
    memory(&mut svg, config);
    interrupts(&mut svg, config);
    legend(&mut svg, config);

    let height = svg.y;
    let document = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="DejaVu Sans Mono, Liberation Mono, monospace" font-size="{FONT}">
<rect width="100%" height="100%" fill="white"/>
{}</svg>
"#,
        svg.body
    );
    Map {
        svg: document,
        labels: svg.labels,
        size: (WIDTH, height),
    }
}

/// One box per core, in the owner's colour.
fn cores(svg: &mut Svg, config: &Config) {
    let p = &config.platform;
    svg.heading("Cores");
    let core_width = 120.0;
    let per_line = ((WIDTH - 2.0 * LEFT) / (core_width + 8.0)).floor().max(1.0) as usize;
    for (index, _) in p.cpus.iter().enumerate() {
        let (col, line) = (index % per_line, index / per_line);
        let x = LEFT + col as f64 * (core_width + 8.0);
        let y = svg.y + line as f64 * (ROW + 6.0);
        let owner = config.cell_of_cpu(index as u32);
        let fill = owner.map_or(FREE, |c| colour(c.id));
        svg.rect(x, y, core_width, ROW, fill);
        let name = owner.map_or("free".to_string(), |c| c.name.clone());
        let label = fit(&format!("cpu {index}: {name}"), core_width - 8.0);
        svg.text(x + 4.0, y + 15.0, &label, &text_colour(owner.is_some()));
    }
    svg.y += p.cpus.len().div_ceil(per_line) as f64 * (ROW + 6.0);
}

/// The host memory rows, in address order.
fn memory(svg: &mut Svg, config: &Config) {
    svg.heading("Host physical memory (not to scale)");
    let rows = memory_rows(config);
    let address_width = 40.0 * ADVANCE;
    for row in &rows {
        let address = format!(
            "{:#012x}..{:#012x} {:>8}",
            row.range.base,
            row.range.end(),
            human_size(row.range.size)
        );
        svg.text(LEFT, svg.y + 15.0, &address, "");
        let bar_x = LEFT + address_width + 8.0;
        let bar_w = 26.0 * ADVANCE;
        svg.rect(bar_x, svg.y + 2.0, bar_w, ROW - 4.0, row.colour);
        svg.text(
            bar_x + 4.0,
            svg.y + 15.0,
            &fit(&row.what, bar_w - 8.0),
            &text_colour(row.colour != FREE),
        );
        let detail_x = bar_x + bar_w + 8.0;
        svg.text(
            detail_x,
            svg.y + 15.0,
            &fit(&row.detail, WIDTH - detail_x - LEFT),
            "",
        );
        svg.y += ROW;
    }
}

/// Each cell's interrupts.
fn interrupts(svg: &mut Svg, config: &Config) {
    svg.heading("Interrupts");
    for cell in &config.cells {
        svg.rect(LEFT, svg.y + 4.0, 12.0, 12.0, colour(cell.id));
        let irqs: Vec<String> = cell.irqs.iter().map(u32::to_string).collect();
        let text = format!(
            "{}: {}",
            cell.name,
            if irqs.is_empty() {
                "none".to_string()
            } else {
                irqs.join(", ")
            }
        );
        svg.text(
            LEFT + 20.0,
            svg.y + 15.0,
            &fit(&text, WIDTH - 2.0 * LEFT - 20.0),
            "",
        );
        svg.y += ROW;
    }
}

/// What the colours mean.
fn legend(svg: &mut Svg, config: &Config) {
    svg.heading("Legend");
    let mut entries: Vec<(String, &str)> = config
        .cells
        .iter()
        .map(|c| (format!("cell {}", c.name), colour(c.id)))
        .collect();
    entries.push(("hypervisor".into(), HYPERVISOR));
    entries.push(("channel (shared)".into(), SHARED));
    entries.push(("unassigned".into(), FREE));
    let mut x = LEFT;
    for (text, fill) in entries {
        let width = 20.0 + text.chars().count() as f64 * ADVANCE + 16.0;
        if x + width > WIDTH - LEFT {
            x = LEFT;
            svg.y += ROW;
        }
        svg.rect(x, svg.y + 4.0, 12.0, 12.0, fill);
        svg.text(x + 18.0, svg.y + 15.0, &text, "");
        x += width;
    }
    svg.y += ROW + 8.0;
}

/// White text on a cell's colour, black on grey.
fn text_colour(on_colour: bool) -> String {
    if on_colour {
        r##" fill="#ffffff""##.into()
    } else {
        String::new()
    }
}

/// `text`, cut with `...` to fit `width`.
fn fit(text: &str, width: f64) -> String {
    let max = (width / ADVANCE).floor().max(3.0) as usize;
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 3).collect();
    cut.push_str("...");
    cut
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The host memory rows: RAM banks' free parts are implied by the gaps;
/// shown are the hypervisor, every cell region (RAM and device windows),
/// channels, platform devices and interrupt controller frames.
fn memory_rows(config: &Config) -> Vec<Row> {
    let p = &config.platform;
    let mut rows = Vec::new();
    for (i, bank) in p.ram.iter().enumerate() {
        rows.push(Row {
            range: *bank,
            colour: FREE,
            what: format!("RAM bank {i}"),
            detail: "the rows below inside it are taken".into(),
        });
    }
    rows.push(Row {
        range: config.hypervisor.memory,
        colour: HYPERVISOR,
        what: "hypervisor".into(),
        detail: "code, tables, stacks, pristine images".into(),
    });
    for cell in &config.cells {
        for region in &cell.memory {
            let what = match region.device {
                Some(device) => format!("{}: {}", cell.name, p.devices[device].name),
                None => format!("{}: RAM", cell.name),
            };
            rows.push(Row {
                range: Range {
                    base: region.hpa,
                    size: region.size,
                },
                colour: colour(cell.id),
                what,
                detail: format!("guest {:#x} {}", region.gpa, region.perm),
            });
        }
    }
    for channel in &config.channels {
        let ends: Vec<String> = channel
            .ends
            .iter()
            .map(|end| {
                let name = config.cells.get(end.cell).map_or("?", |c| c.name.as_str());
                format!("{name} @{:#x} {}", end.gpa, end.perm)
            })
            .collect();
        rows.push(Row {
            range: channel.memory,
            colour: SHARED,
            what: format!("channel {}", channel.name),
            detail: ends.join(", "),
        });
    }
    for (index, device) in p.devices.iter().enumerate() {
        let owner = config.cells.iter().find(|c| c.devices.contains(&index));
        let (colour_of, owner_text) = if index == config.hypervisor.console {
            (HYPERVISOR, "hypervisor console".to_string())
        } else if let Some(cell) = owner {
            (colour(cell.id), format!("passed through to {}", cell.name))
        } else {
            (FREE, "not assigned".to_string())
        };
        let irqs: Vec<String> = device.irqs.iter().map(u32::to_string).collect();
        for mmio in &device.mmio {
            rows.push(Row {
                range: *mmio,
                colour: colour_of,
                what: format!("device {}", device.name),
                detail: if irqs.is_empty() {
                    owner_text.clone()
                } else {
                    format!("{owner_text}; irq {}", irqs.join(", "))
                },
            });
        }
    }
    let intc = &p.intc;
    for (name, frame) in [
        ("GIC distributor", intc.distributor),
        ("GIC redistributors", intc.redistributor),
        ("GIC CPU interface", intc.cpu_interface),
        ("GIC virtual control", intc.virtual_control),
        ("GIC virtual CPU", intc.virtual_cpu),
        ("GIC ITS", intc.its),
        ("I/O APIC", intc.io_apic),
    ] {
        if let Some(range) = frame {
            rows.push(Row {
                range,
                colour: HYPERVISOR,
                what: name.into(),
                detail: "the hypervisor's".into(),
            });
        }
    }
    rows.sort_by_key(|row| (row.range.base, std::cmp::Reverse(row.range.size)));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_cuts_long_text() {
        assert_eq!(fit("short", 100.0), "short");
        let cut = fit(&"x".repeat(50), 10.0 * ADVANCE);
        assert_eq!(cut, "xxxxxxx...");
    }

    #[test]
    fn overlapping_labels_are_found() {
        let label = |text: &str, x: f64, y: f64| Label {
            text: text.into(),
            x,
            y,
        };
        let map = Map {
            svg: String::new(),
            labels: vec![
                label("alpha", 10.0, 20.0),
                label("beta", 10.0 + 4.0 * ADVANCE, 20.0),
                label("gamma", 10.0, 20.0 + ROW),
                label("wide", 95.0, 60.0),
            ],
            size: (100.0, 100.0),
        };
        assert_eq!(
            map.overlaps(),
            ["`alpha` overlaps `beta`", "`wide` leaves the picture"]
        );
    }
}
