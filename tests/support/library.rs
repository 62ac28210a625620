//! Hosts for library modules (docs/abi.md): wasmtime (the crate, here), node
//! (`examples/hosts/js/library.mjs`) and native CPython through pywasm's own Python side of the
//! ABI (`library_native.py`), each answering the host function `env.lookup` the same way.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use wasmtime::{Caller, Engine, Extern, Linker, Module, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::{node, repo};

/// One call's outcome: the result bytes, or the error text's first line (the exception).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Ok(Vec<u8>),
    Raised(String),
}

/// What `env.lookup` answers for `argument`, in every host.
pub fn lookup_answer(argument: &[u8]) -> Vec<u8> {
    json!({"len": argument.len(), "text": String::from_utf8_lossy(argument)})
        .to_string()
        .into_bytes()
}

fn pack(ptr: u32, len: u32) -> i64 {
    ((u64::from(ptr) << 32) | u64::from(len)) as i64
}

fn unpack(packed: i64) -> (usize, usize) {
    let packed = packed as u64;
    ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize)
}

/// One call's answer and the events it passed to the host function `host.emit`, in order.
pub type Emitted = (Answer, Vec<Vec<u8>>);

/// A library module instantiated once in wasmtime, `_initialize` called, ready for calls; the
/// host function `env.lookup` answers with [`lookup_answer`], `host.emit` keeps its event for
/// [`WasmtimeLibrary::take_events`].
pub struct WasmtimeLibrary {
    store: Store<Host>,
    instance: wasmtime::Instance,
    memory: wasmtime::Memory,
    alloc: wasmtime::TypedFunc<i32, i32>,
    free: wasmtime::TypedFunc<(i32, i32), ()>,
    error: wasmtime::TypedFunc<(), i64>,
    /// Each export looked up once, as a host keeps it.
    exports: std::collections::HashMap<String, wasmtime::TypedFunc<(i32, i32), i64>>,
    stdout: MemoryOutputPipe,
}

impl WasmtimeLibrary {
    /// `max_memory` caps the instance's linear memory in bytes.
    pub fn new(engine: &Engine, module: &Module, max_memory: Option<usize>) -> Result<Self> {
        let stdout = MemoryOutputPipe::new(1 << 20);
        let ctx = WasiCtxBuilder::new().stdout(stdout.clone()).build_p1();
        let limits = match max_memory {
            Some(bytes) => StoreLimitsBuilder::new().memory_size(bytes).build(),
            None => StoreLimits::default(),
        };
        let mut store = Store::new(
            engine,
            Host {
                ctx,
                limits,
                emitted: Vec::new(),
            },
        );
        store.limiter(|host| &mut host.limits);
        let mut linker: Linker<Host> = Linker::new(engine);
        p1::add_to_linker_sync(&mut linker, |host: &mut Host| &mut host.ctx)
            .map_err(anyhow::Error::from)?;
        linker
            .func_wrap("env", "lookup", lookup)
            .map_err(anyhow::Error::from)?
            .func_wrap("host", "emit", emit)
            .map_err(anyhow::Error::from)?;
        let instance = linker
            .instantiate(&mut store, module)
            .map_err(anyhow::Error::from)?;
        let initialize = instance
            .get_typed_func::<(), ()>(&mut store, "_initialize")
            .map_err(anyhow::Error::from)?;
        initialize
            .call(&mut store, ())
            .map_err(anyhow::Error::from)
            .context("_initialize")?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .context("no memory")?;
        let alloc = instance
            .get_typed_func(&mut store, "pywasm_alloc")
            .map_err(anyhow::Error::from)?;
        let free = instance
            .get_typed_func(&mut store, "pywasm_free")
            .map_err(anyhow::Error::from)?;
        let error = instance
            .get_typed_func(&mut store, "pywasm_error")
            .map_err(anyhow::Error::from)?;
        Ok(WasmtimeLibrary {
            store,
            instance,
            memory,
            alloc,
            free,
            error,
            exports: Default::default(),
            stdout,
        })
    }

