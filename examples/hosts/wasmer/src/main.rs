//! Runs pywasm modules in wasmer 6.0.1 with wasmer-wasix 0.600.1, as a service that accepts
//! uploaded modules does: the guest's stdout and stderr are captured (never the host's
//! terminal) and its stdin is empty; it sees no host file, no host environment variable and no
//! network; and its memory can be capped.
//!
//! ```sh
//! wasmer-host [--max-pages N] run MODULE.wasm [ARGV0 ARG...]
//! wasmer-host [--max-pages N] call MODULE.wasm CALLS.json
//! ```
//!
//! `run` starts a command module (`_start`) with ARGV0 (default `module`) as its program name
//! and ARG... as its arguments, then writes what it
//! printed to this program's stdout and stderr and exits with its exit code (134 when it
//! trapped, as the wasmtime CLI does; 1 when it could not start).
//!
//! `call` instantiates a library module once (docs/abi.md) and makes every call of CALLS.json,
//! a list of `[export name, argument as base64]`, on that one instance. It prints what the
//! module printed, then one JSON line: a list of `[true, result as base64]` or
//! `[false, error text]`, one per call; and on stderr the instance's memory as
//! `memory: N pages`. The host function `env.lookup` answers
//! `{"len": <argument length>, "text": <argument as text>}` as JSON.

mod library;
mod limits;
mod probestack;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use wasmer::{Engine, Module, Store};
use wasmer_wasix::runtime::task_manager::tokio::TokioTaskManager;
use wasmer_wasix::{
    Pipe, PluggableRuntime, UnsupportedVirtualNetworking, WasiEnv, WasiError, WasiRuntimeError,
};

/// The exit code of a module that trapped, as the wasmtime CLI reports it.
const TRAPPED: u8 = 134;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

struct Args {
    max_pages: Option<u32>,
    mode: Mode,
}

enum Mode {
    Run { module: PathBuf, args: Vec<String> },
    Call { module: PathBuf, calls: PathBuf },
}

const USAGE: &str = "usage: wasmer-host [--max-pages N] run MODULE.wasm [ARGV0 ARG...]\n       \
                     wasmer-host [--max-pages N] call MODULE.wasm CALLS.json";

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args> {
    let mut max_pages = None;
    let mode = loop {
        match args.next().as_deref() {
            Some("--max-pages") => {
                let pages = args.next().context(USAGE)?;
                max_pages = match pages.parse() {
                    // 65536 pages are the whole 4 GiB a 32-bit memory can address.
                    Ok(n @ 1..=65536) => Some(n),
                    _ => bail!("--max-pages `{pages}` is not a page count from 1 to 65536"),
                };
            }
            Some("run") => {
                let module = args.next().context(USAGE)?.into();
                break Mode::Run {
                    module,
                    args: args.collect(),
                };
            }
            Some("call") => {
                let module = args.next().context(USAGE)?.into();
                let calls = args.next().context(USAGE)?.into();
                if args.next().is_some() {
                    bail!(USAGE);
                }
                break Mode::Call { module, calls };
            }
            _ => bail!(USAGE),
        }
    };
    Ok(Args { max_pages, mode })
}

