//! The footprint issue's targets (issue 17): each with the figure it is judged by, the figure
//! from when the issue was filed, and a chart of both against the limit.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;

use super::calls::CallFigures;
use super::report::{Row, plot_error};

#[derive(Clone, Copy)]
enum Unit {
    Mb,
    Mib,
    Ms,
    Times,
    Seconds,
}

impl Unit {
    fn show(self, value: f64) -> String {
        match self {
            Unit::Mb => format!("{value:.2} MB"),
            Unit::Mib => format!("{value:.1} MiB"),
            Unit::Ms => format!("{value:.2} ms"),
            Unit::Times => format!("×{value:.2}"),
            Unit::Seconds => format!("{value:.2} s"),
        }
    }
}

pub struct Target {
    what: &'static str,
    limit: f64,
    unit: Unit,
    /// When the issue was filed: its own text (hello 9.8 MiB and 249 pages, hello in an
    /// embedding 3.5 ms against native's 10.5 ms, node 154 ms against its floor of 61.5 ms, a
    /// warm rebuild 1.97 s) and `bench/results.md` of that day (udf: 162 pages, 7.1 ms to the
    /// first result, one run). `None` where nothing measured it.
    before: Option<f64>,
    now: Option<f64>,
}

impl Target {
    fn met(&self) -> Option<bool> {
        self.now.map(|now| now <= self.limit)
    }
}

/// The targets, measured by this run.
pub fn collect(rows: &[Row], calls: &CallFigures) -> Vec<Target> {
    let find = |app: &str, what: &str| rows.iter().find(|r| r.app == app && r.what == what);
    let hello = find("hello", "pywasm (defaults)");
    let print_only = find("print-hello", "pywasm (defaults)");
    let lxml = find("lxml-app", "pywasm (defaults)");
    let native = rows.iter().find(|r| r.what.contains("print('hello')"));
    let floor = rows.iter().find(|r| r.app == "(floor)");
    let pages = |row: Option<&Row>, peak: bool| {
        row.and_then(|r| r.linear)
            .map(|(initial, last)| (if peak { last } else { initial }) as f64 / 16.0)
    };
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let embedded = hello
        .and_then(|r| r.embedded.as_ref())
        .map(|s| ms(s.median));
    let native_ms = native.and_then(|r| r.native.as_ref()).map(|s| ms(s.median));
    let node = hello.and_then(|r| r.node.as_ref()).map(|s| ms(s.median));
    let node_floor = floor.and_then(|r| r.node.as_ref()).map(|s| ms(s.median));
    let print_embedded = print_only
        .and_then(|r| r.embedded.as_ref())
        .map(|s| ms(s.median));
    let print_node = print_only
        .and_then(|r| r.node.as_ref())
        .map(|s| ms(s.median));
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
    vec![
        Target {
            what: "hello on disk, default settings ≤ 5 MB",
            limit: 5.0,
            unit: Unit::Mb,
            before: Some(9.8 * 1.048_576),
            now: hello.and_then(|r| r.size).map(|s| s as f64 / 1e6),
        },
        Target {
            what: "hello's initial linear memory ≤ 8 MiB",
            limit: 8.0,
            unit: Unit::Mib,
            before: Some(249.0 / 16.0),
            now: pages(hello, false),
        },
        Target {
            what: "hello's peak linear memory ≤ 10 MiB",
            limit: 10.0,
            unit: Unit::Mib,
            before: None,
            now: pages(hello, true),
        },
        Target {
            what: "examples/udf's peak linear memory ≤ 16 MiB",
            limit: 16.0,
            unit: Unit::Mib,
            before: Some(162.0 / 16.0),
            now: Some(calls.peak_pages as f64 / 16.0),
        },
        Target {
            what: "lxml-app's peak linear memory ≤ 24 MiB",
            limit: 24.0,
            unit: Unit::Mib,
            before: None,
            now: pages(lxml, true),
        },
        Target {
            what: "hello in an embedding, instance to exit ≤ 1 ms",
            limit: 1.0,
            unit: Unit::Ms,
            before: Some(3.5),
            now: embedded,
        },
        Target {
            what: "(pywasm's own share) an app that only prints, the same ≤ 1 ms",
            limit: 1.0,
            unit: Unit::Ms,
            before: None,
            now: print_embedded,
        },
        Target {
            what: "the same ≤ 0.1 × native `print('hello')`",
            limit: 0.1,
            unit: Unit::Times,
            before: Some(3.5 / 10.5),
            now: ratio(embedded, native_ms),
        },
        Target {
            what: "examples/udf, instance to first result ≤ 1 ms",
            limit: 1.0,
            unit: Unit::Ms,
            before: Some(7.1),
            now: Some(ms(calls.first_result.median)),
        },
        Target {
            what: "hello under node ≤ 1.5 × node's floor",
            limit: 1.5,
            unit: Unit::Times,
            before: Some(154.0 / 61.5),
            now: ratio(node, node_floor),
        },
        Target {
            what: "(pywasm's own share) an app that only prints, the same ≤ 1.5 ×",
            limit: 1.5,
            unit: Unit::Times,
            before: None,
            now: ratio(print_node, node_floor),
        },
        Target {
            what: "warm rebuild after a one-line change ≤ 1 s",
            limit: 1.0,
            unit: Unit::Seconds,
            before: Some(1.97),
            now: hello.and_then(|r| r.build_warm).map(|d| d.as_secs_f64()),
        },
    ]
}