    /// Calls export `name` with `argument` as docs/abi.md says; a trap is an error.
    pub fn call(&mut self, name: &str, argument: &[u8]) -> Result<Answer> {
        let store = &mut self.store;
        let export = match self.exports.get(name) {
            Some(export) => export.clone(),
            None => {
                let export = self
                    .instance
                    .get_typed_func::<(i32, i32), i64>(&mut *store, name)
                    .map_err(anyhow::Error::from)
                    .with_context(|| format!("no export `{name}`"))?;
                self.exports.insert(name.to_string(), export.clone());
                export
            }
        };
        let (ptr, len) = if argument.is_empty() {
            (0, 0)
        } else {
            let ptr = self.alloc.call(&mut *store, argument.len() as i32)?;
            self.memory.write(&mut *store, ptr as usize, argument)?;
            (ptr, argument.len() as i32)
        };
        let packed = export
            .call(&mut *store, (ptr, len))
            .map_err(anyhow::Error::from)
            .with_context(|| format!("calling `{name}` trapped"))?;
        if len > 0 {
            self.free.call(&mut *store, (ptr, len))?;
        }
        let (failed, packed) = if packed < 0 {
            (true, self.error.call(&mut *store, ())?)
        } else {
            (false, packed)
        };
        let (out, n) = unpack(packed);
        let mut bytes = vec![0u8; n];
        self.memory.read(&*store, out, &mut bytes)?;
        if n > 0 {
            self.free.call(&mut *store, (out as i32, n as i32))?;
        }
        Ok(if failed {
            Answer::Raised(first_line(&String::from_utf8_lossy(&bytes)))
        } else {
            Answer::Ok(bytes)
        })
    }

    /// The instance's linear memory in 64 KiB pages: its high-water mark, as memory only grows.
    pub fn memory_pages(&self) -> u64 {
        self.memory.size(&self.store)
    }

    /// The events passed to `host.emit` since the last time they were taken.
    pub fn take_events(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.store.data_mut().emitted)
    }

    /// What the module printed so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.contents()).into_owned()
    }
}

/// `host.emit`: keeps the event and answers nothing (an empty buffer, packed as 0).
fn emit(mut caller: Caller<'_, Host>, ptr: i32, len: i32) -> wasmtime::Result<i64> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        wasmtime::bail!("no memory export");
    };
    let mut event = vec![0u8; len as usize];
    memory.read(&caller, ptr as usize, &mut event)?;
    caller.data_mut().emitted.push(event);
    Ok(0)
}

/// `env.lookup`: reads the argument from guest memory and answers through `pywasm_alloc`.
fn lookup(mut caller: Caller<'_, Host>, ptr: i32, len: i32) -> wasmtime::Result<i64> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        wasmtime::bail!("no memory export");
    };
    let mut argument = vec![0u8; len as usize];
    memory.read(&caller, ptr as usize, &mut argument)?;
    let answer = lookup_answer(&argument);
    let alloc = caller
        .get_export("pywasm_alloc")
        .and_then(Extern::into_func)
        .ok_or_else(|| wasmtime::format_err!("no pywasm_alloc"))?
        .typed::<i32, i32>(&caller)?;
    let out = alloc.call(&mut caller, answer.len() as i32)?;
    memory.write(&mut caller, out as usize, &answer)?;
    Ok(pack(out as u32, answer.len() as u32))
}

/// Instantiates `wasm` once in wasmtime, calls `_initialize`, then every call in order. Returns
/// the answers and what the module printed.
pub fn call_in_wasmtime(
    wasm: &Path,
    calls: &[(&str, Vec<u8>)],
    max_memory: Option<usize>,
) -> Result<(Vec<Answer>, String)> {
    let (answers, printed) = events_in_wasmtime(wasm, calls, max_memory)?;
    Ok((without_events(answers), printed))
}

/// [`call_in_wasmtime`], with each call's events.
fn events_in_wasmtime(
    wasm: &Path,
    calls: &[(&str, Vec<u8>)],
    max_memory: Option<usize>,
) -> Result<(Vec<Emitted>, String)> {
    let engine = Engine::default();
    let module = Module::from_file(&engine, wasm).map_err(anyhow::Error::from)?;
    let mut library = WasmtimeLibrary::new(&engine, &module, max_memory)?;
    let answers = calls
        .iter()
        .map(|(name, argument)| Ok((library.call(name, argument)?, library.take_events())))
        .collect::<Result<Vec<_>>>()?;
    Ok((answers, library.stdout()))
}

fn without_events(answers: Vec<Emitted>) -> Vec<Answer> {
    answers.into_iter().map(|(answer, _)| answer).collect()
}

