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
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use pywasm_core::Shell;
use pywasm_core::process::run;
use pywasm_tests::library::WasmtimeLibrary;
use serde_json::json;

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
    /// From a compiled module to the first call's result: instantiate, `_initialize`, `noop`.
    pub first_result: Duration,
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
) -> Result<CallFigures> {
    let project = work.join("udf");
    super::copy_project(&repo.join("examples/udf"), &project)?;
    let wasm = work.join("udf.wasm");
    let mut build = Command::new(pywasm);
    build.args(["build", "-q", "-o"]).arg(&wasm).arg(&project);
    run(shell, "build examples/udf", &mut build)?;

    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::from_file(&engine, &wasm).map_err(anyhow::Error::from)?;
    let start = Instant::now();
    let mut library = WasmtimeLibrary::new(&engine, &module, None)?;
    library.call("noop", &[])?;
    let first_result = start.elapsed();

    let mut wasmtime = BTreeMap::new();
    for (name, _, argument) in calls() {
        for _ in 0..repeat / 10 + 1 {
            library.call(name, &argument)?;
        }
        let start = Instant::now();
        for _ in 0..repeat {
            library.call(name, &argument)?;
        }
        wasmtime.insert(name, start.elapsed() / repeat as u32);
    }
    let wazero = wazero_timings(shell, repo, work, &wasm, repeat)?;
    let native = native_timings(repo, work, &project, repeat)?;
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
        peak_pages: library.memory_pages(),
        repeat,
    })
}

fn calls_json(work: &Path) -> Result<std::path::PathBuf> {
    let list: Vec<_> = calls()
        .into_iter()
        .map(|(name, _, argument)| json!([name, B64.encode(argument)]))
        .collect();
    let file = work.join("udf-calls.json");
    fs_err::write(&file, serde_json::to_string(&list)?)?;
    Ok(file)
}

fn wazero_timings(
    shell: &Shell,
    repo: &Path,
    work: &Path,
    wasm: &Path,
    repeat: usize,
) -> Result<BTreeMap<String, u64>> {
    let host = work.join("wazero-host");
    let mut build = Command::new("go");
    build
        .args(["build", "-o"])
        .arg(&host)
        .arg(".")
        .current_dir(repo.join("examples/hosts/go"));
    run(shell, "build the wazero host", &mut build)?;
    let mut cmd = Command::new(&host);
    cmd.arg("-bench")
        .arg(repeat.to_string())
        .arg(wasm)
        .arg(calls_json(work)?);
    let out = run(shell, "time the calls in wazero", &mut cmd)?;
    parse_timings(&out.stdout)
}

fn native_timings(
    repo: &Path,
    work: &Path,
    project: &Path,
    repeat: usize,
) -> Result<BTreeMap<String, u64>> {
    let request = json!({
        "path": [repo.join("templates/guest"), project.join("src")],
        "exports": [["noop", "udf.rows:noop"], ["echo", "udf.rows:echo"], ["score", "udf.rows:score"]],
        "hosts": ["lookup"],
        "calls": serde_json::from_str::<serde_json::Value>(&fs_err::read_to_string(calls_json(work)?)?)?,
        "repeat": repeat,
    });
    let file = work.join("udf-native.json");
    fs_err::write(&file, request.to_string())?;
    let out = Command::new(pywasm_tests::native_python()?)
        .args(["-I", "-S", "-B"])
        .arg(repo.join("tests/support/library_native.py"))
        .arg(&file)
        .output()
        .context("failed to run native CPython")?;
    if !out.status.success() {
        bail!(
            "the native timing failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_timings(&out.stdout)
}

fn parse_timings(stdout: &[u8]) -> Result<BTreeMap<String, u64>> {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().last().context("no timings printed")?;
    serde_json::from_str(line).with_context(|| format!("not timings: {line}"))
}

/// The minimum size of the module's memory, from its memory section.
fn initial_pages(wasm: &[u8]) -> Result<u64> {
    match pywasm_core::describe::memory_layout(wasm)? {
        Some(layout) => Ok(layout.initial_pages),
        None => bail!("the module has no memory"),
    }
}
