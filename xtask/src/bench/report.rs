//! The bench's outputs: a markdown table with the targets pywasm is held to, and a PNG chart.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;

use super::calls::CallFigures;
use super::measure::Stats;
use super::targets;
use super::versions::VersionRow;

/// One line of the results: an app built or run one way.
#[derive(Clone, Debug, Default)]
pub struct Row {
    pub app: String,
    pub what: String,
    pub size: Option<u64>,
    pub gzip: Option<u64>,
    pub build_cold: Option<Duration>,
    pub build_warm: Option<Duration>,
    pub wasmtime_precompiled: Option<Stats>,
    pub wasmtime_compiling: Option<Stats>,
    pub node: Option<Stats>,
    /// From a fresh instance of the precompiled module to its exit, in an embedding
    /// (`embed::command`).
    pub embedded: Option<Stats>,
    /// Linear memory in 64 KiB pages: at instantiation, and at the run's end (its peak).
    pub linear: Option<(u64, u64)>,
    /// A native run (no WebAssembly).
    pub native: Option<Stats>,
    pub note: Option<String>,
}

pub struct Environment {
    pub runs: usize,
    pub wasmtime: String,
    pub node: String,
    pub native: String,
    pub cpu: String,
}

pub fn write(
    dir: &Path,
    rows: &[Row],
    (calls, versions): (&CallFigures, &[VersionRow]),
    env: &Environment,
) -> Result<()> {
    fs_err::create_dir_all(dir)?;
    let targets = targets::collect(rows, calls);
    let mut text = markdown(rows, env);
    text.push_str(&targets::markdown(&targets));
    text.push_str(&calls_markdown(calls));
    text.push_str(&super::versions::markdown(versions));
    pywasm_core::fsutil::atomic_write(&dir.join("results.md"), text.as_bytes())?;
    register_font()?;
    let staging = dir.join(".chart.tmp.png");
    draw_chart(&staging, rows).context("cannot draw the chart")?;
    fs_err::rename(&staging, dir.join("chart.png"))?;
    targets::chart(&staging, &targets).context("cannot draw the targets' chart")?;
    fs_err::rename(&staging, dir.join("targets.png"))?;
    Ok(())
}

/// Per-call cost on a live instance, in microseconds, and the library-modules issue's targets:
/// 5 µs for an empty call in wasmtime, and a UDF within a database engine's 256 pages.
fn calls_markdown(figures: &CallFigures) -> String {
    let us = |d: Duration| format!("{:.1} µs", d.as_secs_f64() * 1e6);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## Calls into a library module\n\n`examples/udf` built by pywasm (defaults), one \
         live instance, each call made {} times after a warm-up; native CPython runs the same \
         functions through the same Python side of the ABI (docs/abi.md). Instantiating the \
         compiled module to the first result (wasmtime, a fresh instance each time): {}. Linear memory: {} pages ({:.1} \
         MiB) at the start, {} pages ({:.1} MiB) after every call.\n",
        figures.repeat,
        figures.first_result.cell(),
        figures.initial_pages,
        figures.initial_pages as f64 / 16.0,
        figures.peak_pages,
        figures.peak_pages as f64 / 16.0
    );
    let _ = writeln!(
        out,
        "| call | argument | wasmtime | wazero | native CPython |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|");
    for row in &figures.rows {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            row.call,
            row.argument,
            us(row.wasmtime),
            us(row.wazero),
            us(row.native)
        );
    }
    let yes = |met: bool| if met { "yes" } else { "**no**" };
    let _ = writeln!(out, "\n| target | measured | met |\n|---|---|---|");
    if let Some(noop) = figures.rows.iter().find(|r| r.call == "noop") {
        let _ = writeln!(
            out,
            "| an empty call in wasmtime ≤ 5 µs | {} | {} |",
            us(noop.wasmtime),
            yes(noop.wasmtime <= Duration::from_micros(5))
        );
    }
    let _ = writeln!(
        out,
        "| examples/udf's linear memory ≤ 256 pages (16 MiB) after every call | {} pages | {} |",
        figures.peak_pages,
        yes(figures.peak_pages <= 256)
    );
    out
}

