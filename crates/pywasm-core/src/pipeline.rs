//! The build driver. Each stage is a function from the previous stages' named outputs to its
//! own, reading settings only from the [`BuildPlan`] in its [`Context`]; no stage changes what
//! another returned (a stage that narrows one takes it by value and returns a new type).
//! [`build`] finds the inputs and makes the plan; `run` is the list of stage calls, each of
//! which reports itself in a status line with its timing.
//!
//! ```text
//! plan → resolve → collect → install → compile → select → bundle → link → snapshot → optimize
//!      → package → publish
//! ```

mod bundle;
mod compile;
mod contents;
mod link;
mod lock;
mod package;
mod select;
mod snapshot;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result};

use crate::manifest::Manifest;
use crate::module::postprocess::optimize::Optimize;
use crate::plan::BuildPlan;
use crate::python::collect::{self, Collected};
use crate::python::install::{self, Installed};
use crate::python::resolve::{self, Resolution};
use crate::sdk::pins::{Pins, ToolchainKind};
use crate::sdk::{self, Sdk, SdkHome};
use crate::settings::Overrides;
use crate::shell::{human_size, seconds, timed};
use crate::{Shell, module::checksum, recipes};

pub use contents::Contents;
pub use lock::{LockOptions, lock};

/// What the command line (or a test) asks of a build: `pywasm build`'s arguments, as they are
/// (the doc comments are its `--help`).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct BuildOptions {
    /// The project directory.
    #[arg(value_name = "DIR", default_value = ".")]
    pub project_dir: PathBuf,
    /// Where to write the module (default: `[tool.pywasm] output`, else dist/<name>.wasm).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The C toolchain (default: `PYWASM_TOOLCHAIN`, else as pinned in wasi-sdk.toml).
    #[arg(long, value_enum)]
    pub toolchain: Option<ToolchainKind>,
    /// Do not download a missing SDK; fail and say how to get it.
    #[arg(long)]
    pub offline: bool,
    /// Keep the work directory with the generated C and the image.
    #[arg(long)]
    pub keep_work: bool,
    /// Build the WASI wheels of pywasm's recipes (lxml, pydantic-core, zlib, sqlite3) that a
    /// dependency or an imported stdlib module needs and this machine has not built yet.
    #[arg(long, conflicts_with = "offline")]
    pub build_missing: bool,
    /// Defaults to `SOURCE_DATE_EPOCH`, then to [`crate::plan::DEFAULT_SOURCE_DATE_EPOCH`].
    #[arg(skip)]
    pub source_date_epoch: Option<u64>,
    /// Defaults to `PYWASM_HOME`, then the user's cache directory.
    #[arg(skip)]
    pub home: Option<SdkHome>,
    /// Optional-dependency groups to include, on top of `[tool.pywasm] extras`.
    #[arg(long, value_delimiter = ',')]
    pub extras: Vec<String>,
    #[command(flatten)]
    pub overrides: Overrides,
    /// Keep function names and debug information (stripped by default).
    #[arg(long)]
    pub debug: bool,
    /// Build the module `pywasm test` runs instead of the app's.
    #[arg(skip)]
    pub tests: Option<crate::runner::testing::TestBuild>,
}

#[derive(Clone, Debug)]
pub struct BuildOutcome {
    pub output: PathBuf,
    pub checksum_path: PathBuf,
    pub sha256: String,
    pub size: u64,
    /// Set when the work directory was kept.
    pub work_dir: Option<PathBuf>,
    pub contents: Contents,
    /// The WIT world of a library built as a component.
    pub wit: Option<String>,
    /// The CPython the module runs.
    pub python: PythonUsed,
}

/// The CPython a module was built with, and the native build of the same version where the SDK
/// has one (built from a release tarball), for comparisons with native CPython.
#[derive(Clone, Debug)]
pub struct PythonUsed {
    /// `3.13.5`.
    pub version: String,
    /// `3.13`.
    pub minor: String,
    pub native: Option<PathBuf>,
}

/// What every stage reads: the plan and the machine. Stages write below `work` and into the
/// caches of `home`, whose entries are keyed by their inputs' hashes.
pub(crate) struct Context<'a> {
    pub shell: &'a Shell,
    pub home: &'a SdkHome,
    pub sdk: &'a Sdk,
    /// Set when the plan optimises.
    pub binaryen: Option<&'a sdk::Binaryen>,
    pub plan: &'a BuildPlan,
    pub work: &'a Path,
}

/// A validated module, and what went into it.
struct Built {
    bytes: Vec<u8>,
    wit: Option<String>,
    contents: Contents,
}

