//! Pre-initialisation: the linked module is instantiated at build time, its `wizer-initialize`
//! export starts the interpreter and imports the entry module (and `preinit-imports`), and
//! wasmtime-wizer writes the resulting memory and globals back into the module as its initial
//! state. At run time `_start` finds the interpreter ready and refreshes what must be fresh
//! (`templates/main.c.in`): arguments, environment, preopens, stdio buffering, `random`.
//!
//! The build-time instance sees no arguments, no environment, no directories, a fixed clock and
//! fixed random bytes, so the snapshot depends on the bundle alone and builds stay reproducible.

use std::cell::RefCell;
use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::task::{Context as TaskContext, Poll, Waker};

use anyhow::{Context, Result, anyhow, bail};
use wasmtime::{Engine, Instance, Module, Store, Val};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wizer::{InstanceState, ModuleContext, SnapshotVal, ValType, Wizer};

use crate::diagnostic::Diagnostic;
use crate::module::library::Library;
use crate::runner::runtime::Runtime;

mod sandbox;
mod train;
use sandbox::run_once_config;
pub use sandbox::{Sandbox, run_once_engine};
pub use train::Training;

/// The export `templates/main.c.in` defines when built with `-DPYWASM_PREINIT`.
pub const INIT_EXPORT: &str = "wizer-initialize";

/// Where the build-time instance of a pre-initialised module reads its image from
/// (`templates/build_image.c`): the sandbox preopens the image's directory at this guest path.
/// No image is linked into such a module, so its link and compiled code do not change with the
/// app.
pub const IMAGE_GUEST_DIR: &str = "/pywasm-build";

/// The image's file name in that directory.
pub const IMAGE_FILE: &str = "image.bin";

/// The C defines that give `templates/build_image.c` those two names.
pub fn image_defines() -> [String; 2] {
    [
        format!("-DPYWASM_BUILD_IMAGE_DIR=\"{IMAGE_GUEST_DIR}\""),
        format!("-DPYWASM_BUILD_IMAGE_FILE=\"{IMAGE_FILE}\""),
    ]
}

/// The exit status the init function reports a Python exception with (its traceback is on
/// stderr).
pub const EXIT_PYTHON_FAILED: i32 = 3;

/// How a command's run ends once its entry function has returned (`[tool.pywasm] teardown`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Teardown {
    /// After the atexit callbacks and flushing stdio, the run ends without the rest of CPython's
    /// teardown (deallocating every object), unless an object still alive has a finalizer
    /// (`__del__`: open files, suspended generators, the app's own), which the teardown would
    /// run. Pre-initialised commands only; the others always tear down.
    #[default]
    Auto,
    /// Every run ends with CPython's full teardown.
    Always,
}

/// A stdlib C module the bundle imports that this build cannot link, and how to get it.
#[derive(Clone, Debug)]
pub struct Unavailable {
    pub module: String,
    pub help: String,
}

/// What a library module's pre-initialised `_initialize` is called before pywasm renames it.
pub const LIBRARY_RESUME_EXPORT: &str = "pywasm-resume";

/// A pre-initialised module, and what its training run found.
pub struct Snapshot {
    pub bytes: Vec<u8>,
    /// `None` for a library, or when `preinit-train = false`.
    pub training: Option<Training>,
    /// Whether the instrumented module's compiled code came from the cache.
    pub reused_code: bool,
}

/// What a snapshot is taken of.
pub struct Inputs<'a> {
    /// The linked module, without an image.
    pub linked: &'a [u8],
    /// The directory that holds the image as [`IMAGE_FILE`].
    pub image_dir: &'a Path,
    /// Where the compiled code of instrumented modules is kept: the linked module is the same
    /// from one edit of the app to the next, and compiling it is most of a snapshot's time.
    pub code_cache: &'a Path,
}