fn markdown(rows: &[Row], env: &Environment) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# pywasm benchmarks\n\nWritten by `cargo xtask bench`. Machine: {}. Runtimes: {}, node {}, \
         native {}. Start-up is wall-clock time from spawning the runtime to its exit, median \
         (min–max) of n runs after one warm-up run; every run's output is checked against native \
         CPython's. \"precompiled\" runs a `wasmtime compile` output; \"compiling\" runs the \
         `.wasm` with wasmtime's cache off; node compiles on every run. Peak memory is the \
         runtime process's maximum resident set (wasmtime, precompiled). Cold builds start from \
         empty pywasm caches with the SDK and wheels already fetched; a warm build is the \
         median of {} rebuilds, each after a one-line change to the app. n = {} unless shown.\n",
        env.cpu,
        env.wasmtime,
        env.node,
        env.native,
        super::rows::WARM_BUILDS,
        env.runs
    );
    let _ = writeln!(
        out,
        "| app | built / run by | size | gzip -9 | cold build | warm build | start: wasmtime precompiled (native: plain run) | start: wasmtime compiling | start: node | peak memory | note |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for row in rows {
        let own = row.wasmtime_precompiled.as_ref().or(row.native.as_ref());
        let start = own.map(Stats::cell);
        let memory = own.map(|s| format!("{:.1} MiB", s.max_rss_kib as f64 / 1024.0));
        let cells = [
            row.app.clone(),
            row.what.clone(),
            opt(row.size.map(mib)),
            opt(row.gzip.map(mib)),
            opt(row.build_cold.map(secs)),
            opt(row.build_warm.map(secs)),
            opt(start),
            opt(row.wasmtime_compiling.as_ref().map(Stats::cell)),
            opt(row.node.as_ref().map(Stats::cell)),
            opt(memory),
            row.note.clone().unwrap_or_default(),
        ];
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push_str("\n![start-up and size](chart.png)\n\n");
    out
}

fn opt(cell: Option<String>) -> String {
    cell.unwrap_or_else(|| "—".into())
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Two panels: start-up (wasmtime precompiled, or native) and module size, one bar per row.
fn draw_chart(path: &Path, rows: &[Row]) -> Result<()> {
    let starts: Vec<(String, f64)> = rows
        .iter()
        .filter_map(|r| {
            let stats = r.wasmtime_precompiled.as_ref().or(r.native.as_ref())?;
            Some((label(r), stats.median.as_secs_f64() * 1000.0))
        })
        .collect();
    let sizes: Vec<(String, f64)> = rows
        .iter()
        .filter_map(|r| Some((label(r), r.size? as f64 / 1e6)))
        .collect();
    let root = BitMapBackend::new(path, (1600, 90 + 34 * starts.len().max(sizes.len()) as u32))
        .into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let (left, right) = root.split_horizontally(800);
    bars(
        &left,
        "start-up, wasmtime precompiled or native (ms)",
        &starts,
        360,
    )?;
    bars(&right, "module size (MB)", &sizes, 360)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

fn bars(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    caption: &str,
    values: &[(String, f64)],
    label_width: u32,
) -> Result<()> {
    let max = values.iter().map(|(_, v)| *v).fold(0.0, f64::max) * 1.15 + 1e-9;
    let n = values.len() as i32;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(label_width)
        .build_cartesian_2d(0.0..max, (0..n).into_segmented())
        .map_err(plot_error)?;
    let names: Vec<String> = values.iter().map(|(l, _)| l.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(values.len())
        .y_label_formatter(&|y| match y {
            SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(plot_error)?;
    chart
        .draw_series(values.iter().enumerate().map(|(i, (_, v))| {
            let i = i as i32;
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(i)),
                    (*v, SegmentValue::Exact(i + 1)),
                ],
                RGBColor(52, 101, 164).filled(),
            );
            bar.set_margin(5, 5, 0, 0);
            bar
        }))
        .map_err(plot_error)?;
    chart
        .draw_series(values.iter().enumerate().map(|(i, (_, v))| {
            Text::new(
                format!("{v:.1}"),
                (*v, SegmentValue::CenterOf(i as i32)),
                ("sans-serif", 13),
            )
        }))
        .map_err(plot_error)?;
    Ok(())
}

fn label(row: &Row) -> String {
    format!("{}: {}", row.app, row.what)
}

/// plotters draws text with a TrueType font it is given; the machine's own is used.
fn register_font() -> Result<()> {
    const CANDIDATES: &[&str] = &[
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/System/Library/Fonts/Supplemental/Arial.ttf",
        "/Library/Fonts/Arial.ttf",
    ];
    let path = CANDIDATES
        .iter()
        .find(|p| Path::new(p).is_file())
        .ok_or_else(|| {
            anyhow!("no TrueType font found for the chart (looked for DejaVu Sans and Arial); install fonts-dejavu")
        })?;
    let bytes: &'static [u8] = Box::leak(fs_err::read(path)?.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("`{path}` is not a usable TrueType font"))?;
    Ok(())
}

pub(super) fn plot_error<E: std::fmt::Debug>(err: E) -> anyhow::Error {
    anyhow!("{err:?}")
}
