//! An embedded wasmtime that runs WASI preview1 modules and WASI 0.2 components with captured
//! output: python3.11.wasm
//! for build-time bytecode compilation, and built modules in tests.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wasmtime::component::{self, Component, ResourceTable};
use wasmtime::{Config, Engine, Linker, Module, Store};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Output kept from a guest's stdout or stderr.
const CAPTURE_LIMIT: usize = 64 << 20;

pub struct Runtime {
    engine: Engine,
    /// Compiled modules are kept here by content and engine, so a 20 MB module is compiled by
    /// cranelift once rather than on every run.
    cache_dir: Option<PathBuf>,
}

/// A host directory visible to the guest.
#[derive(Clone, Debug)]
pub struct Preopen {
    pub host: PathBuf,
    pub guest: String,
    pub writable: bool,
}

#[derive(Clone, Debug, Default)]
pub struct RunConfig {
    /// Including `argv[0]`.
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub stdin: Vec<u8>,
    pub preopens: Vec<Preopen>,
}

#[derive(Clone, Debug)]
pub struct RunResult {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Runtime {
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Runtime> {
        Runtime::with_config(&Config::new(), cache_dir)
    }

    /// An engine with its own settings (fuel, epochs); its compiled modules are cached apart.
    pub fn with_config(config: &Config, cache_dir: Option<PathBuf>) -> Result<Runtime> {
        let engine = Engine::new(config)
            .map_err(anyhow::Error::from)
            .context("failed to set up wasmtime")?;
        Ok(Runtime { engine, cache_dir })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads and compiles `path`, reusing an earlier compilation from the cache directory.
    pub fn load(&self, path: &Path) -> Result<Module> {
        let bytes = fs_err::read(path)?;
        self.load_keyed(&bytes, || Ok(bytes.clone()))
            .map(|(module, _)| module)
            .with_context(|| format!("failed to compile `{}`", path.display()))
    }

    /// A module whose compiled code is cached under `key` (what the bytes are made from):
    /// `bytes` is asked for only when the cache has none. Also whether the code was cached.
    pub fn load_keyed(
        &self,
        key: &[u8],
        bytes: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<(Module, bool)> {
        self.load_cached(
            key,
            bytes,
            |engine, bytes| Module::new(engine, bytes),
            |engine, file| {
                // SAFETY: the file was written by `Module::serialize` of this very engine
                // configuration (the key includes its compatibility hash) into pywasm's cache.
                unsafe { Module::deserialize_file(engine, file) }
            },
            Module::serialize,
        )
    }

    /// [`Runtime::load`] for a WASI component.
    pub fn load_component(&self, path: &Path) -> Result<Component> {
        let bytes = fs_err::read(path)?;
        self.load_cached(
            &bytes,
            || Ok(bytes.clone()),
            |engine, bytes| Component::new(engine, bytes),
            |engine, file| {
                // SAFETY: as in `load`, written by `Component::serialize` of this configuration.
                unsafe { Component::deserialize_file(engine, file) }
            },
            Component::serialize,
        )
        .map(|(component, _)| component)
        .with_context(|| format!("failed to compile `{}`", path.display()))
    }

    fn load_cached<T>(
        &self,
        key: &[u8],
        bytes: impl FnOnce() -> Result<Vec<u8>>,
        compile: impl Fn(&Engine, &[u8]) -> wasmtime::Result<T>,
        deserialize: impl Fn(&Engine, &Path) -> wasmtime::Result<T>,
        serialize: impl Fn(&T) -> wasmtime::Result<Vec<u8>>,
    ) -> Result<(T, bool)> {
        let compile =
            || -> Result<T> { compile(&self.engine, &bytes()?).map_err(anyhow::Error::from) };
        let Some(cache_dir) = &self.cache_dir else {
            return Ok((compile()?, false));
        };
        let mut engine_hash = DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        let key = format!(
            "{}-{:016x}.cwasm",
            crate::fsutil::sha256_hex(key),
            engine_hash.finish()
        );
        let cached = cache_dir.join(key);
        if cached.is_file()
            && let Ok(compiled) = deserialize(&self.engine, &cached)
        {
            return Ok((compiled, true));
        }
        let compiled = compile()?;
        let serialized = serialize(&compiled)
            .map_err(anyhow::Error::from)
            .context("failed to serialize compiled code")?;
        crate::fsutil::atomic_write(&cached, &serialized)?;
        Ok((compiled, false))
    }

    /// Runs a WASI command to completion. A trap is an error; `proc_exit` is an exit code.
    pub fn run(&self, module: &Module, config: &RunConfig) -> Result<RunResult> {
        let (mut builder, stdout, stderr) = captured(config)?;
        let mut store = Store::new(&self.engine, builder.build_p1());
        let mut linker: Linker<WasiP1Ctx> = Linker::new(&self.engine);
        p1::add_to_linker_sync(&mut linker, |ctx| ctx)?;
        let instance = linker
            .instantiate(&mut store, module)
            .map_err(anyhow::Error::from)
            .context("failed to instantiate the module")?;
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
            .map_err(anyhow::Error::from)
            .context("the module has no `_start`")?;
        let exit_code = match start.call(&mut store, ()) {
            Ok(()) => 0,
            Err(err) => match err.downcast_ref::<I32Exit>() {
                Some(exit) => exit.0,
                None => return Err(trapped(err, &stderr)),
            },
        };
        drop(store);
        Ok(finished(exit_code, &stdout, &stderr))
    }

    /// Runs a WASI 0.2 command component. `wasi:cli/run` reports only success or failure, so
    /// the exit code is 0 or 1.
    pub fn run_component(&self, component: &Component, config: &RunConfig) -> Result<RunResult> {
        let (mut builder, stdout, stderr) = captured(config)?;
        let state = P2State {
            ctx: builder.build(),
            table: ResourceTable::new(),
        };
        let mut store = Store::new(&self.engine, state);
        let mut linker = component::Linker::<P2State>::new(&self.engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(anyhow::Error::from)?;
        let command = Command::instantiate(&mut store, component, &linker)
            .map_err(anyhow::Error::from)
            .context("failed to instantiate the component as a `wasi:cli/command`")?;
        let exit_code = match command.wasi_cli_run().call_run(&mut store) {
            Ok(Ok(())) => 0,
            Ok(Err(())) => 1,
            Err(err) => match err.downcast_ref::<I32Exit>() {
                Some(exit) => exit.0,
                None => return Err(trapped(err, &stderr)),
            },
        };
        drop(store);
        Ok(finished(exit_code, &stdout, &stderr))
    }
}

/// WASI 0.2 state: the context and the resource table its handles live in.
pub struct P2State {
    pub ctx: WasiCtx,
    pub table: ResourceTable,
}

impl WasiView for P2State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// A WASI context for `config` with stdin from memory and stdout and stderr captured.
fn captured(config: &RunConfig) -> Result<(WasiCtxBuilder, MemoryOutputPipe, MemoryOutputPipe)> {
    let stdout = MemoryOutputPipe::new(CAPTURE_LIMIT);
    let stderr = MemoryOutputPipe::new(CAPTURE_LIMIT);
    let mut builder = WasiCtxBuilder::new();
    builder
        .args(&config.args)
        .stdin(MemoryInputPipe::new(config.stdin.clone()))
        .stdout(stdout.clone())
        .stderr(stderr.clone());
    for (key, value) in &config.env {
        builder.env(key, value);
    }
    for dir in &config.preopens {
        let perms = if dir.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        builder
            .preopened_dir(&dir.host, &dir.guest, perms)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("failed to open `{}` for the guest", dir.host.display()))?;
    }
    Ok((builder, stdout, stderr))
}

fn trapped(err: wasmtime::Error, stderr: &MemoryOutputPipe) -> anyhow::Error {
    let stderr = String::from_utf8_lossy(&stderr.contents()).into_owned();
    anyhow::Error::from(err).context(format!("the module trapped; its stderr:\n{stderr}"))
}

fn finished(exit_code: i32, stdout: &MemoryOutputPipe, stderr: &MemoryOutputPipe) -> RunResult {
    RunResult {
        exit_code,
        stdout: stdout.contents().to_vec(),
        stderr: stderr.contents().to_vec(),
    }
}