/// Snapshots the linked module after its start: `wizer-initialize` for a command; for a library
/// (a reactor), its `_initialize` first, whose place in the output `pywasm-resume` takes. A
/// command with `train` (the training run's arguments) is run once first, and the modules its
/// entry function imports are imported into the snapshot too. A failure is explained from the
/// traceback; `unavailable` names the C modules the build knows are missing.
pub fn snapshot(
    inputs: &Inputs,
    unavailable: &[Unavailable],
    library: Option<&Library>,
    train: Option<&[String]>,
) -> Result<Snapshot> {
    let mut wizer = Wizer::new();
    wizer.init_func(INIT_EXPORT);
    if library.is_some() {
        wizer.func_rename("_initialize", LIBRARY_RESUME_EXPORT);
    }
    std::thread::scope(|scope| {
        // wizer's context for the snapshot comes from instrumenting, which runs beside the
        // build-time runs when the instrumented module's code is cached.
        let instrumenting = scope.spawn(|| {
            wizer
                .instrument(inputs.linked)
                .map_err(|e| anyhow!("{e:?}"))
                .context("wasmtime-wizer cannot instrument the linked module")
        });
        let instrumenting = RefCell::new(Instrumenting::Running(instrumenting));
        let context = || instrumenting.borrow_mut().context();
        let runtime = Runtime::with_config(&run_once_config(), Some(inputs.code_cache.into()))?;
        // The same linked module instruments to the same bytes: its compiled code is found by
        // the linked bytes and how they are instrumented, before instrumenting ends.
        let key = [inputs.linked, format!("{wizer:?}").as_bytes()].concat();
        let (module, reused_code) = runtime
            .load_keyed(&key, || instrumenting.borrow_mut().bytes())
            .context("failed to compile the module for pre-initialisation")?;
        let snapshot = taken(&TakeArgs {
            wizer: &wizer,
            context: &context,
            engine: runtime.engine(),
            module: &module,
            inputs,
            unavailable,
            library,
            train,
        })?;
        Ok(Snapshot {
            reused_code,
            ..snapshot
        })
    })
}

/// wizer's instrumentation of the linked module, on its own thread until the snapshot needs it.
enum Instrumenting<'scope, 'a> {
    Running(std::thread::ScopedJoinHandle<'scope, Result<(ModuleContext<'a>, Vec<u8>)>>),
    Done(Box<ModuleContext<'a>>),
    Failed,
}

impl<'a> Instrumenting<'_, 'a> {
    /// Waits for the instrumented module's bytes; they are handed out once.
    fn bytes(&mut self) -> Result<Vec<u8>> {
        match std::mem::replace(self, Instrumenting::Failed) {
            Instrumenting::Running(handle) => {
                let (cx, bytes) = handle
                    .join()
                    .map_err(|_| anyhow!("wasmtime-wizer panicked while instrumenting"))??;
                *self = Instrumenting::Done(Box::new(cx));
                Ok(bytes)
            }
            Instrumenting::Done(_) => bail!("internal error: the instrumented bytes were taken"),
            Instrumenting::Failed => bail!("wasmtime-wizer cannot instrument the linked module"),
        }
    }

    /// Waits for wizer's context of the module, which the snapshot needs.
    fn context(&mut self) -> Result<ModuleContext<'a>> {
        if let Instrumenting::Running(_) = self {
            self.bytes()?;
        }
        match self {
            Instrumenting::Done(cx) => Ok((**cx).clone()),
            _ => bail!("wasmtime-wizer cannot instrument the linked module"),
        }
    }
}

struct TakeArgs<'t, 'a> {
    wizer: &'t Wizer,
    context: &'t dyn Fn() -> Result<ModuleContext<'a>>,
    engine: &'t Engine,
    module: &'t Module,
    inputs: &'t Inputs<'a>,
    unavailable: &'t [Unavailable],
    library: Option<&'t Library>,
    train: Option<&'t [String]>,
}

