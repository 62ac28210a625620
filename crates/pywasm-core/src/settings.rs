//! `[tool.pywasm]`: the serde type users write ([`PywasmConfig`], also the source of the JSON
//! schema), and the build settings it resolves to ([`Settings`]): every default in one place
//! ([`Settings::default`]), every value checked, and the command line's overrides applied once
//! ([`Settings::with`]). A new key is a field in each of the two types and a line in
//! [`Settings::read`].

use std::collections::BTreeMap;
use std::ops::Range;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::diagnostic::{Located, Origin};
use crate::limits::ArchiveLimits;
use crate::module::postprocess::optimize::{Optimize, Profile};
use crate::module::preinit::Teardown;
use crate::python::imports::StdlibMode;
use crate::python::pycompile::Docstrings;
use crate::sdk::pins::UnknownPython;
use crate::size::SizeSetting;

/// `[tool.pywasm]` as users write it.
/// Also the source of the JSON schema editors validate it with (`crate::schema`): the doc
/// comments are the descriptions, and `schemars(with)` gives each field its plain TOML type.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "[tool.pywasm]")]
pub struct PywasmConfig {
    /// The CPython the module runs: `"3.11"`, `"3.13"` or `"3.14"`. Default: `"3.13"` (see the
    /// README's "CPython versions").
    #[schemars(with = "Option<String>")]
    pub python: Option<Spanned<String>>,
    /// `module:function`, as in `[project.scripts]`. Default: the single `[project.scripts]` entry.
    #[schemars(with = "Option<String>")]
    pub entry: Option<Spanned<String>>,
    /// Directories (or single `.py` files) that hold the top-level packages and modules. Default:
    /// `["src"]` for a src layout, else the project directory.
    #[schemars(with = "Option<Vec<String>>")]
    pub sources: Option<Spanned<Vec<Spanned<String>>>>,
    /// Where the module is written, relative to the project directory. Default: `dist/<name>.wasm`.
    #[schemars(with = "Option<String>")]
    pub output: Option<Spanned<String>>,
    /// Names of `[project.optional-dependencies]` groups to include.
    #[schemars(with = "Option<Vec<String>>")]
    pub extras: Option<Spanned<Vec<Spanned<String>>>>,
    /// WASI wheels: wheel files, globs, unpacked wheel directories, or directories of wheels.
    #[schemars(with = "Option<Vec<String>>")]
    pub wheels: Option<Spanned<Vec<Spanned<String>>>>,
    /// Distributions used without their compiled extension modules (pure-Python fallbacks).
    #[schemars(with = "Option<Vec<String>>")]
    pub without_extensions: Option<Spanned<Vec<Spanned<String>>>>,
    /// Distributions that must keep their compiled extension modules: instead of falling back
    /// to a pure-Python build when they have no WASI wheel, the build stops.
    #[schemars(with = "Option<Vec<String>>")]
    pub require_extensions: Option<Spanned<Vec<Spanned<String>>>>,
    /// `size`, `speed` or `none`. Default: the profile's (`none` for `dev`, `size` for
    /// `release`).
    pub optimize: Option<Optimize>,
    /// `dev` (the default) or `release` (also `pywasm build --release`): the defaults of the
    /// settings left out.
    pub profile: Option<Profile>,
    /// Wrap the module into a WASI 0.2 component: a command, or a library with typed exports.
    /// Default: `false`.
    pub component: Option<bool>,
    /// Components exit with the module's status through `wasi:cli/exit.exit-with-code` (WASI
    /// 0.2.12); `false` keeps to older WASI 0.2 hosts, where every failure exits with 1.
    /// Default: `true`.
    pub component_exit_codes: Option<bool>,
    /// `reachable` (the default) or `full`.
    pub stdlib: Option<StdlibMode>,
    /// Modules to embed though no `import` statement names them (`email.mime.*`).
    #[schemars(with = "Option<Vec<String>>")]
    pub include: Option<Spanned<Vec<Spanned<String>>>>,
    /// Stdlib modules to leave out though something imports them.
    #[schemars(with = "Option<Vec<String>>")]
    pub exclude: Option<Spanned<Vec<Spanned<String>>>>,
    /// Start the interpreter and import the entry module at build time. Default: `true`.
    pub preinit: Option<bool>,
    /// Modules imported at build time as well, into the snapshot.
    #[schemars(with = "Option<Vec<String>>")]
    pub preinit_imports: Option<Spanned<Vec<Spanned<String>>>>,
    /// Run the entry function once at build time, in the sandbox the snapshot is taken in, and
    /// import what it imports into the snapshot as well. Commands only. Default: `true`.
    pub preinit_train: Option<bool>,
    /// The arguments (after argv[0]) of that training run. Default: none.
    pub preinit_train_args: Option<Vec<String>>,
    /// `auto` (the default): a command's run ends without tearing the interpreter down when no
    /// live object has a finalizer (`__del__`), after the atexit callbacks and flushing stdio;
    /// `always`: with CPython's full teardown, as a native run does.
    pub teardown: Option<Teardown>,
    /// Embed the stdlib's `.py` sources beside its bytecode (for source lines in tracebacks).
    /// Default: `false`.
    pub stdlib_sources: Option<bool>,
    /// `strip-stdlib` (the default: the stdlib's bytecode leaves its docstrings out, as `-OO`
    /// does, but keeps `assert`) or `keep`.
    pub docstrings: Option<Docstrings>,
    /// How much the module's in-memory, writable `/tmp` may hold: bytes, or a string such as
    /// `"64 MiB"`. Writing past it fails with `ENOSPC`; `0` leaves `/tmp` out. Default: `"32 MiB"`.
    #[schemars(with = "Option<SizeSetting>")]
    pub tmp_size: Option<Spanned<SizeSetting>>,
    /// The C stack (wasm's shadow stack, part of the initial linear memory): bytes, or a string
    /// such as `"2 MiB"`; a multiple of 16 from 64 KiB to 64 MiB. Default: `"1 MiB"`.
    #[schemars(with = "Option<SizeSetting>")]
    pub stack_size: Option<Spanned<SizeSetting>>,
    /// Where `pywasm test` finds the project's tests: directories or files, relative to the
    /// project. Default: `["tests"]`.
    #[schemars(with = "Option<Vec<String>>")]
    pub test_paths: Option<Spanned<Vec<Spanned<String>>>>,
    /// Functions hosts call: `wasm_name = "package.module:function"`. A project with exports
    /// builds a library module (a WASI reactor, see docs/abi.md) instead of a command.
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    pub exports: Option<crate::module::library::NameTable>,
    /// Host functions the Python code calls as `pywasm.host.name(value)`: `name = "wasm_module"`
    /// imports `wasm_module.name`. Library modules only.
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    pub imports: Option<crate::module::library::NameTable>,
    /// Bounds on what one wheel may unpack to; past one, the build stops with an error naming
    /// the member and the bound. Raise one for a genuine wheel that passes it.
    pub wheel_limits: Option<WheelLimitsConfig>,
}

