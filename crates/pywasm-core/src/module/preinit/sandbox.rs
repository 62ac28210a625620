//! Where pywasm runs a module at build time, and the engine it runs it in.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use wasmtime::{Config, Engine, Linker, Module, Store, Strategy};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{
    Deterministic, FsPerms, HostMonotonicClock, HostWallClock, I32Exit, WasiCtxBuilder,
};

use super::IMAGE_GUEST_DIR;

const OUTPUT_LIMIT: usize = 1 << 20;

/// Where pywasm runs a module at build time: captured stdio, no arguments, environment or
/// directories, a fixed clock and fixed random bytes.
pub struct Sandbox {
    pub store: Store<WasiP1Ctx>,
    pub linker: Linker<WasiP1Ctx>,
    pub stdout: MemoryOutputPipe,
    pub stderr: MemoryOutputPipe,
}

impl Sandbox {
    /// `library`: the module's host functions become traps. `env`: the build-time requests
    /// `templates/main.c.in` reads (the training run's), never the host's environment.
    /// `image_dir`: the image of a module that links none, preopened read-only at
    /// [`IMAGE_GUEST_DIR`].
    pub fn new(
        engine: &Engine,
        module: &Module,
        library: bool,
        env: &[(String, String)],
        image_dir: Option<&Path>,
    ) -> Result<Sandbox> {
        let stdout = MemoryOutputPipe::new(OUTPUT_LIMIT);
        let stderr = MemoryOutputPipe::new(OUTPUT_LIMIT);
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .secure_random(Deterministic::new(vec![0x5a; 32]))
            .insecure_random(Deterministic::new(vec![0xa5; 32]))
            .insecure_random_seed(0)
            .wall_clock(FixedClock)
            .monotonic_clock(FixedClock);
        for (key, value) in env {
            builder.env(key, value);
        }
        if let Some(dir) = image_dir {
            builder
                .preopened_dir(dir, IMAGE_GUEST_DIR, FsPerms::ReadOnly)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("cannot share `{}` with the module", dir.display()))?;
        }
        let mut store = Store::new(engine, builder.build_p1());
        // The engine interrupts on epochs for the training run's time limit; nothing else has
        // one.
        store.set_epoch_deadline(u64::MAX / 2);
        let mut linker: Linker<WasiP1Ctx> = Linker::new(engine);
        p1::add_to_linker_sync(&mut linker, |ctx| ctx)?;
        // Component builds import it, and the snapshot is taken before the module is wrapped;
        // an exit at build time through it is an exit like any other.
        let (module_name, name) = crate::module::postprocess::EXIT_WITH_CODE;
        linker.func_wrap(module_name, name, |code: i32| -> wasmtime::Result<()> {
            Err(wasmtime::Error::new(I32Exit(code)))
        })?;
        if library {
            // A library's host functions: nothing calls them at build time, and a call would
            // be a bug worth a trap.
            linker
                .define_unknown_imports_as_traps(module)
                .map_err(anyhow::Error::from)?;
        }
        Ok(Sandbox {
            store,
            linker,
            stdout,
            stderr,
        })
    }
}

/// An engine for code that runs once at build time: winch, wasmtime's baseline compiler,
/// compiles several times faster than cranelift, which would spend more time optimising than
/// the run takes.
pub fn run_once_engine() -> Result<Engine> {
    Engine::new(&run_once_config())
        .map_err(anyhow::Error::from)
        .context("failed to set up wasmtime")
}

pub(super) fn run_once_config() -> Config {
    let mut config = Config::new();
    config.strategy(Strategy::Winch).epoch_interruption(true);
    config
}

/// The build-time clock: always 2000-01-01, so the snapshot does not depend on when it is taken.
struct FixedClock;

impl HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        Duration::from_secs(946_684_800)
    }
}

impl HostMonotonicClock for FixedClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        0
    }
}
