//! Modules in a host that embeds wasmtime, as the file-analysis host and the database engine
//! use them: the module compiled once before timing, then a fresh store and instance per run,
//! with wasmtime's copy-on-write memory images (its default on Linux). Also the linear memory a
//! run needs: wasm memory never shrinks, so its size after the run is the run's peak.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use wasmtime::{Engine, Instance, InstancePre, Linker, Module, Store};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use super::measure::{Run, Stats};

/// A command's runs in the embedding.
pub struct CommandRuns {
    /// From a fresh store to `_start`'s exit.
    pub to_exit: Stats,
    pub initial_pages: u64,
    /// After the last run (every run needs the same).
    pub peak_pages: u64,
}

/// Runs the command module `wasm` with `argv` `runs` times after one warm-up, each run's exit
/// code and stdout checked against `expected`.
pub fn command(wasm: &Path, argv: &[&str], runs: usize, expected: &Run) -> Result<CommandRuns> {
    let command = Command::new(wasm, argv, expected)?;
    let mut measured = Vec::new();
    let mut pages = (0, 0);
    for round in 0..=runs {
        let (wall, used) = command.run()?;
        pages = used;
        if round > 0 {
            measured.push(wall);
        }
    }
    Ok(CommandRuns {
        to_exit: Stats::of_walls(&measured),
        initial_pages: pages.0,
        peak_pages: pages.1,
    })
}

/// A command module compiled once, to be run from a fresh store as often as asked.
pub struct Command {
    engine: Engine,
    pre: InstancePre<WasiP1Ctx>,
    argv: Vec<String>,
    expected: (i32, String),
}

impl Command {
    pub fn new(wasm: &Path, argv: &[&str], expected: &Run) -> Result<Self> {
        let (engine, pre) = prepare(wasm, false)?;
        Ok(Command {
            engine,
            pre,
            argv: argv.iter().map(|a| (*a).to_string()).collect(),
            expected: (expected.code, expected.stdout.clone()),
        })
    }

    /// One run from a fresh store to `_start`'s exit, its exit code and stdout checked: how long
    /// it took, and the linear memory's pages at the start and at the exit.
    pub fn run(&self) -> Result<(Duration, (u64, u64))> {
        let stdout = MemoryOutputPipe::new(1 << 22);
        let started = Instant::now();
        let ctx = WasiCtxBuilder::new()
            .args(&self.argv)
            .stdout(stdout.clone())
            .build_p1();
        let mut store = Store::new(&self.engine, ctx);
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(anyhow::Error::from)?;
        let initial = memory_pages(&instance, &mut store)?;
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
            .map_err(anyhow::Error::from)?;
        let code = match start.call(&mut store, ()) {
            Ok(()) => 0,
            Err(err) => match err.downcast_ref::<I32Exit>() {
                Some(exit) => exit.0,
                None => return Err(anyhow::Error::from(err).context("the run trapped")),
            },
        };
        let wall = started.elapsed();
        let pages = (initial, memory_pages(&instance, &mut store)?);
        let stdout = String::from_utf8_lossy(&stdout.contents()).into_owned();
        let (expected_code, expected_stdout) = &self.expected;
        if (code, &stdout) != (*expected_code, expected_stdout) {
            bail!(
                "in the embedding, exit {code} and output\n{stdout}\nwhere native CPython exits \
                 {expected_code} with\n{expected_stdout}"
            );
        }
        Ok((wall, pages))
    }
}

/// From a fresh store to the first result of the library module `wasm`: instantiate,
/// `_initialize`, then `call` with no argument; `runs` times after one warm-up.
pub fn first_result(wasm: &Path, call: &str, runs: usize) -> Result<Stats> {
    let library = Library::new(wasm, call)?;
    let mut measured = Vec::new();
    for round in 0..=runs {
        let wall = library.first_result()?;
        if round > 0 {
            measured.push(wall);
        }
    }
    Ok(Stats::of_walls(&measured))
}

/// A library module compiled once, and the export whose first result is timed.
pub struct Library {
    engine: Engine,
    pre: InstancePre<WasiP1Ctx>,
    call: String,
}

impl Library {
    pub fn new(wasm: &Path, call: &str) -> Result<Self> {
        let (engine, pre) = prepare(wasm, true)?;
        Ok(Library {
            engine,
            pre,
            call: call.to_string(),
        })
    }

    /// One fresh store to the first result.
    pub fn first_result(&self) -> Result<Duration> {
        let call = &self.call;
        let started = Instant::now();
        let mut store = Store::new(&self.engine, WasiCtxBuilder::new().build_p1());
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(anyhow::Error::from)?;
        instance
            .get_typed_func::<(), ()>(&mut store, "_initialize")
            .and_then(|f| f.call(&mut store, ()))
            .map_err(anyhow::Error::from)
            .context("_initialize")?;
        let result = instance
            .get_typed_func::<(i32, i32), i64>(&mut store, call.as_str())
            .and_then(|f| f.call(&mut store, (0, 0)))
            .map_err(anyhow::Error::from)
            .with_context(|| format!("`{call}`"))?;
        let wall = started.elapsed();
        if result < 0 {
            bail!("`{call}` raised (result {result})");
        }
        Ok(wall)
    }
}

/// The module compiled and its imports resolved once, outside every timing. A library's own
/// host functions trap; the calls measured do not use them.
fn prepare(wasm: &Path, library: bool) -> Result<(Engine, InstancePre<WasiP1Ctx>)> {
    let engine = Engine::default();
    let module = Module::from_file(&engine, wasm)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("failed to compile `{}`", wasm.display()))?;
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    p1::add_to_linker_sync(&mut linker, |ctx| ctx).map_err(anyhow::Error::from)?;
    if library {
        linker
            .define_unknown_imports_as_traps(&module)
            .map_err(anyhow::Error::from)?;
    }
    let pre = linker
        .instantiate_pre(&module)
        .map_err(anyhow::Error::from)?;
    Ok((engine, pre))
}

fn memory_pages(instance: &Instance, store: &mut Store<WasiP1Ctx>) -> Result<u64> {
    let memory = instance
        .get_memory(&mut *store, "memory")
        .context("the module exports no memory")?;
    Ok(memory.size(&*store))
}
