//! An embedded wasmtime that runs WASI preview1 modules with captured output: python3.11.wasm
//! for build-time bytecode compilation, and built modules in tests.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wasmtime::{Config, Engine, Linker, Module, Store};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

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
        let Some(cache_dir) = &self.cache_dir else {
            return Module::new(&self.engine, &bytes)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("failed to compile `{}`", path.display()));
        };
        let mut engine_hash = DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        let key = format!(
            "{}-{:016x}.cwasm",
            crate::fsutil::sha256_hex(&bytes),
            engine_hash.finish()
        );
        let cached = cache_dir.join(key);
        if cached.is_file() {
            // SAFETY: the file was written by `Module::serialize` of this very engine
            // configuration (the key includes its compatibility hash) into pywasm's own cache.
            if let Ok(module) = unsafe { Module::deserialize_file(&self.engine, &cached) } {
                return Ok(module);
            }
        }
        let module = Module::new(&self.engine, &bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("failed to compile `{}`", path.display()))?;
        let serialized = module
            .serialize()
            .map_err(anyhow::Error::from)
            .context("failed to serialize a compiled module")?;
        crate::fsutil::atomic_write(&cached, &serialized)?;
        Ok(module)
    }

    /// Runs a WASI command to completion. A trap is an error; `proc_exit` is an exit code.
    pub fn run(&self, module: &Module, config: &RunConfig) -> Result<RunResult> {
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
                .with_context(|| {
                    format!("failed to open `{}` for the guest", dir.host.display())
                })?;
        }
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
                None => {
                    let stderr = String::from_utf8_lossy(&stderr.contents()).into_owned();
                    return Err(anyhow::Error::from(err)
                        .context(format!("the module trapped; its stderr:\n{stderr}")));
                }
            },
        };
        drop(store);
        Ok(RunResult {
            exit_code,
            stdout: stdout.contents().to_vec(),
            stderr: stderr.contents().to_vec(),
        })
    }
}
