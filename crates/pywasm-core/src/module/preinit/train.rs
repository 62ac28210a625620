//! The training run (`[tool.pywasm] preinit-train`): before the snapshot, the entry function
//! runs once in the build-time sandbox, and the modules it imports on the way are imported into
//! the snapshot too, so that a run does not pay for them. A CLI's lazy imports (argparse's
//! `shutil`, gettext's `locale`) cost hello more than all the rest of its start.
//!
//! The run sees what the snapshot sees (no files, environment or network, a fixed clock, empty
//! stdin) and what it prints is thrown away. Whatever it does, only the list of modules comes
//! out of it, so a failure costs the speed-up, never the build: it is reported in the status
//! line. `templates/main.c.in` (`PYWASM_TRAIN_CMD`) holds the guest's side.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use anyhow::Result;
use wasmtime::{Engine, Module};
use wasmtime_wasi::I32Exit;

use super::{INIT_EXPORT, Sandbox};

/// How long the training run may take: past it the run is stopped and nothing is learnt.
const TRAINING_LIMIT: Duration = Duration::from_secs(10);

/// What the guest writes before the names it found.
const MARKER: &str = "\npywasm-trained-imports: ";

/// What the training run found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Training {
    /// Modules the entry function imported, in the order it did.
    Imports(Vec<String>),
    /// Why nothing was learnt.
    Failed(String),
}

/// The build-time environment that asks the module's `wizer-initialize` for a training run
/// with `args` (argv after argv[0]).
pub fn request(args: &[String]) -> (String, String) {
    // Each argument as `x` and its bytes in hex, so that none is empty or holds a space.
    let encoded: Vec<String> = args
        .iter()
        .map(|arg| {
            arg.bytes().fold("x".to_owned(), |mut hex, byte| {
                let _ = write!(hex, "{byte:02x}");
                hex
            })
        })
        .collect();
    ("PYWASM_TRAIN".into(), encoded.join(" "))
}

/// The build-time environment that has the snapshot import what training found.
pub fn imports(found: &[String]) -> (String, String) {
    ("PYWASM_TRAINED_IMPORTS".into(), found.join(" "))
}

/// Runs the entry function of the instrumented command `module` once with `args`.
pub fn run(
    engine: &Engine,
    module: &Module,
    args: &[String],
    image_dir: &Path,
) -> Result<Training> {
    let sandbox = Sandbox::new(engine, module, false, &[request(args)], Some(image_dir))?;
    let (mut store, stderr) = (sandbox.store, sandbox.stderr);
    let instance = sandbox
        .linker
        .instantiate(&mut store, module)
        .map_err(anyhow::Error::from)?;
    let init = instance
        .get_typed_func::<(), ()>(&mut store, INIT_EXPORT)
        .map_err(anyhow::Error::from)?;
    store.set_epoch_deadline(1);
    let (done, wait) = mpsc::channel::<()>();
    let ticker = engine.clone();
    let watchdog = std::thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = wait.recv_timeout(TRAINING_LIMIT) {
            ticker.increment_epoch();
        }
    });
    let ended = init.call(&mut store, ());
    drop(done);
    let _ = watchdog.join();
    let stderr = String::from_utf8_lossy(&stderr.contents()).into_owned();
    Ok(match ended {
        Err(err) if matches!(err.downcast_ref::<I32Exit>(), Some(I32Exit(0))) => {
            match stderr.rfind(MARKER) {
                Some(at) => Training::Imports(
                    stderr[at + MARKER.len()..]
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect(),
                ),
                None => Training::Failed("the entry function ended the process".into()),
            }
        }
        Err(err)
            if matches!(
                err.downcast_ref::<wasmtime::Trap>(),
                Some(wasmtime::Trap::Interrupt)
            ) =>
        {
            Training::Failed(format!(
                "the entry function still ran after {} s",
                TRAINING_LIMIT.as_secs()
            ))
        }
        Err(err) => match err.downcast_ref::<I32Exit>() {
            Some(I32Exit(code)) => Training::Failed(format!(
                "the entry function ended the process with status {code}"
            )),
            None => Training::Failed(format!("the entry function trapped: {}", err.root_cause())),
        },
        Ok(()) => Training::Failed("the module does not train".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_travel_as_hex_that_keeps_empty_and_spaced_ones() {
        let args = [
            "--name".to_owned(),
            "a b".to_owned(),
            String::new(),
            "é".to_owned(),
        ];
        assert_eq!(
            request(&args),
            (
                "PYWASM_TRAIN".to_owned(),
                "x2d2d6e616d65 x612062 x xc3a9".to_owned()
            )
        );
        assert_eq!(request(&[]).1, "");
    }
}