/// `[tool.pywasm] wheel-limits`: each key left out keeps its default.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WheelLimitsConfig {
    /// What one member may unpack to: bytes, or a string such as `"512 MiB"`.
    /// Default: `"256 MiB"`.
    #[schemars(with = "Option<SizeSetting>")]
    pub member_size: Option<Spanned<SizeSetting>>,
    /// What all members of one wheel may unpack to together. Default: `"1 GiB"`.
    #[schemars(with = "Option<SizeSetting>")]
    pub total_size: Option<Spanned<SizeSetting>>,
    /// How many members one wheel may hold. Default: `65536`.
    #[schemars(with = "Option<u64>")]
    pub members: Option<Spanned<u64>>,
    /// How many times its compressed size a member larger than 1 MiB may unpack to.
    /// Default: `100`.
    #[schemars(with = "Option<u64>")]
    pub ratio: Option<Spanned<u64>>,
}

/// What `tmp-size` is when not set.
pub const DEFAULT_TMP_SIZE: u64 = 32 << 20;

/// What `stack-size` is when not set. The recursion limit of CPython's WASI build (600) is what
/// bounds recursion: its deepest cases (a `__repr__` calling `repr`, json, pickle, deepcopy)
/// stay under 200 KiB of this stack at that limit, and a host's own native stack runs out
/// before a limit that would exhaust 1 MiB (tests/real_projects.rs).
pub const DEFAULT_STACK_SIZE: u64 = 1 << 20;

/// The range `stack-size` accepts: below 64 KiB the interpreter's start-up does not fit.
const STACK_SIZE_RANGE: std::ops::RangeInclusive<u64> = (64 << 10)..=(64 << 20);

