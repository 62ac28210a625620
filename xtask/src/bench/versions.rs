//! One row per pinned CPython version, so that the choice of the default is visible: the
//! default is the newest version without a size or start-up regression over 10% (see the
//! README's "CPython versions"). hello and print-hello are built with `--python`, each run
//! checked against native CPython of the same version, and examples/udf's calls are timed on a
//! live instance.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use pywasm_core::Shell;
use pywasm_core::process::run;
use pywasm_core::sdk::pins::Pins;

use super::measure::{Run, Stats, run_once};
use super::{App, Tools, calls, copy_project, embed, rows, same_as};

/// One CPython version's figures.
pub struct VersionRow {
    /// `3.13.5`.
    pub version: String,
    pub is_default: bool,
    pub hello_size: u64,
    pub print_size: u64,
    /// hello in the wasmtime CLI, precompiled.
    pub hello_start: Stats,
    /// print-hello from a fresh instance to its exit, in an embedding.
    pub print_embedded: Stats,
    /// examples/udf from a fresh instance to its first result.
    pub first_result: Stats,
    /// examples/udf's calls on a live instance in wasmtime: the empty call, the 1 KiB echo, the
    /// JSON record.
    pub calls: [Duration; 3],
}

/// The versions a run measures: every pinned one, or only the default for the smoke run (the
/// others are still being built in the background when CI's smoke run comes).
pub fn versions(smoke: bool) -> Result<Vec<String>> {
    let pins = Pins::load(&crate::default_pins())?;
    Ok(if smoke {
        vec![pins.default_python.clone()]
    } else {
        pins.pythons.keys().cloned().collect()
    })
}

/// Measures `hello` and `print-hello` (in `apps`) and examples/udf built for each of
/// `versions`; their SDKs are fetched (or built) first. The start-up runs are interleaved, one
/// run of every version per round, so that a change in the machine's load while the bench runs
/// falls on every version alike instead of on whichever was measured then.
pub fn measure(
    shell: &Shell,
    tools: &Tools,
    apps: &[&App],
    versions: &[String],
    (runs, repeat): (usize, usize),
) -> Result<Vec<VersionRow>> {
    let [hello, print] = apps else {
        anyhow::bail!("the version rows measure hello and print-hello");
    };
    let prepared = versions
        .iter()
        .map(|minor| prepare(shell, tools, [hello, print], minor, repeat))
        .collect::<Result<Vec<_>>>()?;
    shell.status(
        "Measuring",
        &format!("start-up of every version, {runs} rounds"),
    );
    let mut samples = vec![[Vec::new(), Vec::new(), Vec::new()]; prepared.len()];
    for round in 0..=runs {
        for (version, walls) in prepared.iter().zip(&mut samples) {
            let mut cmd = tools.wasmtime_run();
            cmd.arg("--allow-precompiled")
                .args(["--argv0", hello.name])
                .arg(&version.hello_cwasm)
                .args(hello.args);
            let run = run_once(&mut cmd, b"")?;
            same_as(&version.hello_expected, &run)
                .with_context(|| format!("hello on CPython {}", version.row.version))?;
            let (print_wall, _) = version.print.run()?;
            let first = version.udf.first_result()?;
            // Round 0 warms every cache up and is not counted.
            if round > 0 {
                walls[0].push(run.wall);
                walls[1].push(print_wall);
                walls[2].push(first);
            }
        }
    }
    Ok(prepared
        .into_iter()
        .zip(samples)
        .map(|(version, [hello, print, first])| VersionRow {
            hello_start: Stats::of_walls(&hello),
            print_embedded: Stats::of_walls(&print),
            first_result: Stats::of_walls(&first),
            ..version.row
        })
        .collect())
}

/// One version's modules, built, checked and compiled, ready for the interleaved start-up runs;
/// its sizes and call times already in `row`.
struct Prepared {
    row: VersionRow,
    hello_cwasm: PathBuf,
    hello_expected: Run,
    print: embed::Command,
    udf: embed::Library,
}

fn prepare(
    shell: &Shell,
    tools: &Tools,
    [hello, print]: [&App; 2],
    minor: &str,
    repeat: usize,
) -> Result<Prepared> {
    let pins = Pins::load(&crate::default_pins())?;
    shell.status(
        "Preparing",
        &format!("CPython {minor}: hello, print-hello, udf"),
    );
    let mut fetch = Command::new(&tools.pywasm);
    fetch.args(["--quiet", "fetch-sdk", "--python", minor]);
    run(
        shell,
        &format!("fetch the SDK of CPython {minor}"),
        &mut fetch,
    )?;
    let python = native_python(tools, minor)?;
    let (hello_wasm, hello_expected) = build(shell, tools, hello, minor, &python)?;
    let (print_wasm, print_expected) = build(shell, tools, print, minor, &python)?;
    let udf_dir = crate::repo_root().join("examples/udf");
    let udf = build_copy(shell, tools, &udf_dir, "udf", minor)?;
    let (timings, _) = calls::wasmtime_timings(&udf, repeat)?;
    let call = |name: &str| {
        timings
            .get(name)
            .copied()
            .with_context(|| format!("no timing for `{name}`"))
    };
    let unmeasured = Stats::of_walls(&[]);
    Ok(Prepared {
        row: VersionRow {
            version: pins
                .pythons
                .get(minor)
                .map_or_else(|| minor.to_string(), |p| p.version.clone()),
            is_default: minor == pins.default_python,
            hello_size: fs_err::metadata(&hello_wasm)?.len(),
            print_size: fs_err::metadata(&print_wasm)?.len(),
            hello_start: unmeasured,
            print_embedded: unmeasured,
            first_result: unmeasured,
            calls: [call("noop")?, call("echo")?, call("score")?],
        },
        hello_cwasm: tools.precompile(&hello_wasm)?,
        hello_expected,
        print: embed::Command::new(&print_wasm, &[print.name], &print_expected)?,
        udf: embed::Library::new(&udf, "noop")?,
    })
}

