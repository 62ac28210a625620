//! What a call costs on a live instance of a library module (docs/abi.md): `examples/udf`'s
//! empty call, 1 KiB str echo and JSON record with a host lookup, in wasmtime (this process) and
//! wazero (`examples/hosts/go -bench`), beside the same functions called natively through the
//! same Python side of the ABI; and the time from instantiating a compiled module to its first
//! result.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use pywasm_core::Shell;
use pywasm_core::process::run;
use pywasm_tests::library::{self, WasmtimeLibrary};

use super::measure::Stats;

/// One kind of call, measured on each runtime (time per call).
pub struct CallRow {
    pub call: &'static str,
    pub argument: &'static str,
    pub wasmtime: Duration,
    pub wazero: Duration,
    pub native: Duration,
}

pub struct CallFigures {
    pub rows: Vec<CallRow>,
    /// From a compiled module to the first call's result: instantiate, `_initialize`, `noop`
    /// (a fresh store and instance per run).
    pub first_result: Stats,
    /// The module's initial linear memory, in 64 KiB pages.
    pub initial_pages: u64,
    /// Its linear memory after every call of the bench (wasmtime), in pages.
    pub peak_pages: u64,
    pub repeat: usize,
}

const RECORD: &str = r#"{"id": 7, "name": "widget", "amount": 12.5, "tags": ["priority", "eu"]}"#;

fn calls() -> [(&'static str, &'static str, Vec<u8>); 3] {
    [
        ("noop", "none", Vec::new()),
        ("echo", "1 KiB str", vec![b'x'; 1024]),
        (
            "score",
            "JSON record, 1 host call",
            RECORD.as_bytes().to_vec(),
        ),
    ]
}

pub fn measure(
    shell: &Shell,
    pywasm: &Path,
    repo: &Path,
    work: &Path,
    repeat: usize,
    runs: usize,
) -> Result<CallFigures> {
    let project = work.join("udf");
    super::copy_project(&repo.join("examples/udf"), &project)?;
    let wasm = work.join("udf.wasm");
    let mut build = Command::new(pywasm);
    build.args(["build", "-q", "-o"]).arg(&wasm).arg(&project);
    run(shell, "build examples/udf", &mut build)?;

    let first_result = super::embed::first_result(&wasm, "noop", runs)?;
    let (wasmtime, peak_pages) = wasmtime_timings(&wasm, repeat)?;
    let wazero = wazero_timings(shell, work, &wasm, repeat)?;
    let native = native_timings(work, &project, repeat)?;
    let nanos = |map: &BTreeMap<String, u64>, name: &str| -> Result<Duration> {
        map.get(name)
            .map(|n| Duration::from_nanos(*n))
            .with_context(|| format!("no timing for `{name}`"))
    };
    let mut rows = Vec::new();
    for (name, argument, _) in calls() {
        rows.push(CallRow {
            call: name,
            argument,
            wasmtime: wasmtime[name],
            wazero: nanos(&wazero, name)?,
            native: nanos(&native, name)?,
        });
    }
    Ok(CallFigures {
        rows,
        first_result,
        initial_pages: initial_pages(&fs_err::read(&wasm)?)?,
        peak_pages,
        repeat,
    })
}

/// Each call's time on one live instance of `wasm` in wasmtime (after a tenth as many warm-up
/// calls), and the instance's linear memory in pages after them all.
pub(super) fn wasmtime_timings(
    wasm: &Path,
    repeat: usize,
) -> Result<(BTreeMap<&'static str, Duration>, u64)> {
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::from_file(&engine, wasm).map_err(anyhow::Error::from)?;
    let mut library = WasmtimeLibrary::new(&engine, &module, None)?;
    let mut timings = BTreeMap::new();
    for (name, _, argument) in calls() {
        for _ in 0..repeat / 10 + 1 {
            library.call(name, &argument)?;
        }
        let start = Instant::now();
        for _ in 0..repeat {
            library.call(name, &argument)?;
        }
        timings.insert(name, start.elapsed() / repeat as u32);
    }
    Ok((timings, library.memory_pages()))
}

/// The calls as the hosts take them: export name and argument.
fn host_calls() -> Vec<(&'static str, Vec<u8>)> {
    calls()
        .into_iter()
        .map(|(name, _, argument)| (name, argument))
        .collect()
}

fn wazero_timings(
    shell: &Shell,
    work: &Path,
    wasm: &Path,
    repeat: usize,
) -> Result<BTreeMap<String, u64>> {
    let host = library::build_wazero_host(work)?;
    let file = work.join("udf-calls.json");
    library::write_calls(&host_calls(), &file)?;
    let mut cmd = Command::new(&host);
    cmd.arg("-bench")
        .arg(repeat.to_string())
        .arg(wasm)
        .arg(&file);
    let out = run(shell, "time the calls in wazero", &mut cmd)?;
    parse_timings(&out.stdout)
}

fn native_timings(work: &Path, project: &Path, repeat: usize) -> Result<BTreeMap<String, u64>> {
    let output = library::native_request(
        &[&project.join("src")],
        &[
            ("noop", "udf.rows:noop"),
            ("echo", "udf.rows:echo"),
            ("score", "udf.rows:score"),
        ],
        &["lookup"],
        &host_calls(),
        work,
        library::NativeMode::Timings(repeat),
    )
    .context("the native timing failed")?;
    parse_timings(output.as_bytes())
}

fn parse_timings(stdout: &[u8]) -> Result<BTreeMap<String, u64>> {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().last().context("no timings printed")?;
    serde_json::from_str(line).with_context(|| format!("not timings: {line}"))
}

/// The minimum size of the module's memory, from its memory section.
fn initial_pages(wasm: &[u8]) -> Result<u64> {
    match pywasm_core::module::describe::memory_layout(wasm)? {
        Some(layout) => Ok(layout.initial_pages),
        None => bail!("the module has no memory"),
    }
}