/// The build settings of `[tool.pywasm]`, resolved. Serialised (kebab-case, sizes as text) it
/// gives the JSON schema its `default` values.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Settings {
    /// The CPython minor version (`3.13`), checked against the pins; `None` for the pins'
    /// default.
    #[serde(skip)]
    pub python: Option<String>,
    /// Set only when `optimize` is: otherwise the profile decides ([`Settings::optimize_level`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optimize: Option<Optimize>,
    pub profile: Profile,
    pub component: bool,
    pub component_exit_codes: bool,
    pub stdlib: StdlibMode,
    #[serde(skip)]
    pub include: Vec<Located<String>>,
    #[serde(skip)]
    pub exclude: Vec<Located<String>>,
    pub preinit: bool,
    /// Dotted module names, checked.
    #[serde(skip)]
    pub preinit_imports: Vec<Located<String>>,
    /// The training run's arguments, or `None` for no training run.
    #[serde(skip)]
    pub preinit_train: Option<Vec<String>>,
    pub teardown: Teardown,
    pub stdlib_sources: bool,
    pub docstrings: Docstrings,
    /// Bytes the in-memory `/tmp` may hold; 0 for none.
    #[serde(serialize_with = "crate::size::serialize_size")]
    pub tmp_size: u64,
    /// Bytes of C stack, at the bottom of linear memory.
    #[serde(serialize_with = "crate::size::serialize_size")]
    pub stack_size: u64,
    pub wheel_limits: ArchiveLimits,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            python: None,
            optimize: None,
            profile: Profile::Dev,
            component: false,
            component_exit_codes: true,
            stdlib: StdlibMode::Reachable,
            include: Vec::new(),
            exclude: Vec::new(),
            preinit: true,
            preinit_imports: Vec::new(),
            preinit_train: Some(Vec::new()),
            teardown: Teardown::Auto,
            stdlib_sources: false,
            docstrings: Docstrings::StripStdlib,
            tmp_size: DEFAULT_TMP_SIZE,
            stack_size: DEFAULT_STACK_SIZE,
            wheel_limits: ArchiveLimits::WHEEL,
        }
    }
}

/// What the command line changes of [`Settings`] (`pywasm build --release --component
/// --no-preinit --optimize LEVEL`).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Overrides {
    /// The CPython the module runs (`[tool.pywasm] python`): 3.11, 3.13 or 3.14.
    #[arg(long, value_name = "VERSION", value_parser = parse_python)]
    pub python: Option<String>,
    /// wasm-opt level (default: `[tool.pywasm] optimize`, else the profile's: `none`, or `size`
    /// for a release build).
    #[arg(long, value_name = "LEVEL", value_enum)]
    pub optimize: Option<Optimize>,
    /// Build with the release profile's defaults (`[tool.pywasm] profile = "release"`):
    /// binaryen's `-Oz` unless `optimize` says otherwise.
    #[arg(long)]
    pub release: bool,
    /// Publish a WASI 0.2 component instead of a core module: a command, or for a library
    /// typed exports in a WIT world (see `pywasm wit`).
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub component: Option<bool>,
    /// Start the interpreter at run time instead of from a build-time snapshot
    /// (`[tool.pywasm] preinit = false`).
    #[arg(long = "no-preinit", num_args = 0, default_missing_value = "false")]
    pub preinit: Option<bool>,
}

impl Settings {
    /// Checks and resolves the build settings of `config`; `at` turns a span of
    /// `pyproject.toml` into a place for errors.
    pub fn read(config: &PywasmConfig, at: &dyn Fn(Range<usize>) -> Origin) -> Result<Settings> {
        let default = Settings::default();
        let located = |list: &Option<Spanned<Vec<Spanned<String>>>>| {
            Located::list(list.iter().flat_map(|l| l.get_ref()), at)
        };
        Ok(Settings {
            python: match &config.python {
                None => default.python,
                Some(python) => Some(check_python(python.get_ref()).map_err(|unknown| {
                    at(python.span()).error(
                        &format!("`python`: {unknown}"),
                        Some(&format!(
                            "write one of them, for instance `python = \"{}\"`",
                            unknown.pinned.last().map_or("3.11", String::as_str)
                        )),
                    )
                })?),
            },
            optimize: config.optimize.or(default.optimize),
            profile: config.profile.unwrap_or(default.profile),
            component: config.component.unwrap_or(default.component),
            component_exit_codes: config
                .component_exit_codes
                .unwrap_or(default.component_exit_codes),
            stdlib: config.stdlib.unwrap_or(default.stdlib),
            include: located(&config.include),
            exclude: located(&config.exclude),
            preinit: config.preinit.unwrap_or(default.preinit),
            preinit_imports: module_names(located(&config.preinit_imports))?,
            preinit_train: match (config.preinit_train, &config.preinit_train_args) {
                (Some(false), _) => None,
                (_, Some(args)) => Some(args.clone()),
                (Some(true), None) => Some(Vec::new()),
                (None, None) => default.preinit_train,
            },
            teardown: config.teardown.unwrap_or(default.teardown),
            stdlib_sources: config.stdlib_sources.unwrap_or(default.stdlib_sources),
            docstrings: config.docstrings.unwrap_or(default.docstrings),
            tmp_size: match &config.tmp_size {
                None => default.tmp_size,
                Some(setting) => setting.get_ref().bytes().map_err(|problem| {
                    at(setting.span()).error(
                        &format!("`tmp-size`: {problem}"),
                        Some("for instance `tmp-size = \"64 MiB\"`, or `0` for no /tmp"),
                    )
                })?,
            },
            stack_size: match &config.stack_size {
                None => default.stack_size,
                Some(setting) => setting
                    .get_ref()
                    .bytes()
                    .and_then(check_stack_size)
                    .map_err(|problem| {
                        at(setting.span()).error(
                            &format!("`stack-size`: {problem}"),
                            Some("for instance `stack-size = \"2 MiB\"`"),
                        )
                    })?,
            },
            wheel_limits: match &config.wheel_limits {
                None => default.wheel_limits,
                Some(limits) => wheel_limits(limits, at)?,
            },
        })
    }