/// The store's data: WASI, the memory cap a test sets, and the events of the call running.
struct Host {
    ctx: WasiP1Ctx,
    limits: StoreLimits,
    emitted: Vec<Vec<u8>>,
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

fn calls_json(calls: &[(&str, Vec<u8>)]) -> Value {
    Value::Array(
        calls
            .iter()
            .map(|(name, argument)| json!([name, B64.encode(argument)]))
            .collect(),
    )
}

/// Writes `calls` as the hosts of `examples/hosts` read them: `[[name, base64], ...]`.
pub fn write_calls(calls: &[(&str, Vec<u8>)], file: &Path) -> Result<()> {
    fs_err::write(file, calls_json(calls).to_string())?;
    Ok(())
}

/// One call as the hosts print it: `[true, result as base64, events]` or `[false, error text,
/// events]`, the events (base64) left out where a host has none to tell.
#[derive(serde::Deserialize)]
struct Printed(bool, String, #[serde(default)] Vec<String>);

fn answers_with_events(output: &str) -> Result<Vec<Emitted>> {
    let line = output.lines().last().context("no output")?;
    let list: Vec<Printed> =
        serde_json::from_str(line).with_context(|| format!("not a list of answers: {line}"))?;
    list.into_iter()
        .map(|Printed(ok, value, events)| {
            let answer = if ok {
                Answer::Ok(B64.decode(value)?)
            } else {
                Answer::Raised(first_line(&value))
            };
            let events = events
                .iter()
                .map(|e| B64.decode(e))
                .collect::<Result<_, _>>()?;
            Ok((answer, events))
        })
        .collect()
}

/// The same calls through `examples/hosts/js/library.mjs` under node's WASI.
pub fn call_in_node(wasm: &Path, calls: &[(&str, Vec<u8>)], scratch: &Path) -> Result<Vec<Answer>> {
    Ok(without_events(events_in_node(wasm, calls, scratch)?))
}

fn events_in_node(wasm: &Path, calls: &[(&str, Vec<u8>)], scratch: &Path) -> Result<Vec<Emitted>> {
    let file = scratch.join("calls.json");
    write_calls(calls, &file)?;
    let out = Command::new(node()?)
        .arg("--no-warnings")
        .arg(repo().join("examples/hosts/js/library.mjs"))
        .arg(wasm)
        .arg(&file)
        .output()?;
    if !out.status.success() {
        bail!("node host failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    answers_with_events(&String::from_utf8_lossy(&out.stdout))
}

/// The Go toolchain from PATH, checked to be new enough for `examples/hosts/go/go.mod`.
pub(crate) fn go() -> Result<&'static str> {
    let out = Command::new("go")
        .arg("version")
        .output()
        .context("the wazero host needs Go 1.25 or newer on PATH")?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "go version go1.26.8 linux/amd64"
    let minor: u32 = text
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.strip_prefix("go1."))
        .and_then(|v| v.split('.').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if minor < 25 {
        bail!(
            "the wazero host needs Go 1.25 or newer, found `{}`",
            text.trim()
        );
    }
    Ok("go")
}

/// Each host's name with its answers to the same calls.
pub type EveryHost = [(&'static str, Vec<Answer>); 4];

/// Each host's name with its answers to the same calls and their events.
pub type EveryHostEvents = [(&'static str, Vec<Emitted>); 4];

/// The same calls on one instance in each host, wasmtime, node, wazero and wasmer (no limits),
/// each with its answers; and what the module printed under wasmtime.
pub fn call_on_every_host(
    wasm: &Path,
    calls: &[(&str, Vec<u8>)],
    scratch: &Path,
) -> Result<(EveryHost, String)> {
    let (hosts, printed) = events_on_every_host(wasm, calls, scratch)?;
    Ok((
        hosts.map(|(host, answers)| (host, without_events(answers))),
        printed,
    ))
}

/// [`call_on_every_host`], with the events each call passed to `host.emit` in each host.
pub fn events_on_every_host(
    wasm: &Path,
    calls: &[(&str, Vec<u8>)],
    scratch: &Path,
) -> Result<(EveryHostEvents, String)> {
    let (wasmtime, printed) = events_in_wasmtime(wasm, calls, None)?;
    let node = events_in_node(wasm, calls, scratch)?;
    let wazero = host_events(
        "wazero",
        &wazero_command(wasm, calls, WazeroLimits::default(), scratch)?.output()?,
    )?
    .0;
    let wasmer = host_events(
        "wasmer",
        &crate::wasmer::call_command(wasm, calls, None, scratch)?.output()?,
    )?
    .0;
    Ok((
        [
            ("wasmtime", wasmtime),
            ("node", node),
            ("wazero", wazero),
            ("wasmer", wasmer),
        ],
        printed,
    ))
}

/// Builds `examples/hosts/go` into `scratch`; returns the program's path.
pub fn build_wazero_host(scratch: &Path) -> Result<PathBuf> {
    let host = scratch.join("wazero-host");
    let built = Command::new(go()?)
        .args(["build", "-o"])
        .arg(&host)
        .arg(".")
        .current_dir(repo().join("examples/hosts/go"))
        .output()?;
    if !built.status.success() {
        bail!(
            "go build failed: {}",
            String::from_utf8_lossy(&built.stderr)
        );
    }
    Ok(host)
}

/// The limits a database engine sets on a UDF's instance, as `examples/hosts/go` takes them.
#[derive(Clone, Copy, Debug, Default)]
pub struct WazeroLimits {
    /// The instance's memory cap, in 64 KiB pages.
    pub max_pages: Option<u32>,
    /// How long one call may run before wazero stops it and closes the instance.
    pub timeout: Option<std::time::Duration>,
}

/// The same calls through `examples/hosts/go` (wazero) under `limits`; also returns the
/// instance's memory in pages after the last call (its high-water mark: linear memory only
/// grows).
pub fn call_in_wazero(
    wasm: &Path,
    calls: &[(&str, Vec<u8>)],
    limits: WazeroLimits,
    scratch: &Path,
) -> Result<(Vec<Answer>, u32)> {
    host_answers(
        "wazero",
        &wazero_command(wasm, calls, limits, scratch)?.output()?,
    )
}

/// The command that makes `calls` through `examples/hosts/go` under `limits`.
fn wazero_command(
    wasm: &Path,
    calls: &[(&str, Vec<u8>)],
    limits: WazeroLimits,
    scratch: &Path,
) -> Result<Command> {
    let host = build_wazero_host(scratch)?;
    let file = scratch.join("calls.json");
    write_calls(calls, &file)?;
    let mut cmd = Command::new(&host);
    if let Some(pages) = limits.max_pages {
        cmd.arg("-max-pages").arg(pages.to_string());
    }
    if let Some(timeout) = limits.timeout {
        cmd.arg("-timeout")
            .arg(format!("{}ms", timeout.as_millis()));
    }
    cmd.arg(wasm).arg(&file);
    Ok(cmd)
}

/// What a calls host (`examples/hosts/go`, `examples/hosts/wasmer`) printed: its answers, and
/// the instance's memory in pages from its last `memory: N pages` line on stderr (after
/// anything the guest wrote there).
pub(crate) fn host_answers(host: &str, out: &std::process::Output) -> Result<(Vec<Answer>, u32)> {
    let (answers, pages) = host_events(host, out)?;
    Ok((without_events(answers), pages))
}

/// [`host_answers`], with each call's events.
fn host_events(host: &str, out: &std::process::Output) -> Result<(Vec<Emitted>, u32)> {
    if !out.status.success() {
        bail!(
            "the {host} host failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let pages = stderr
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("memory: ")?.strip_suffix(" pages"))
        .with_context(|| format!("the {host} host reported no memory size: {stderr}"))?
        .parse()?;
    Ok((
        answers_with_events(&String::from_utf8_lossy(&out.stdout))?,
        pages,
    ))
}

/// The same calls under native CPython, through pywasm's Python side of the ABI.
pub fn call_natively(
    path: &[&Path],
    exports: &[(&str, &str)],
    hosts: &[&str],
    calls: &[(&str, Vec<u8>)],
    scratch: &Path,
) -> Result<Vec<Answer>> {
    Ok(without_events(call_natively_with_events(
        path, exports, hosts, calls, scratch,
    )?))
}

/// [`call_natively`] in the given native CPython.
pub fn call_natively_in(
    python: &Path,
    path: &[&Path],
    exports: &[(&str, &str)],
    hosts: &[&str],
    calls: &[(&str, Vec<u8>)],
    scratch: &Path,
) -> Result<Vec<Answer>> {
    Ok(without_events(events_natively_in(
        python, path, exports, hosts, calls, scratch,
    )?))
}

/// Like [`call_natively`], with what each call passed to the host function `emit`.
pub fn call_natively_with_events(
    path: &[&Path],
    exports: &[(&str, &str)],
    hosts: &[&str],
    calls: &[(&str, Vec<u8>)],
    scratch: &Path,
) -> Result<Vec<Emitted>> {
    events_natively_in(
        &crate::native_python()?,
        path,
        exports,
        hosts,
        calls,
        scratch,
    )
}

/// [`call_natively_with_events`] in the given native CPython.
pub fn events_natively_in(
    python: &Path,
    path: &[&Path],
    exports: &[(&str, &str)],
    hosts: &[&str],
    calls: &[(&str, Vec<u8>)],
    scratch: &Path,
) -> Result<Vec<Emitted>> {
    let request = Request {
        path,
        exports,
        hosts,
        calls,
        scratch,
    };
    answers_with_events(&request.run(python, NativeMode::Events)?)
}

/// What `library_native.py` prints for a request.
#[derive(Clone, Copy, Debug)]
pub enum NativeMode {
    /// One answer per call, with what it passed to `emit`.
    Events,
    /// Each call made this many times after a warm-up: nanoseconds per call, by export.
    Timings(usize),
}

/// The files of `examples/file-analyzer/samples` its tests pass to `process`, one per call:
/// twice over, so that later files run on an instance that has already raised.
pub const FILE_ANALYZER_SAMPLES: [&str; 6] = [
    "page.html",
    "broken.xml",
    "feed.xml",
    "blank.txt",
    "entities.xml",
    "page.html",
];

/// `examples/udf`'s exports, as `[tool.pywasm.exports]` names them.
pub const UDF_EXPORTS: [(&str, &str); 3] = [
    ("echo", "udf.rows:echo"),
    ("noop", "udf.rows:noop"),
    ("score", "udf.rows:score"),
];

/// Calls of `examples/udf`: `score` on each row, then `echo` of non-ASCII text and `noop`.
pub fn udf_calls<'a>(rows: &[&str]) -> Vec<(&'a str, Vec<u8>)> {
    let mut calls: Vec<(&str, Vec<u8>)> = rows
        .iter()
        .map(|r| ("score", r.as_bytes().to_vec()))
        .collect();
    calls.push(("echo", "ünïcode ✓".as_bytes().to_vec()));
    calls.push(("noop", Vec::new()));
    calls
}

/// Runs `library_native.py` on one request (pywasm's guest package first on `sys.path`, then
/// `path`); returns its output.
pub fn native_request(
    path: &[&Path],
    exports: &[(&str, &str)],
    hosts: &[&str],
    calls: &[(&str, Vec<u8>)],
    scratch: &Path,
    mode: NativeMode,
) -> Result<String> {
    let request = Request {
        path,
        exports,
        hosts,
        calls,
        scratch,
    };
    request.run(&crate::native_python()?, mode)
}

/// One request to `library_native.py`.
struct Request<'a> {
    path: &'a [&'a Path],
    exports: &'a [(&'a str, &'a str)],
    hosts: &'a [&'a str],
    calls: &'a [(&'a str, Vec<u8>)],
    scratch: &'a Path,
}

impl Request<'_> {
    fn run(&self, python: &Path, mode: NativeMode) -> Result<String> {
        let Request {
            path,
            exports,
            hosts,
            calls,
            scratch,
        } = *self;
        let mut request = json!({
            "exports": exports.iter().map(|(n, s)| json!([n, s])).collect::<Vec<_>>(),
            "hosts": hosts,
            "calls": calls_json(calls),
            "events": matches!(mode, NativeMode::Events),
        });
        if let NativeMode::Timings(repeat) = mode {
            request["repeat"] = json!(repeat);
        }
        run_native_script(python, "library_native.py", path, request, scratch)
    }
}

/// Runs `tests/support/<script>` under `python` on `request`, written into `scratch`, with
/// pywasm's guest package and then `path` as the request's `path` (what the script puts in
/// front of `sys.path`); returns what it printed.
pub(crate) fn run_native_script(
    python: &Path,
    script: &str,
    path: &[&Path],
    mut request: Value,
    scratch: &Path,
) -> Result<String> {
    let mut dirs: Vec<String> = vec![
        repo()
            .join("crates/pywasm-core/templates/guest")
            .display()
            .to_string(),
    ];
    dirs.extend(path.iter().map(|p| p.display().to_string()));
    request["path"] = json!(dirs);
    let file = scratch.join(format!("{script}.request.json"));
    fs_err::write(&file, request.to_string())?;
    let out = Command::new(python)
        .args(["-I", "-S", "-B"])
        .arg(repo().join("tests/support").join(script))
        .arg(&file)
        .output()?;
    if !out.status.success() {
        bail!(
            "native run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