/// The training run, then the run whose state is the snapshot.
fn taken(args: &TakeArgs) -> Result<Snapshot> {
    let TakeArgs {
        wizer,
        context,
        engine,
        module,
        inputs,
        unavailable,
        library,
        train,
    } = *args;
    let image = Some(inputs.image_dir);
    let take = |env: &[(String, String)]| -> Result<Vec<u8>> {
        let sandbox = Sandbox::new(engine, module, library.is_some(), env, image)?;
        let (mut store, instance) = start(sandbox, module, unavailable, library)?;
        let mut state = State {
            store: &mut store,
            instance,
        };
        block_on(wizer.snapshot(&context()?, &mut state))
            .map_err(|e| anyhow!("{e:?}"))
            .context("wasmtime-wizer cannot snapshot the initialised module")
    };
    let mut training = match (library, train) {
        (None, Some(args)) => Some(train::run(engine, module, args, inputs.image_dir)?),
        _ => None,
    };
    let bytes = match &training {
        Some(Training::Imports(found)) if !found.is_empty() => {
            match take(&[train::imports(found)]) {
                Ok(bytes) => bytes,
                // What a run imported may still not import at build time, or print there: the
                // snapshot is taken without it, and it is imported at run time as before.
                Err(_) => {
                    training = Some(Training::Failed(
                        "what it imported cannot be imported at build time".into(),
                    ));
                    take(&[])?
                }
            }
        }
        _ => take(&[])?,
    };
    Ok(Snapshot {
        bytes,
        training,
        reused_code: false,
    })
}

/// Instantiates the module in `sandbox` and runs its start (`wizer-initialize`, after a
/// library's `_initialize`); a failure is explained from the traceback, and anything printed
/// is refused.
fn start(
    sandbox: Sandbox,
    module: &Module,
    unavailable: &[Unavailable],
    library: Option<&Library>,
) -> Result<(Store<WasiP1Ctx>, Instance)> {
    let (mut store, stdout, stderr) = (sandbox.store, sandbox.stdout, sandbox.stderr);
    let instance = sandbox
        .linker
        .instantiate(&mut store, module)
        .map_err(anyhow::Error::from)
        .context("failed to instantiate the module for pre-initialisation")?;
    let output = |pipe: &MemoryOutputPipe| String::from_utf8_lossy(&pipe.contents()).into_owned();
    let calls: &[&str] = if library.is_some() {
        &["_initialize", INIT_EXPORT]
    } else {
        &[INIT_EXPORT]
    };
    for call in calls {
        let init = instance
            .get_typed_func::<(), ()>(&mut store, call)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("the linked module has no `{call}` export"))?;
        let Err(err) = init.call(&mut store, ()) else {
            continue;
        };
        let stderr = output(&stderr);
        return Err(match err.downcast_ref::<I32Exit>() {
            Some(I32Exit(EXIT_PYTHON_FAILED)) => {
                match library.and_then(|l| unusable_export(&stderr, l)) {
                    Some(err) => return Err(err),
                    None => raised(&stderr, unavailable),
                }
            }
            Some(I32Exit(code)) => {
                anyhow!("the interpreter exited with status {code} while starting:\n{stderr}")
                    .context(PREINIT_HINT)
            }
            None => anyhow::Error::from(err)
                .context(format!(
                    "the module trapped while starting; its stderr:\n{stderr}"
                ))
                .context(PREINIT_HINT),
        })
        .context("pre-initialisation failed");
    }
    let printed = [output(&stdout), output(&stderr)].concat();
    if !printed.is_empty() {
        bail!(
            "importing the entry module at build time printed:\n{}\n{PREINIT_HINT}",
            printed.trim_end()
        );
    }
    Ok((store, instance))
}

