//! The build plan: plain data derived from `pyproject.toml` and the command line, and everything
//! the later stages need to know about the project, resolved once. Only finding the source
//! roots looks at the file system; nothing here writes to it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, Result};

use crate::diagnostic::{Diagnostic, Origin};
use crate::manifest::{DependencySpec, Manifest};
use crate::module::library::{ModuleKind, WitNames};
use crate::settings::Settings;

/// 1980-01-01, the earliest time a zip archive can record; used when `SOURCE_DATE_EPOCH` is not
/// set so that builds are reproducible by default.
pub const DEFAULT_SOURCE_DATE_EPOCH: u64 = 315_532_800;

#[derive(Clone, Debug)]
pub struct BuildPlan {
    pub project_dir: PathBuf,
    pub manifest_path: PathBuf,
    pub name: String,
    pub version: String,
    /// A command and its entry point, or a library and its exports.
    pub kind: ModuleKind,
    /// What the build publishes: a core module or a component.
    pub output_kind: OutputKind,
    /// Where top-level packages and modules come from, in sys.path order.
    pub sources: Vec<SourceRoot>,
    pub output: PathBuf,
    /// Seconds since the epoch stamped on every embedded file.
    pub source_date_epoch: u64,
    pub guest: GuestLayout,
    /// `[tool.pywasm]` with the command line's overrides.
    pub settings: Settings,
    /// Keep names and debug information.
    pub debug: bool,
    /// What to resolve: `pyproject.toml`'s dependencies, and the extras the command line adds.
    pub deps: DependencySpec,
    pub extras: Vec<String>,
    /// Never download: a missing distribution is an error naming the command that fetches it.
    pub offline: bool,
    /// Build the WASI wheels pywasm's recipes provide when a dependency or a stdlib module
    /// needs one that is not built yet.
    pub build_missing: bool,
    /// The project's entry points by group, for its own `entry_points.txt` in the module.
    pub entry_points: BTreeMap<String, BTreeMap<String, String>>,
    /// Where `pywasm.lock` is read and written: the project directory, or for a test module
    /// its own directory, so the app's lock is never touched.
    pub lock_dir: PathBuf,
}

/// What a build publishes. A new kind (an Extism plug-in, say) is a variant here and a step in
/// `pipeline::package`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// A core module for WASI preview 1: a command (`_start`) or a library (a reactor).
    Module,
    /// A command wrapped into a WASI 0.2 command component. With `exit_codes` it exits through
    /// `wasi:cli/exit.exit-with-code` (`templates/exit_code.c`); without, every failure is 1.
    CommandComponent { exit_codes: bool },
    /// A library wrapped into a WASI 0.2 component with typed exports: the WIT names of its
    /// world, exports and imports.
    LibraryComponent(WitNames),
}

impl OutputKind {
    /// The WIT names of a library component.
    pub fn wit(&self) -> Option<&WitNames> {
        match self {
            OutputKind::LibraryComponent(names) => Some(names),
            _ => None,
        }
    }
}

impl BuildPlan {
    /// Resolves the manifest and the command line into the plan, once: the settings with their
    /// overrides, the output kind and path, the source roots, the guest layout of the chosen
    /// CPython. Reads `SOURCE_DATE_EPOCH` and, for a relative `--output`, the current
    /// directory.
    pub fn new(
        manifest: Manifest,
        pins: &crate::sdk::pins::Pins,
        options: &crate::pipeline::BuildOptions,
    ) -> Result<BuildPlan> {
        let source_date_epoch = match options.source_date_epoch {
            Some(epoch) => epoch,
            None => source_date_epoch_from_env()?,
        };
        let settings = manifest.settings.clone().with(&options.overrides);
        let kind = match &options.tests {
            Some(_) => ModuleKind::Command(crate::runner::testing::TestBuild::entry()),
            None => manifest.kind.clone(),
        };
        let output_kind = match &kind {
            _ if !settings.component => OutputKind::Module,
            ModuleKind::Library(library) => {
                OutputKind::LibraryComponent(WitNames::new(&manifest.name, library)?)
            }
            ModuleKind::Command(_) => OutputKind::CommandComponent {
                exit_codes: settings.component_exit_codes,
            },
        };
        let mut sources = crate::python::collect::source_roots(&manifest)?;
        let mut lock_dir = manifest.dir.clone();
        let mut default_output = manifest.output.clone();
        if let Some(tests) = &options.tests {
            tests.extend_sources(&mut sources);
            lock_dir = tests.dir.clone();
            default_output = tests.output(&manifest.name);
        }
        let output = match &options.output {
            Some(out) if out.is_absolute() => out.clone(),
            Some(out) => std::env::current_dir()
                .context("failed to read the current directory")?
                .join(out),
            None => default_output,
        };
        Ok(BuildPlan {
            project_dir: manifest.dir,
            manifest_path: manifest.path,
            name: manifest.name,
            version: manifest.version,
            kind,
            output_kind,
            sources,
            output,
            source_date_epoch,
            guest: GuestLayout::for_python(
                settings.python.as_deref().unwrap_or(pins.python_minor()),
            ),
            settings,
            debug: options.debug,
            deps: manifest.deps,
            extras: options.extras.clone(),
            offline: options.offline,
            build_missing: options.build_missing,
            entry_points: manifest.entry_points,
            lock_dir,
        })
    }

    /// The library the module is, if it is one.
    pub fn library(&self) -> Option<&crate::module::library::Library> {
        match &self.kind {
            ModuleKind::Library(library) => Some(library),
            ModuleKind::Command(_) => None,
        }
    }
}

fn source_date_epoch_from_env() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) if !value.trim().is_empty() => value.trim().parse().map_err(|_| {
            Diagnostic::new(format!(
                "`SOURCE_DATE_EPOCH` must be a whole number of seconds since 1970, not `{value}`"
            ))
            .help("set it to a number such as `315532800`, or unset it for that default")
            .into()
        }),
        _ => Ok(DEFAULT_SOURCE_DATE_EPOCH),
    }
}

/// Where things live inside the module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestLayout {
    /// `sys.prefix`.
    pub python_home: String,
    pub stdlib_dir: String,
    /// Where dependencies are installed, after the stdlib on `sys.path` as in a venv.
    pub site_dir: String,
    pub app_dir: String,
}

impl GuestLayout {
    /// The layout CPython for WASI was configured with (`--prefix=/usr/local`), so `sysconfig`
    /// and friends agree with where the files are.
    pub fn for_python(minor: &str) -> GuestLayout {
        GuestLayout {
            python_home: "/usr/local".into(),
            stdlib_dir: format!("/usr/local/lib/python{minor}"),
            site_dir: format!("/usr/local/lib/python{minor}/site-packages"),
            app_dir: "/app".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// `src/`: everything in it is the project's.
    SrcLayout,
    /// The project directory itself: only what looks like the project's packages and modules.
    FlatLayout,
    /// Listed in `[tool.pywasm] sources`: a directory taken whole, or one `.py` file.
    Listed,
    /// A directory placed under the app directory by its own name (`tests/` at `/app/tests`), as
    /// a single `.py` file is.
    Named,
}

#[derive(Clone, Debug)]
pub struct SourceRoot {
    pub path: PathBuf,
    pub kind: SourceKind,
    pub origin: Option<Origin>,
}
