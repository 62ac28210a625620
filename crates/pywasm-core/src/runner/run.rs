//! `pywasm run`: runs a built module or WASI component in an embedded wasmtime with the terminal's stdio and
//! optional limits: memory (`--max-memory`), wall-clock time (`--timeout`, by epoch
//! interruption) and instructions (`--fuel`). A limit that is hit ends the run with a message
//! and an exit code of its own; otherwise the module's own exit code passes through.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use wasmtime::component::{self, ResourceTable};
use wasmtime::{Config, Linker, Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::runner::runtime::{P2State, Runtime};

/// Exit codes for limits, distinct from what Python uses (0, 1, 2, 70, 120) and from a trap.
pub const EXIT_TIMEOUT: i32 = 124;
pub const EXIT_OUT_OF_FUEL: i32 = 123;
pub const EXIT_OUT_OF_MEMORY: i32 = 122;
/// What wasmtime's CLI returns for a trap (128 + SIGABRT).
pub const EXIT_TRAP: i32 = 134;

#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub module: PathBuf,
    /// argv, without argv[0] (the module's file name is used).
    pub args: Vec<String>,
    /// (host, guest) directories, readable and writable.
    pub dirs: Vec<(PathBuf, String)>,
    pub env: Vec<(String, String)>,
    pub max_memory: Option<u64>,
    pub timeout: Option<Duration>,
    pub fuel: Option<u64>,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    Timeout(Duration),
    OutOfFuel(u64),
    OutOfMemory(u64),
    Trapped(String),
}

impl Ending {
    pub fn exit_code(&self) -> i32 {
        match self {
            Ending::Exited(code) => *code,
            Ending::Timeout(_) => EXIT_TIMEOUT,
            Ending::OutOfFuel(_) => EXIT_OUT_OF_FUEL,
            Ending::OutOfMemory(_) => EXIT_OUT_OF_MEMORY,
            Ending::Trapped(_) => EXIT_TRAP,
        }
    }

    /// The line printed when the module did not end by itself.
    pub fn message(&self) -> Option<String> {
        match self {
            Ending::Exited(_) => None,
            Ending::Timeout(t) => Some(format!(
                "the module ran longer than the --timeout of {}",
                crate::shell::seconds(*t)
            )),
            Ending::OutOfFuel(f) => Some(format!("the module used up its --fuel of {f} units")),
            Ending::OutOfMemory(m) => Some(format!(
                "the module tried to grow its memory beyond the --max-memory of {}",
                crate::shell::human_size(*m)
            )),
            Ending::Trapped(msg) => Some(format!("the module trapped: {msg}")),
        }
    }
}

struct State<W> {
    wasi: W,
    limits: StoreLimits,
}

impl WasiView for State<P2State> {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.wasi.ctx()
    }
}

/// Runs the module or component; `cache_dir` keeps compiled code between runs (per engine
/// configuration).
pub fn run(options: &RunOptions, cache_dir: Option<PathBuf>) -> Result<Ending> {
    let mut config = Config::new();
    config.epoch_interruption(options.timeout.is_some());
    config.consume_fuel(options.fuel.is_some());
    let runtime = Runtime::with_config(&config, cache_dir)?;
    let path = &options.module;
    let is_component = {
        let mut header = [0u8; 8];
        let mut file = fs_err::File::open(path)?;
        std::io::Read::read_exact(&mut file, &mut header)
            .with_context(|| format!("`{}` is not a WebAssembly file", path.display()))?;
        wasmparser::Parser::is_component(&header)
    };
    let builder = wasi_builder(options)?;
    let outcome = if is_component {
        run_component(&runtime, options, builder)?
    } else {
        run_module(&runtime, options, builder)?
    };
    Ok(match outcome {
        Ok(code) => Ending::Exited(code),
        Err(err) => ending(&err, options),
    })
}

fn wasi_builder(options: &RunOptions) -> Result<WasiCtxBuilder> {
    let mut builder = WasiCtxBuilder::new();
    let argv0 = options
        .module
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    builder.inherit_stdio().arg(&argv0).args(&options.args);
    for (key, value) in &options.env {
        builder.env(key, value);
    }
    for (host, guest) in &options.dirs {
        builder
            .preopened_dir(host, guest, FsPerms::ReadWrite)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("failed to open `{}` for the module", host.display()))?;
    }
    Ok(builder)
}