/// Native CPython of `minor`: the host's (the other rows' yardstick) when it is that version, else the one
/// the SDK built beside CPython for WASI.
fn native_python(tools: &Tools, minor: &str) -> Result<PathBuf> {
    if tools.native_version.contains(&format!(" {minor}.")) {
        return Ok(tools.native.clone());
    }
    pywasm_tests::native_python_for(minor)
}

/// `app` built for `minor`, and what native CPython of that version prints for it.
fn build(
    shell: &Shell,
    tools: &Tools,
    app: &App,
    minor: &str,
    python: &Path,
) -> Result<(PathBuf, Run)> {
    let wasm = build_copy(shell, tools, &app.dir, app.name, minor)?;
    Ok((wasm, rows::native_output(python, tools, app)?))
}

/// The project at `dir` copied into the bench's work directory and built for `minor`; returns
/// the module, `<name>-python<minor>.wasm` there.
fn build_copy(
    shell: &Shell,
    tools: &Tools,
    dir: &Path,
    name: &str,
    minor: &str,
) -> Result<PathBuf> {
    let project = tools.work.path().join(format!("{name}-python{minor}"));
    copy_project(dir, &project)?;
    let wasm = tools.work.path().join(format!("{name}-python{minor}.wasm"));
    let mut build = Command::new(&tools.pywasm);
    build
        .args(["--quiet", "build", "--python", minor, "-o"])
        .arg(&wasm)
        .arg(&project);
    run(
        shell,
        &format!("build {name} for CPython {minor}"),
        &mut build,
    )?;
    Ok(wasm)
}

/// The section of results.md: a row per version, each compared with the default, and the
/// newest version within 10% of it in size and start-up.
pub fn markdown(rows: &[VersionRow]) -> String {
    use std::fmt::Write as _;
    let us = |d: Duration| format!("{:.1} µs", d.as_secs_f64() * 1e6);
    let mb = |bytes: u64| format!("{:.2} MB", bytes as f64 / 1e6);
    let mut out = String::from(
        "\n## CPython versions\n\nEach pinned CPython, built with `--python` (shared caches); \
         every run's output is checked against native CPython of the same version (the SDK's \
         own build of it for versions built from source). Start-up: hello in the wasmtime CLI, \
         precompiled; print-hello from a fresh instance to its exit in an embedding \
         (wasmtime); the versions' start-up runs are interleaved, one of each per round. Calls: examples/udf on one live instance in wasmtime. Against the \
         default: hello's size, and the larger change of the two start-up figures; a version \
         within 10% of the default in both may become the default.\n\n",
    );
    let _ = writeln!(
        out,
        "| CPython | hello size | print-hello size | hello start | print-hello, instance to exit | udf, instance to first result | empty call | 1 KiB echo | JSON record | against the default |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let default = rows.iter().find(|r| r.is_default);
    let mut within = Vec::new();
    for row in rows {
        let against = match default {
            Some(d) if !row.is_default => {
                let size = percent(row.hello_size as f64, d.hello_size as f64);
                let secs = |s: &Stats| s.median.as_secs_f64();
                // The larger change of the two start-up figures.
                let start = percent(secs(&row.hello_start), secs(&d.hello_start))
                    .max(percent(secs(&row.print_embedded), secs(&d.print_embedded)));
                let ok = size <= 10.0 && start <= 10.0;
                if ok {
                    within.push(row.version.as_str());
                }
                format!(
                    "size {size:+.1}%, start-up {start:+.1}%: {}",
                    if ok { "within 10%" } else { "**over 10%**" }
                )
            }
            _ => "(the default)".to_string(),
        };
        let cells = [
            if row.is_default {
                format!("**{}** (default)", row.version)
            } else {
                row.version.clone()
            },
            mb(row.hello_size),
            mb(row.print_size),
            row.hello_start.cell(),
            row.print_embedded.cell(),
            row.first_result.cell(),
            us(row.calls[0]),
            us(row.calls[1]),
            us(row.calls[2]),
            against,
        ];
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    if let Some(default) = default {
        let _ = writeln!(
            out,
            "\nWithin 10% of the default ({}): {}.",
            default.version,
            if within.is_empty() {
                "none".to_string()
            } else {
                within.join(", ")
            }
        );
    }
    out
}

/// How much larger `value` is than `base`, in percent.
fn percent(value: f64, base: f64) -> f64 {
    if base == 0.0 {
        0.0
    } else {
        (value / base - 1.0) * 100.0
    }
}