/// `pywasm._exports.register` refused an export (not callable, an annotation the ABI cannot
/// decode): the error points at the export in `pyproject.toml`.
pub fn unusable_export(traceback: &str, library: &Library) -> Option<anyhow::Error> {
    let last = traceback.trim_end().lines().last()?;
    let message = last.strip_prefix("pywasm._exports.ExportError: ")?;
    let name = message.strip_prefix("export `")?.split('`').next()?;
    let export = library.exports.iter().find(|e| e.name == name)?;
    let help = if message.contains("WIT") {
        "in a component, exports take and return str, bytes, int, float, bool, Optional[T], \
         list[T], dataclasses or TypedDicts, each as a WIT type; see docs/abi.md, \"Components\""
    } else {
        "exports take and return bytes, str, JSON types (int, float, bool, None, list, dict), \
         dataclasses or TypedDicts; see docs/abi.md"
    };
    Some(
        Diagnostic::new(message)
            .at_opt(export.target.origin.as_ref())
            .help(help)
            .into(),
    )
}

/// The error for an exception raised while importing the entry module, with the help that fits
/// its cause: a missing C module names what provides it, a module missing from the bundle
/// names `dependencies` and `include`, and only what may come from the build-time
/// surroundings (environment, arguments, files) gets the advice about top-level code.
fn raised(traceback: &str, unavailable: &[Unavailable]) -> anyhow::Error {
    let last = traceback.trim_end().lines().last().unwrap_or_default();
    let (kind, message) = last.split_once(": ").unwrap_or((last, ""));
    let what =
        format!("importing the entry module at build time raised an exception:\n{traceback}");
    if kind == "ModuleNotFoundError" {
        let name = message
            .strip_prefix("No module named '")
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_default();
        if let Some(missing) = unavailable
            .iter()
            .find(|u| u.module == name || name.starts_with(&format!("{}.", u.module)))
        {
            return anyhow!(
                Diagnostic::new(format!(
                    "the stdlib C module `{}` is not available in this build",
                    missing.module
                ))
                .help(&missing.help)
            )
            .context(what);
        }
        return anyhow!(
            Diagnostic::new(format!("`{name}` is not in the bundle")).help(
                "add the distribution that provides it to [project] dependencies; if pywasm left \
                 a stdlib module out, add it to `include` under [tool.pywasm]"
            )
        )
        .context(what);
    }
    const SURROUNDINGS: &[&str] = &[
        "KeyError",
        "IndexError",
        "OSError",
        "FileNotFoundError",
        "PermissionError",
        "IsADirectoryError",
        "NotADirectoryError",
    ];
    if SURROUNDINGS.contains(&kind) {
        return anyhow!("{what}").context(PREINIT_HINT);
    }
    anyhow!("{what}").context(
        "the entry module raises this when it is imported; if it depends on something only a \
         run has, move that code into the entry function or set `preinit = false` under \
         [tool.pywasm]",
    )
}

const PREINIT_HINT: &str = "pre-initialisation runs the entry module's top-level code at build \
time, where nothing may be printed and no arguments, environment or files are available: move \
that code into the entry function, or set `preinit = false` under [tool.pywasm]";

struct State<'a> {
    store: &'a mut Store<WasiP1Ctx>,
    instance: Instance,
}

impl InstanceState for State<'_> {
    async fn global_get(&mut self, name: &str, _: ValType) -> SnapshotVal {
        let global = self
            .instance
            .get_global(&mut *self.store, name)
            .expect("wizer names only globals the instrumented module exports");
        match global.get(&mut *self.store) {
            Val::I32(x) => SnapshotVal::I32(x),
            Val::I64(x) => SnapshotVal::I64(x),
            Val::F32(x) => SnapshotVal::F32(x),
            Val::F64(x) => SnapshotVal::F64(x),
            Val::V128(x) => SnapshotVal::V128(x.as_u128()),
            other => panic!("a global of type {:?} cannot be snapshotted", other),
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        let memory = self
            .instance
            .get_memory(&mut *self.store, name)
            .expect("wizer names only memories the instrumented module exports");
        contents(memory.data(&*self.store))
    }
}

/// Drives a future that never waits: wizer's API is async, our instance state is not.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = TaskContext::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}