/// A store with the run's limits: memory, fuel and the epoch deadline.
fn store<W>(runtime: &Runtime, options: &RunOptions, wasi: W) -> Result<Store<State<W>>> {
    let engine = runtime.engine();
    let mut limits = StoreLimitsBuilder::new().trap_on_grow_failure(true);
    if let Some(max) = options.max_memory {
        limits = limits.memory_size(usize::try_from(max).unwrap_or(usize::MAX));
    }
    let mut store = Store::new(
        engine,
        State {
            wasi,
            limits: limits.build(),
        },
    );
    store.limiter(|state| &mut state.limits);
    if let Some(fuel) = options.fuel {
        store.set_fuel(fuel).map_err(anyhow::Error::from)?;
    }
    if let Some(timeout) = options.timeout {
        store.set_epoch_deadline(1);
        let engine = engine.clone();
        // Detached: if the module finishes first, the process exits before it fires.
        std::thread::spawn(move || {
            std::thread::sleep(timeout);
            engine.increment_epoch();
        });
    }
    Ok(store)
}

/// The outer error is pywasm's (the module could not be set up); the inner one is how the run
/// ended if not by returning from `_start`.
type RunOutcome = std::result::Result<i32, wasmtime::Error>;

fn run_module(
    runtime: &Runtime,
    options: &RunOptions,
    mut builder: WasiCtxBuilder,
) -> Result<RunOutcome> {
    let module = runtime.load(&options.module)?;
    let mut store = store(runtime, options, builder.build_p1())?;
    let mut linker: Linker<State<WasiP1Ctx>> = Linker::new(runtime.engine());
    p1::add_to_linker_sync(&mut linker, |state| &mut state.wasi)?;
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(anyhow::Error::from)
        .context("failed to instantiate the module")?;
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .map_err(anyhow::Error::from)
        .context("the module has no `_start`: it is not a WASI command")?;
    Ok(start.call(&mut store, ()).map(|()| 0))
}

fn run_component(
    runtime: &Runtime,
    options: &RunOptions,
    mut builder: WasiCtxBuilder,
) -> Result<RunOutcome> {
    let component = runtime.load_component(&options.module)?;
    let wasi = P2State {
        ctx: builder.build(),
        table: ResourceTable::new(),
    };
    let mut store = store(runtime, options, wasi)?;
    let mut linker = component::Linker::<State<P2State>>::new(runtime.engine());
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
        .map_err(anyhow::Error::from)
        .context("failed to provide WASI 0.2 to the component")?;
    let command = Command::instantiate(&mut store, &component, &linker)
        .map_err(anyhow::Error::from)
        .context("failed to instantiate the component as a `wasi:cli/command`")?;
    // `wasi:cli/run` says only whether it failed; the adapter maps every non-zero exit to that.
    Ok(match command.wasi_cli_run().call_run(&mut store) {
        Ok(Ok(())) => Ok(0),
        Ok(Err(())) => Ok(1),
        Err(err) => Err(err),
    })
}

fn ending(err: &wasmtime::Error, options: &RunOptions) -> Ending {
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return Ending::Exited(exit.0);
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => return Ending::Timeout(options.timeout.unwrap_or_default()),
        Some(Trap::OutOfFuel) => return Ending::OutOfFuel(options.fuel.unwrap_or_default()),
        _ => {}
    }
    let text = format!("{err:?}");
    if let Some(max) = options.max_memory
        && text.contains("forcing trap when growing memory")
    {
        return Ending::OutOfMemory(max);
    }
    // The error's own text is the backtrace's context; the trap itself is its cause.
    let reason = match err.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => err.root_cause().to_string(),
    };
    let backtrace = err.to_string();
    if backtrace == reason {
        Ending::Trapped(reason)
    } else {
        Ending::Trapped(format!("{reason}\n{backtrace}"))
    }
}

/// `500ms`, `10s`, `2m`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || format!("`{text}` is not a duration such as 500ms, 10s or 2m");
    let (number, unit) = match t
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
    {
        Some((i, _)) => t.split_at(i),
        None => (t, "s"),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(bad()),
    };
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("-1s").is_err() && parse_duration("soon").is_err());
    }
}
