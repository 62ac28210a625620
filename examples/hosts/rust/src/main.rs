//! A file-analysis host: loads a pywasm library module once with wasmtime and calls its
//! `process` export for every file named on the command line, on the one live instance,
//! collecting the JSON events the guest sends through the host function `host.emit`
//! (the ABI: docs/abi.md).
//!
//! ```sh
//! cargo run -p wasmtime-host -- file_analyzer.wasm FILE...
//! ```
//!
//! Prints one JSON line per file: `{"file", "result", "emitted"}` with `process`'s JSON answer,
//! or `{"file", "error", "emitted"}` with the exception's text when it raised; then the
//! instance's linear memory (`memory: N pages`) on stderr. A trap (the guest ran out of memory,
//! or an extension crashed) ends the instance: the host stops with an error.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use wasmtime::{Caller, Engine, Extern, Linker, Memory, Module, Store, TypedFunc};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::{self, WasiP1Ctx};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args_os().skip(1);
    let module = args
        .next()
        .context("usage: wasmtime-host MODULE.wasm FILE...")?;
    let mut analyzer = Analyzer::load(Path::new(&module))?;
    for file in args {
        let path = Path::new(&file);
        let data =
            std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        let (outcome, emitted) = analyzer
            .process(&data)
            .with_context(|| format!("processing `{}`", path.display()))?;
        let name = path.display().to_string();
        let line = match outcome {
            Outcome::Returned(bytes) => {
                let result: Value =
                    serde_json::from_slice(&bytes).context("`process` did not answer with JSON")?;
                json!({"file": name, "result": result, "emitted": emitted})
            }
            Outcome::Raised(text) => json!({"file": name, "error": text, "emitted": emitted}),
        };
        println!("{line}");
    }
    eprintln!("memory: {} pages", analyzer.memory_pages());
    Ok(())
}

/// The store's data: WASI for the guest's stdio and clocks, and the events of the current call.
struct Host {
    wasi: WasiP1Ctx,
    emitted: Vec<Value>,
}

/// What one call of `process` did.
enum Outcome {
    Returned(Vec<u8>),
    /// The exception's text: its type and message, then the traceback.
    Raised(String),
}

/// One instance of the module, initialised, with the ABI's exports looked up once.
struct Analyzer {
    store: Store<Host>,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    free: TypedFunc<(i32, i32), ()>,
    error: TypedFunc<(), i64>,
    process: TypedFunc<(i32, i32), i64>,
}

impl Analyzer {
    fn load(path: &Path) -> Result<Analyzer> {
        let engine = Engine::default();
        let module = Module::from_file(&engine, path)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot load `{}`", path.display()))?;
        // The guest's prints go where this program's do; it sees no files and no environment.
        let wasi = WasiCtxBuilder::new()
            .inherit_stdout()
            .inherit_stderr()
            .build_p1();
        let mut store = Store::new(
            &engine,
            Host {
                wasi,
                emitted: Vec::new(),
            },
        );
        let mut linker: Linker<Host> = Linker::new(&engine);
        p1::add_to_linker_sync(&mut linker, |host: &mut Host| &mut host.wasi)
            .map_err(anyhow::Error::from)?;
        linker
            .func_wrap("host", "emit", emit)
            .map_err(anyhow::Error::from)?;
        let instance = linker
            .instantiate(&mut store, &module)
            .map_err(anyhow::Error::from)?;
        // A WASI reactor: `_initialize` once, before any other export.
        let initialize: TypedFunc<(), ()> = instance
            .get_typed_func(&mut store, "_initialize")
            .map_err(anyhow::Error::from)?;
        initialize
            .call(&mut store, ())
            .map_err(anyhow::Error::from)?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .context("the module exports no memory")?;
        let mut func = |name: &str| {
            instance
                .get_func(&mut store, name)
                .with_context(|| format!("the module exports no `{name}`: is it a pywasm library?"))
        };
        let (alloc, free, error, process) = (
            func("pywasm_alloc")?,
            func("pywasm_free")?,
            func("pywasm_error")?,
            func("process")?,
        );
        Ok(Analyzer {
            alloc: alloc.typed(&store).map_err(anyhow::Error::from)?,
            free: free.typed(&store).map_err(anyhow::Error::from)?,
            error: error.typed(&store).map_err(anyhow::Error::from)?,
            process: process.typed(&store).map_err(anyhow::Error::from)?,
            store,
            memory,
        })
    }

    /// Calls `process(data)`; returns its outcome and the events it emitted.
    fn process(&mut self, data: &[u8]) -> Result<(Outcome, Vec<Value>)> {
        let (ptr, len) = if data.is_empty() {
            (0, 0)
        } else {
            let len = i32::try_from(data.len()).context("a file over 2 GiB")?;
            let ptr = self
                .alloc
                .call(&mut self.store, len)
                .map_err(anyhow::Error::from)?;
            if ptr == 0 {
                bail!("the guest could not allocate {len} bytes");
            }
            self.memory.write(&mut self.store, ptr as usize, data)?;
            (ptr, len)
        };
        let packed = self
            .process
            .call(&mut self.store, (ptr, len))
            .map_err(anyhow::Error::from)
            .context("`process` trapped; the instance is unusable")?;
        if len > 0 {
            self.free
                .call(&mut self.store, (ptr, len))
                .map_err(anyhow::Error::from)?;
        }
        let outcome = if packed < 0 {
            let packed = self
                .error
                .call(&mut self.store, ())
                .map_err(anyhow::Error::from)?;
            Outcome::Raised(String::from_utf8_lossy(&self.take(packed)?).into_owned())
        } else {
            Outcome::Returned(self.take(packed)?)
        };
        Ok((outcome, std::mem::take(&mut self.store.data_mut().emitted)))
    }

    /// Copies out and frees a buffer the guest returned as `(ptr << 32) | len`.
    fn take(&mut self, packed: i64) -> Result<Vec<u8>> {
        let (ptr, len) = ((packed >> 32) as i32, packed as u32 as i32);
        let mut bytes = vec![0u8; len as usize];
        self.memory
            .read(&self.store, ptr as u32 as usize, &mut bytes)?;
        if len > 0 {
            self.free
                .call(&mut self.store, (ptr, len))
                .map_err(anyhow::Error::from)?;
        }
        Ok(bytes)
    }

    fn memory_pages(&self) -> u64 {
        self.memory.size(&self.store)
    }
}

/// `host.emit(event)`: keeps the JSON event for the current file and answers nothing (an empty
/// buffer, packed as 0).
fn emit(mut caller: Caller<'_, Host>, ptr: i32, len: i32) -> wasmtime::Result<i64> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        wasmtime::bail!("the module exports no memory");
    };
    let mut bytes = vec![0u8; len as usize];
    memory.read(&caller, ptr as u32 as usize, &mut bytes)?;
    let event = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    caller.data_mut().emitted.push(event);
    Ok(0)
}
