//! The build plan: plain data derived from `pyproject.toml` and the command line, and everything
//! the later stages need to know about the project. Nothing here touches the file system.

use std::path::PathBuf;

use crate::library::{ModuleKind, WitNames};
use crate::diagnostic::Origin;
use crate::postprocess::optimize::Optimize;
use crate::preinit::Teardown;
use crate::pycompile::Docstrings;

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
    /// Where top-level packages and modules come from, in sys.path order.
    pub sources: Vec<SourceRoot>,
    pub output: PathBuf,
    /// Seconds since the epoch stamped on every embedded file.
    pub source_date_epoch: u64,
    pub guest: GuestLayout,
    pub optimize: Optimize,
    /// Keep names and debug information.
    pub debug: bool,
    /// Publish a WASI 0.2 command component instead of the core module.
    pub component: bool,
    /// In a component, exit through `exit-with-code` (`templates/exit_code.c`).
    pub component_exit_codes: bool,
    /// A library built as a component: the WIT names of its world, exports and imports.
    pub wit: Option<WitNames>,
    /// Snapshot the started interpreter into the module (`crate::preinit`).
    pub preinit: bool,
    /// Imported at build time besides the entry module.
    pub preinit_imports: Vec<String>,
    /// The arguments of the training run before a command's snapshot, or `None` for none.
    pub preinit_train: Option<Vec<String>>,
    /// When a command's run tears the interpreter down at exit.
    pub teardown: Teardown,
    /// Keep the stdlib's sources; otherwise only its bytecode is embedded, where CPython's
    /// sourceless loader finds it (`json/decoder.pyc`).
    pub stdlib_sources: bool,
    /// Which bytecode is compiled without docstrings.
    pub docstrings: Docstrings,
    /// Bytes the in-memory `/tmp` may hold; 0 for none.
    pub tmp_size: u64,
    /// Bytes of C stack, at the bottom of linear memory.
    pub stack_size: u64,
    /// Where `pywasm.lock` is read and written: the project directory, or for a test module
    /// its own directory, so the app's lock is never touched.
    pub lock_dir: PathBuf,
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
