//! The recipe format: `recipes/<name>.toml` of this crate, compiled into the binary. A recipe is data: which pinned sources to
//! unpack, which libraries to build (autotools, cargo, or plain C files), which extension
//! modules to compile, and what goes into the wheel. The code that carries it out is shared by
//! every recipe.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Recipe {
    pub wheel: WheelSpec,
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceUse>,
    /// Autotools projects, configured for wasm32 and built in their source tree.
    #[serde(default)]
    pub autotools: Vec<Autotools>,
    /// Host commands run before the wasm builds (e.g. generating SQLite's amalgamation).
    #[serde(default)]
    pub host: Vec<HostStep>,
    /// Rust crates built as staticlibs for wasm32-wasip1.
    #[serde(default)]
    pub cargo: Vec<CargoStep>,
    /// Static libraries compiled from C files.
    #[serde(default, rename = "library")]
    pub libraries: Vec<CLibrary>,
    #[serde(default, rename = "module")]
    pub modules: Vec<ModuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WheelSpec {
    /// The distribution name, as dependencies name it.
    pub distribution: String,
    /// The pinned source whose version the wheel carries.
    pub version_from: String,
    /// A PKG-INFO to use as METADATA (keeps `Requires-Dist`); else a minimal one is written.
    pub metadata_from: Option<String>,
    pub summary: String,
    /// Python packages (directories in the build tree) copied into the wheel.
    #[serde(default)]
    pub packages: Vec<PackageSpec>,
    /// Libraries from the WASI sysroot the modules need, linked as `-l<name>`.
    #[serde(default)]
    pub link_libraries: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PackageSpec {
    pub from: String,
    pub to: String,
    /// Name patterns (`*.c`, `tests`) left out: a file whose name, or any directory on whose
    /// path, matches one.
    #[serde(default)]
    pub exclude: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SourceUse {
    /// The `[sources.<pin>]` entry of `wasi-sdk.toml`.
    pub pin: String,
    /// The directory the archive's top-level directory becomes.
    pub into: String,
    /// Only these paths (below the top-level directory) are unpacked.
    #[serde(default)]
    pub members: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Autotools {
    pub dir: String,
    #[serde(default)]
    pub configure: Vec<String>,
    /// `make` runs, each a list of arguments (targets, `-C dir`).
    pub make: Vec<Vec<String>>,
    /// Archives it produces that go into the wheel, relative to the build tree.
    #[serde(default)]
    pub archives: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HostStep {
    pub dir: String,
    /// A program and its arguments, run with the host's tools.
    pub run: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CargoStep {
    pub dir: String,
    /// The staticlib produced, relative to the crate directory's target directory for
    /// wasm32-wasip1 (`release/lib<name>.a`).
    pub staticlib: String,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub rustflags: Vec<String>,
    /// A PyO3 crate: point `PYO3_CONFIG_FILE` at the SDK's static CPython.
    #[serde(default)]
    pub pyo3: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CLibrary {
    pub name: String,
    /// C files, relative to the build tree; `*` matches within one path component.
    pub sources: Vec<String>,
    #[serde(default)]
    pub cflags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ModuleSpec {
    /// Dotted import name.
    pub name: String,
    /// The init symbol in the wheel. When it differs from `PyInit_<last component>`, the C
    /// sources are compiled with `-DPyInit_<last>=<init>`, so two packages can never clash.
    pub init: Option<String>,
    /// C files of the module.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Or an archive another step built (relative to the build tree).
    pub archive: Option<String>,
    #[serde(default)]
    pub cflags: Vec<String>,
    /// Modules the extension imports from C, for pywasm's import scan.
    #[serde(default)]
    pub imports: Vec<String>,
}

impl Recipe {
    /// Parses a recipe; `file` names it in errors (`sqlite3.toml:5:1`).
    pub fn parse(file: &str, text: &str) -> Result<Recipe> {
        let recipe: Recipe = toml::from_str(text).map_err(|e| {
            let at = crate::diagnostic::locate(Path::new(file), text, e.span());
            anyhow::anyhow!("recipe `{at}`: {}", e.message().trim())
        })?;
        for module in &recipe.modules {
            if module.sources.is_empty() == module.archive.is_none() {
                bail!(
                    "recipe `{file}`: module `{}` needs either `sources` or `archive`",
                    module.name
                );
            }
        }
        Ok(recipe)
    }
}

impl ModuleSpec {
    pub fn default_init(&self) -> String {
        crate::python::extensions::default_init(&self.name)
    }

    pub fn init(&self) -> String {
        self.init.clone().unwrap_or_else(|| self.default_init())
    }

    /// A file-name-safe stem for the module's archive.
    pub fn stem(&self) -> String {
        self.name.replace('.', "_")
    }
}