    /// These settings with the command line's changes.
    pub fn with(mut self, overrides: &Overrides) -> Settings {
        self.python = overrides.python.clone().or(self.python);
        self.optimize = overrides.optimize.or(self.optimize);
        if overrides.release {
            self.profile = Profile::Release;
        }
        self.component = overrides.component.unwrap_or(self.component);
        self.preinit = overrides.preinit.unwrap_or(self.preinit);
        self
    }

    /// `optimize`, else the profile's level.
    pub fn optimize_level(&self) -> Optimize {
        self.optimize
            .unwrap_or_else(|| self.profile.default_optimize())
    }
}

/// `version` when the pins have that CPython.
fn check_python(version: &str) -> Result<String, UnknownPython> {
    let pins = crate::sdk::pins::Pins::embedded().map_err(|_| UnknownPython {
        asked: version.to_owned(),
        pinned: Vec::new(),
    })?;
    pins.with_python(Some(version))?;
    Ok(version.to_owned())
}

/// `--python`'s parser: the versions the pins have.
fn parse_python(version: &str) -> Result<String, String> {
    check_python(version).map_err(|unknown| unknown.to_string())
}

fn check_stack_size(bytes: u64) -> Result<u64, String> {
    if !STACK_SIZE_RANGE.contains(&bytes) {
        Err(format!("{bytes} bytes is outside 64 KiB to 64 MiB"))
    } else if !bytes.is_multiple_of(16) {
        Err(format!("{bytes} bytes is not a multiple of 16"))
    } else {
        Ok(bytes)
    }
}

/// `wheel-limits` over the defaults; every bound must let at least something through.
fn wheel_limits(
    config: &WheelLimitsConfig,
    at: &dyn Fn(Range<usize>) -> Origin,
) -> Result<ArchiveLimits> {
    let default = ArchiveLimits::WHEEL;
    let error = |key: &str, span, problem: &str| {
        at(span).error(
            &format!("`wheel-limits.{key}`: {problem}"),
            Some("for instance `wheel-limits = { member-size = \"512 MiB\", ratio = 500 }`"),
        )
    };
    let size = |key: &str, value: &Option<Spanned<SizeSetting>>, default: u64| match value {
        None => Ok(default),
        Some(setting) => match setting.get_ref().bytes() {
            Ok(0) => Err(error(key, setting.span(), "0 would refuse every wheel")),
            Ok(bytes) => Ok(bytes),
            Err(problem) => Err(error(key, setting.span(), &problem)),
        },
    };
    let count = |key: &str, value: &Option<Spanned<u64>>, default: u64| match value {
        None => Ok(default),
        Some(n) if *n.get_ref() == 0 => Err(error(key, n.span(), "0 would refuse every wheel")),
        Some(n) => Ok(*n.get_ref()),
    };
    Ok(ArchiveLimits {
        member_size: size("member-size", &config.member_size, default.member_size)?,
        total_size: size("total-size", &config.total_size, default.total_size)?,
        members: count("members", &config.members, default.members)?,
        ratio: count("ratio", &config.ratio, default.ratio)?,
    })
}

/// Checks that every entry is a dotted module name, as in `import a.b`.
fn module_names(names: Vec<Located<String>>) -> Result<Vec<Located<String>>> {
    for name in &names {
        if name.value.is_empty() || !name.value.split('.').all(crate::manifest::is_identifier) {
            return Err(name.origin.error(
                &format!(
                    "`preinit-imports` names `{}`, which is not a module name",
                    name.value
                ),
                Some("write module names as in `import`, for instance `json` or `email.parser`"),
            ));
        }
    }
    Ok(names)
}
