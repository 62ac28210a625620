//! What a run costs in wasm instructions: wasmtime's fuel, about one unit per instruction. Unlike
//! a time it is the same on every run and machine, so a test can hold a start-up lever to what it
//! saves without timing anything.

use std::path::Path;

use anyhow::{Context, Result, bail};
use wasmtime::{Config, Engine, Linker, Module, Store, Strategy};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

/// Far more than any fixture's run takes.
const TANK: u64 = 1 << 40;

/// The fuel the command module `wasm` burns from instantiation to its exit with `args` (argv,
/// with argv[0]); its stdout, which must be `expected`, is captured.
pub fn fuel_used(wasm: &Path, args: &[&str], expected: &str) -> Result<u64> {
    let mut config = Config::new();
    config.consume_fuel(true).strategy(Strategy::Winch);
    let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
    let module = Module::from_file(&engine, wasm)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("failed to compile `{}`", wasm.display()))?;
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    p1::add_to_linker_sync(&mut linker, |ctx| ctx).map_err(anyhow::Error::from)?;
    let stdout = MemoryOutputPipe::new(1 << 20);
    let ctx = WasiCtxBuilder::new()
        .args(args)
        .stdout(stdout.clone())
        .build_p1();
    let mut store = Store::new(&engine, ctx);
    store.set_fuel(TANK).map_err(anyhow::Error::from)?;
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(anyhow::Error::from)?;
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .map_err(anyhow::Error::from)?;
    if let Err(err) = start.call(&mut store, ()) {
        match err.downcast_ref::<I32Exit>() {
            Some(I32Exit(0)) => {}
            _ => return Err(anyhow::Error::from(err).context("the run failed")),
        }
    }
    let printed = String::from_utf8_lossy(&stdout.contents()).into_owned();
    if printed != expected {
        bail!("the run printed {printed:?}, not {expected:?}");
    }
    Ok(TANK - store.get_fuel().map_err(anyhow::Error::from)?)
}
