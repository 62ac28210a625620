//! `pywasm lock`: the resolve stage alone, written to `pywasm.lock`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;

use super::{display_rel, inputs};
use crate::Shell;
use crate::python::resolve::{self, Resolution};
use crate::sdk::SdkHome;
use crate::shell::seconds;

/// What `pywasm lock` is asked (the doc comments are its `--help`).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct LockOptions {
    /// The project directory.
    #[arg(value_name = "DIR", default_value = ".")]
    pub project_dir: PathBuf,
    /// Optional-dependency groups to include, on top of `[tool.pywasm] extras`.
    #[arg(long, value_delimiter = ',')]
    pub extras: Vec<String>,
    /// Defaults to `PYWASM_HOME`, then the user's cache directory.
    #[arg(skip)]
    pub home: Option<SdkHome>,
    /// Build the WASI wheels of pywasm's recipes (lxml, pydantic-core) that a dependency needs
    /// and this machine has not built yet.
    #[arg(long)]
    pub build_missing: bool,
}

/// Resolves the project's dependencies afresh with pip and writes `pywasm.lock`.
pub fn lock(options: &LockOptions, shell: &Shell) -> Result<Resolution> {
    let start = Instant::now();
    let (pins, home, manifest) = inputs(&options.home, &options.project_dir)?;
    let pins = pins.with_python(manifest.settings.python.as_deref())?;
    // The native CPython of a version built here, when it is: pip runs on it (see `Pip::find`).
    let native = crate::sdk::locate(&pins, &home, pins.toolchain.default)
        .ok()
        .and_then(|sdk| sdk.python.native_python());
    let cx = resolve::ResolveContext {
        shell,
        home: &home,
        project_dir: &manifest.dir,
        manifest_path: &manifest.path,
        python_minor: pins.python_minor(),
        native_python: native.as_deref(),
        offline: false,
        wheel_limits: manifest.settings.wheel_limits,
    };
    let (requirements, inputs) =
        resolve::requirements(&manifest.deps, &options.extras, pins.python_minor())?;
    let resolution = crate::recipes::retry_with_missing(
        shell,
        &home,
        pins.python_minor(),
        options.build_missing,
        || resolve::fresh(&cx, &manifest.deps, &requirements, inputs.clone()),
    )?;
    let path = resolution.lock().save(&manifest.dir)?;
    for dist in &resolution.dists {
        shell.verbose(&format!(
            "{} {} ({})",
            dist.locked.name, dist.locked.version, dist.locked.file
        ));
    }
    shell.status(
        "Locked",
        &format!(
            "{} distributions in `{}` in {}",
            resolution.dists.len(),
            display_rel(&path, &manifest.dir),
            seconds(start.elapsed())
        ),
    );
    Ok(resolution)
}