fn run() -> Result<ExitCode> {
    let args = parse(std::env::args().skip(1))?;
    // wasmer-wasix schedules its work on tokio; it needs a runtime entered on this thread.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;
    let _entered = runtime.enter();
    let engine = limits::engine(args.max_pages);
    let mut store = Store::new(engine.clone());
    match args.mode {
        Mode::Run { module, args } => {
            let module = load(&store, &module)?;
            run_command(&mut store, &engine, module, &args)
        }
        Mode::Call { module, calls } => {
            let module = load(&store, &module)?;
            library::call_all(&mut store, &engine, module, &calls)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load(store: &Store, path: &Path) -> Result<Module> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    Module::new(store, bytes).with_context(|| format!("cannot compile `{}`", path.display()))
}

/// Captured stdio for a guest: the two pipes' write ends go to the guest, and `flush` copies
/// what it wrote to this program's own stdout and stderr, on every path out (dropping it
/// flushes too, so that a failure keeps the traceback that explains it).
struct Captured {
    stdout: Pipe,
    stderr: Pipe,
}

impl Captured {
    /// A WASI environment for a module named `name`: stdio captured, stdin empty, no network,
    /// wasmer-wasix's tasks on `engine` (the capped one).
    fn builder(name: &str, engine: &Engine) -> (wasmer_wasix::WasiEnvBuilder, Captured) {
        let (stdout_tx, stdout) = Pipe::channel();
        let (stderr_tx, stderr) = Pipe::channel();
        // An empty stdin reads as end of file: the other end of the channel is dropped. (A
        // closed pipe would read as EPIPE, which Python raises as BrokenPipeError.)
        let (stdin, writer) = Pipe::channel();
        drop(writer);
        let mut runtime = PluggableRuntime::new(Arc::new(TokioTaskManager::default()));
        runtime
            .set_networking_implementation(UnsupportedVirtualNetworking::default())
            .set_engine(Some(engine.clone()));
        runtime.http_client = None;
        let builder = WasiEnv::builder(name)
            .runtime(Arc::new(runtime))
            .stdin(Box::new(stdin))
            .stdout(Box::new(stdout_tx))
            .stderr(Box::new(stderr_tx));
        (builder, Captured { stdout, stderr })
    }

    /// Copies what the guest wrote so far out; true when its stdout ends a line (or is empty).
    fn flush(&mut self) -> Result<bool> {
        let stdout = drain(&mut self.stdout);
        let stderr = drain(&mut self.stderr);
        std::io::stdout().write_all(&stdout)?;
        std::io::stdout().flush()?;
        std::io::stderr().write_all(&stderr)?;
        Ok(stdout.last().is_none_or(|&b| b == b'\n'))
    }
}

impl Drop for Captured {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Everything written to the pipe so far, without waiting for more.
fn drain(pipe: &mut Pipe) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match pipe.try_read(&mut chunk) {
            Some(0) | None => break,
            Some(n) => out.extend_from_slice(&chunk[..n]),
        }
    }
    out
}

fn run_command(
    store: &mut Store,
    engine: &Engine,
    module: Module,
    args: &[String],
) -> Result<ExitCode> {
    let (argv0, args) = args
        .split_first()
        .map_or(("module", &[][..]), |(first, rest)| (first.as_str(), rest));
    let (builder, mut captured) = Captured::builder(argv0, engine);
    let result = builder.args(args).run_with_store(module, store);
    captured.flush()?;
    Ok(match result {
        Ok(()) => ExitCode::SUCCESS,
        // wasmer-wasix keeps exit codes modulo 256, as a process's are.
        Err(WasiRuntimeError::Wasi(WasiError::Exit(code))) => ExitCode::from(code.raw() as u8),
        Err(WasiRuntimeError::Runtime(trap)) => {
            eprintln!("error: the module trapped: {trap}");
            ExitCode::from(TRAPPED)
        }
        Err(err) => {
            eprintln!(
                "error: the module could not run: {:#}",
                anyhow::Error::from(err)
            );
            ExitCode::FAILURE
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Args> {
        parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn reads_both_modes_and_the_page_cap() {
        let parsed = args("--max-pages 256 call m.wasm calls.json").unwrap();
        assert_eq!(parsed.max_pages, Some(256));
        assert!(matches!(parsed.mode, Mode::Call { .. }));
        let parsed = args("run m.wasm --name x").unwrap();
        let Mode::Run { args, .. } = parsed.mode else {
            panic!("not run")
        };
        assert_eq!(args, ["--name", "x"]);
        assert!(args_fail("call m.wasm"));
        assert!(args_fail("--max-pages many run m.wasm"));
        assert!(args_fail(""));
    }

    fn args_fail(line: &str) -> bool {
        args(line).is_err()
    }
}