pub fn build(options: &BuildOptions, shell: &Shell) -> Result<BuildOutcome> {
    let start = Instant::now();
    let (pins, home, manifest) = inputs(&options.home, &options.project_dir)?;
    let manifest = match &options.tests {
        Some(tests) => tests.manifest(manifest),
        None => manifest,
    };
    let kind = toolchain_kind(options, &pins)?;
    let plan = BuildPlan::new(manifest, &pins, options)?;
    sdk::lock::check_writable(&home)?;
    let pins = pins.with_python(plan.settings.python.as_deref())?;
    let sdk = sdk::ensure(&pins, &home, shell, kind, options.offline)?;
    let binaryen = match plan.settings.optimize_level() {
        Optimize::None => None,
        _ => Some(sdk::ensure_binaryen(&pins, &home, shell, plan.offline)?),
    };
    shell.status(
        "Building",
        &format!(
            "{} v{} ({})",
            plan.name,
            plan.version,
            plan.project_dir.display()
        ),
    );
    let work = tempfile::Builder::new()
        .prefix("pywasm-build-")
        .tempdir()
        .context("failed to create a work directory")?;
    let cx = Context {
        shell,
        home: &home,
        sdk: &sdk,
        binaryen: binaryen.as_ref(),
        plan: &plan,
        work: work.path(),
    };
    let built = match run(&cx) {
        Ok(built) => built,
        Err(err) if options.keep_work => {
            let dir = work.keep();
            shell.status("Kept", &format!("work directory `{}`", dir.display()));
            return Err(err);
        }
        Err(err) => return Err(err),
    };
    let published = checksum::publish(&built.bytes, &plan.output)?;
    let work_dir = options.keep_work.then(|| work.keep());
    if let Some(dir) = &work_dir {
        shell.status("Kept", &format!("work directory `{}`", dir.display()));
    }
    shell.status(
        "Finished",
        &format!(
            "`{}` ({}, sha256 {}) in {}",
            display_rel(&published.path, &plan.project_dir),
            human_size(published.size),
            &published.sha256[..16],
            seconds(start.elapsed())
        ),
    );
    shell.artifact(
        &published.path,
        published.size,
        &published.sha256,
        &published.checksum_path,
    );
    Ok(BuildOutcome {
        output: published.path,
        checksum_path: published.checksum_path,
        sha256: published.sha256,
        size: published.size,
        work_dir,
        contents: built.contents,
        wit: built.wit,
        python: PythonUsed {
            version: sdk.python.version.clone(),
            minor: sdk.python.minor.clone(),
            native: sdk.python.native_python(),
        },
    })
}

/// The stages, in order.
fn run(cx: &Context) -> Result<Built> {
    let resolved = resolve(cx)?;
    let collected = collect(cx)?;
    // Found before anything installs, so that a wrong entry point stops the build early.
    let entries = compile::entry_files(cx.plan, &collected.app)?;
    let installed = install(cx, &resolved)?;
    let compiled = compile::compile(cx, &collected, &entries, &installed)?;
    let selected = select::select(cx, collected, installed, compiled)?;
    let image = bundle::bundle(cx, &selected)?;
    let linked = link::link(cx, &selected, &image)?;
    let snapshotted = snapshot::snapshot(cx, linked, &image, &selected)?;
    let optimized = package::optimize(cx, snapshotted)?;
    let artifact = package::package(cx, optimized, &selected, &image)?;
    Ok(Built {
        bytes: artifact.bytes,
        wit: artifact.wit,
        contents: Contents::new(&selected)?,
    })
}

fn resolve(cx: &Context) -> Result<Resolution> {
    timed(cx.shell, "Resolved", || {
        let plan = cx.plan;
        let native = cx.sdk.python.native_python();
        let rcx = resolve::ResolveContext {
            shell: cx.shell,
            home: cx.home,
            project_dir: &plan.lock_dir,
            manifest_path: &plan.manifest_path,
            python_minor: &cx.sdk.python.minor,
            native_python: native.as_deref(),
            offline: plan.offline,
            wheel_limits: plan.settings.wheel_limits,
        };
        let resolution = recipes::retry_with_missing(
            cx.shell,
            cx.home,
            &cx.sdk.python.minor,
            plan.build_missing,
            || resolve::dependencies(&rcx, &plan.deps, &plan.extras),
        )?;
        let message = format!("{} distributions", resolution.dists.len());
        Ok((resolution, message))
    })
}

fn collect(cx: &Context) -> Result<Collected> {
    timed(cx.shell, "Collected", || {
        let plan = cx.plan;
        let mut sources = plan.sources.clone();
        if plan.library().is_some() {
            sources.push(crate::module::library::write_guest_package(
                cx.work,
                plan.output_kind.wit().is_some(),
            )?);
        }
        let app = collect::app_files(&sources, &plan.guest.app_dir)?;
        let stdlib = collect::stdlib_files(&cx.sdk.python.stdlib_dir(), &plan.guest.stdlib_dir)?;
        let message = format!("{} app files, {} stdlib files", app.len(), stdlib.len());
        Ok((Collected { app, stdlib }, message))
    })
}

fn install(cx: &Context, resolution: &Resolution) -> Result<Installed> {
    timed(cx.shell, "Installed", || {
        let plan = cx.plan;
        let site_host = site_host(cx);
        let site = install::SiteDirs {
            host: &site_host,
            guest: &plan.guest.site_dir,
        };
        let project = install::ProjectMetadata {
            name: &plan.name,
            version: &plan.version,
            entry_points: &plan.entry_points,
        };
        let installed = install::install(
            resolution,
            &project,
            &site,
            &cx.sdk.python.minor,
            plan.settings.wheel_limits,
        )?;
        let message = format!(
            "{} distributions, {} extension modules",
            installed.dists.len(),
            installed.extensions.modules.len()
        );
        Ok((installed, message))
    })
}

/// Where dependencies are installed on the host while building.
fn site_host(cx: &Context) -> PathBuf {
    install::host_site_dir(cx.work)
}

/// What every command starts from: the pins, the home (given, or from the environment) and the
/// project's manifest.
fn inputs(home: &Option<SdkHome>, project_dir: &Path) -> Result<(Pins, SdkHome, Manifest)> {
    let pins = Pins::embedded()?;
    let home = match home {
        Some(home) => home.clone(),
        None => SdkHome::from_env()?,
    };
    let manifest = Manifest::load(project_dir)?;
    Ok((pins, home, manifest))
}

fn toolchain_kind(options: &BuildOptions, pins: &Pins) -> Result<ToolchainKind> {
    if let Some(kind) = options.toolchain {
        return Ok(kind);
    }
    match std::env::var("PYWASM_TOOLCHAIN") {
        Ok(name) if !name.is_empty() => {
            ToolchainKind::parse(&name).context("in the environment variable `PYWASM_TOOLCHAIN`")
        }
        _ => Ok(pins.toolchain.default),
    }
}

fn display_rel(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}