/// The markdown table.
pub fn markdown(targets: &[Target]) -> String {
    let mut out = String::from(
        "## Targets\n\nThe footprint issue's targets. \"before\" is the figure when the issue was \
         filed (2026-12-04; — where nothing measured it). Embedding figures: wasmtime in this \
         process, the module compiled before timing, a fresh store and instance per run \
         (copy-on-write memory images); peak linear memory is the memory's size when the run \
         ends. The rows marked \"pywasm's own share\" hold `bench/print-hello`, an app that only \
         prints, to the limit of the row above them: what starting a module costs apart from \
         an app's own work (argparse's, in hello).\n\n| target | before | now | met |\n|---|---:|---:|---|\n",
    );
    for t in targets {
        let show = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| t.unit.show(v));
        let met = match t.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not measured",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {met} |",
            t.what,
            show(t.before),
            show(t.now)
        );
    }
    out.push_str("\n![each target: before and now, as a share of its limit](targets.png)\n");
    out
}

/// One pair of bars per target: before and now, each divided by the limit, with the limit (1.0)
/// drawn as a line; a bar left of it is a target met.
pub fn chart(path: &Path, targets: &[Target]) -> Result<()> {
    let shares: Vec<(Option<f64>, Option<f64>)> = targets
        .iter()
        .map(|t| (t.before.map(|b| b / t.limit), t.now.map(|n| n / t.limit)))
        .collect();
    let max = shares
        .iter()
        .flat_map(|(b, n)| [b.unwrap_or(0.0), n.unwrap_or(0.0)])
        .fold(1.0, f64::max)
        * 1.15;
    let n = targets.len() as i32;
    let root = BitMapBackend::new(path, (1200, 90 + 44 * n as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "targets: before (grey) and now (blue), as a share of the limit",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(440)
        .build_cartesian_2d(0.0..max, (0..n).into_segmented())
        .map_err(plot_error)?;
    let names: Vec<&str> = targets.iter().map(|t| t.what).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(targets.len())
        .y_label_formatter(&|y| match y {
            SegmentValue::CenterOf(i) => names.get(*i as usize).copied().unwrap_or("").into(),
            _ => String::new(),
        })
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(plot_error)?;
    let bar = |i: usize, value: f64, upper: bool, color: RGBColor| {
        let i = i as i32;
        let mut bar = Rectangle::new(
            [
                (0.0, SegmentValue::Exact(i)),
                (value, SegmentValue::Exact(i + 1)),
            ],
            color.filled(),
        );
        // The segment's lower half holds "before", the upper half "now".
        if upper {
            bar.set_margin(4, 22, 0, 0);
        } else {
            bar.set_margin(22, 4, 0, 0);
        }
        bar
    };
    let grey = RGBColor(170, 170, 170);
    let blue = RGBColor(52, 101, 164);
    chart
        .draw_series(
            shares
                .iter()
                .enumerate()
                .filter_map(|(i, (before, _))| before.map(|b| bar(i, b, false, grey))),
        )
        .map_err(plot_error)?;
    chart
        .draw_series(
            shares
                .iter()
                .enumerate()
                .filter_map(|(i, (_, now))| now.map(|v| bar(i, v, true, blue))),
        )
        .map_err(plot_error)?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Exact(n))],
            RED.stroke_width(2),
        )))
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}
