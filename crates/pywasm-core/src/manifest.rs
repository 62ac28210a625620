//! Reads `pyproject.toml`: `[project]` for the name, version and scripts, and a typed
//! `[tool.pywasm]` in which unknown keys are refused with their location.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{Located, Origin};
use crate::imports::StdlibMode;
use crate::library::ModuleKind;
use crate::postprocess::optimize::{Optimize, Profile};
use crate::preinit::Teardown;
use crate::pycompile::Docstrings;
use crate::size::SizeSetting;

/// `[tool.pywasm]` as users write it.
/// Also the source of the JSON schema editors validate it with (`crate::schema`): the doc
/// comments are the descriptions, and `schemars(with)` gives each field its plain TOML type.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "[tool.pywasm]")]
pub struct PywasmConfig {
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
    pub exports: Option<crate::library::NameTable>,
    /// Host functions the Python code calls as `pywasm.host.name(value)`: `name = "wasm_module"`
    /// imports `wasm_module.name`. Library modules only.
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    pub imports: Option<crate::library::NameTable>,
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

#[derive(Debug, Deserialize)]
struct PyProjectFile {
    project: Option<Spanned<ProjectTable>>,
    tool: Option<ToolTable>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ProjectTable {
    name: Option<Spanned<String>>,
    version: Option<Spanned<String>>,
    scripts: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    gui_scripts: Option<BTreeMap<String, String>>,
    entry_points: Option<BTreeMap<String, BTreeMap<String, String>>>,
    dependencies: Option<Vec<Spanned<String>>>,
    optional_dependencies: Option<BTreeMap<String, Vec<Spanned<String>>>>,
}

#[derive(Debug, Deserialize)]
struct ToolTable {
    pywasm: Option<PywasmConfig>,
}

/// A validated `pyproject.toml`.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The `pyproject.toml` itself.
    pub path: PathBuf,
    /// The directory that holds it; relative paths in it are taken from here.
    pub dir: PathBuf,
    pub name: String,
    pub version: String,
    /// A command (its entry point) or a library (its exports and host imports).
    pub kind: ModuleKind,
    /// Source roots from `[tool.pywasm] sources`; `None` means detect the layout.
    pub sources: Option<Vec<Located<PathBuf>>>,
    pub output: PathBuf,
    /// Dependencies and the rest of the inputs to dependency resolution.
    pub deps: DependencySpec,
    /// Set only when `[tool.pywasm] optimize` is: otherwise the profile decides.
    pub optimize: Option<Optimize>,
    pub profile: Profile,
    pub component: bool,
    pub component_exit_codes: bool,
    pub stdlib: StdlibMode,
    pub include: Vec<Located<String>>,
    pub exclude: Vec<Located<String>>,
    pub preinit: bool,
    /// The training run's arguments, or `None` for no training run.
    pub preinit_train: Option<Vec<String>>,
    pub teardown: Teardown,
    pub stdlib_sources: bool,
    pub docstrings: Docstrings,
    /// Dotted module names, checked.
    pub preinit_imports: Vec<Located<String>>,
    /// Bytes the in-memory `/tmp` may hold; 0 for none.
    pub tmp_size: u64,
    /// Bytes of C stack.
    pub stack_size: u64,
    /// `[tool.pywasm] test-paths`, or `tests` when not set.
    pub test_paths: Vec<Located<String>>,
    /// Whether `test-paths` was written (then each must exist).
    pub test_paths_set: bool,
    /// `[project.scripts]`, `[project.gui-scripts]` and `[project.entry-points]` by group, for
    /// the project's own `entry_points.txt` inside the module (plugin discovery uses it).
    pub entry_points: BTreeMap<String, BTreeMap<String, String>>,
}

/// What goes into resolving dependencies, as written in `pyproject.toml`.
#[derive(Clone, Debug, Default)]
pub struct DependencySpec {
    /// `[project].dependencies`, PEP 508 strings.
    pub dependencies: Vec<Located<String>>,
    /// `[project.optional-dependencies]`, keyed by the extra's normalised name.
    pub optional: BTreeMap<String, Vec<Located<String>>>,
    /// `[tool.pywasm] extras`.
    pub extras: Vec<Located<String>>,
    /// `[tool.pywasm] wheels`.
    pub wheels: Vec<Located<String>>,
    /// `[tool.pywasm] without-extensions`.
    pub without_extensions: Vec<Located<String>>,
    /// `[tool.pywasm] require-extensions`.
    pub require_extensions: Vec<Located<String>>,
}

/// The function a module runs: `module:attr`, where both may be dotted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryPoint {
    pub module: String,
    pub attr: String,
    pub origin: Option<Origin>,
}

impl EntryPoint {
    /// Parses `pkg.mod:func` (an entry-point object reference without extras).
    pub fn parse(text: &str) -> std::result::Result<EntryPoint, String> {
        let text = text.trim();
        let Some((module, attr)) = text.split_once(':') else {
            return Err(format!("`{text}` is not of the form `module:function`"));
        };
        let (module, attr) = (module.trim(), attr.trim());
        if attr.contains('[') {
            return Err(format!(
                "`{text}` has extras; pywasm takes `module:function` only"
            ));
        }
        for (part, what) in [(module, "module"), (attr, "function")] {
            if part.is_empty() || !part.split('.').all(is_identifier) {
                return Err(format!(
                    "`{part}` in `{text}` is not a valid Python {what} name"
                ));
            }
        }
        Ok(EntryPoint {
            module: module.to_string(),
            attr: attr.to_string(),
            origin: None,
        })
    }

    pub fn display(&self) -> String {
        format!("{}:{}", self.module, self.attr)
    }
}

/// PEP 685: extras compare by their PEP 503 normalised names.
pub fn normalize_extra(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.trim().chars() {
        if "-_.".contains(c) {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

impl Manifest {
    /// Reads `<dir>/pyproject.toml`.
    pub fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join("pyproject.toml");
        if !path.is_file() {
            anyhow::bail!(
                "no `pyproject.toml` in `{}`\n  = help: run pywasm in a Python project directory, or pass one: `pywasm build path/to/project`",
                dir.display()
            );
        }
        let text = fs_err::read_to_string(&path)?;
        Manifest::parse(&path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Manifest> {
        let file: PyProjectFile = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => Origin::new(path, text, span).error(
                &format!("invalid `pyproject.toml`: {}", e.message().trim()),
                help_for(e.message()),
            ),
            None => anyhow::anyhow!("invalid `{}`: {}", path.display(), e.message().trim()),
        })?;
        let at = |span: Range<usize>| Origin::new(path, text, span);
        let dir = crate::fsutil::parent_dir(path).to_path_buf();

        let Some(project) = file.project else {
            anyhow::bail!(
                "`{}` has no `[project]` table\n  = help: add `[project]` with `name` and `version` (PEP 621)",
                path.display()
            );
        };
        let project_span = project.span();
        let project = project.into_inner();
        let Some(name) = project.name else {
            return Err(at(project_span)
                .error("`[project]` has no `name`", Some("add `name = \"my-app\"`")));
        };
        let name_origin = at(name.span());
        let name = name.into_inner();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(name_origin.error(
                &format!("`{name}` is not a valid project name"),
                Some("use letters, digits, `-`, `_` and `.` (PEP 508)"),
            ));
        }
        let version = project
            .version
            .map_or_else(|| "0.0.0".to_string(), |v| v.into_inner());
        let config = file.tool.and_then(|t| t.pywasm).unwrap_or_default();

        let mut entry_points = project.entry_points.clone().unwrap_or_default();
        if let Some(scripts) = &project.scripts {
            let scripts = scripts.get_ref().iter();
            entry_points.insert(
                "console_scripts".into(),
                scripts
                    .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                    .collect(),
            );
        }
        if let Some(gui) = &project.gui_scripts {
            entry_points.insert("gui_scripts".into(), gui.clone());
        }
        let library = crate::library::read(config.exports, config.imports, &at)?;
        let kind = match (library, config.entry) {
            (Some(_), Some(entry)) => {
                return Err(at(entry.span()).error(
                    "a module is a command or a library: this project sets both `entry` and `[tool.pywasm.exports]`",
                    Some("remove `entry` to build the library; hosts call its exports instead of `_start`"),
                ));
            }
            (Some(library), None) => ModuleKind::Library(library),
            (None, Some(entry)) => {
                let origin = at(entry.span());
                let mut parsed = EntryPoint::parse(entry.get_ref()).map_err(|msg| {
                    origin.error(
                        &format!("invalid `[tool.pywasm] entry`: {msg}"),
                        Some("write it as `entry = \"package.module:function\"`"),
                    )
                })?;
                parsed.origin = Some(origin);
                ModuleKind::Command(parsed)
            }
            (None, None) => ModuleKind::Command(default_entry(project.scripts, &at, path)?),
        };

        let sources = config.sources.map(|list| {
            list.into_inner()
                .into_iter()
                .map(|s| Located {
                    origin: at(s.span()),
                    value: PathBuf::from(s.into_inner()),
                })
                .collect()
        });
        let output = match config.output {
            Some(out) if out.get_ref().trim().is_empty() => {
                return Err(at(out.span()).error(
                    "`[tool.pywasm] output` is empty",
                    Some("for example `output = \"dist/app.wasm\"`"),
                ));
            }
            Some(out) => PathBuf::from(out.into_inner()),
            None => Path::new("dist").join(format!("{name}.wasm")),
        };
        let output = if output.is_absolute() {
            output
        } else {
            dir.join(output)
        };
        let located = |list: Option<Vec<Spanned<String>>>| -> Vec<Located<String>> {
            list.unwrap_or_default()
                .into_iter()
                .map(|s| Located {
                    origin: at(s.span()),
                    value: s.into_inner(),
                })
                .collect()
        };
        let deps = DependencySpec {
            dependencies: located(project.dependencies),
            optional: project
                .optional_dependencies
                .unwrap_or_default()
                .into_iter()
                .map(|(extra, list)| (normalize_extra(&extra), located(Some(list))))
                .collect(),
            extras: located(config.extras.map(Spanned::into_inner)),
            wheels: located(config.wheels.map(Spanned::into_inner)),
            without_extensions: located(config.without_extensions.map(Spanned::into_inner)),
            require_extensions: located(config.require_extensions.map(Spanned::into_inner)),
        };
        Ok(Manifest {
            path: path.to_path_buf(),
            dir,
            name,
            version,
            kind,
            sources,
            output,
            deps,
            entry_points,
            optimize: config.optimize,
            profile: config.profile.unwrap_or_default(),
            component: config.component.unwrap_or(false),
            component_exit_codes: config.component_exit_codes.unwrap_or(true),
            stdlib: config.stdlib.unwrap_or_default(),
            include: located(config.include.map(Spanned::into_inner)),
            exclude: located(config.exclude.map(Spanned::into_inner)),
            preinit: config.preinit.unwrap_or(true),
            preinit_train: config
                .preinit_train
                .unwrap_or(true)
                .then(|| config.preinit_train_args.unwrap_or_default()),
            teardown: config.teardown.unwrap_or_default(),
            stdlib_sources: config.stdlib_sources.unwrap_or(false),
            docstrings: config.docstrings.unwrap_or_default(),
            preinit_imports: module_names(located(
                config.preinit_imports.map(Spanned::into_inner),
            ))?,
            test_paths_set: config.test_paths.is_some(),
            test_paths: match config.test_paths {
                Some(paths) => located(Some(paths.into_inner())),
                None => vec![Located {
                    value: "tests".into(),
                    origin: Origin::new(path, "", 0..0),
                }],
            },
            tmp_size: match config.tmp_size {
                None => DEFAULT_TMP_SIZE,
                Some(setting) => setting.get_ref().bytes().map_err(|problem| {
                    at(setting.span()).error(
                        &format!("`tmp-size`: {problem}"),
                        Some("for instance `tmp-size = \"64 MiB\"`, or `0` for no /tmp"),
                    )
                })?,
            },
            stack_size: match config.stack_size {
                None => DEFAULT_STACK_SIZE,
                Some(setting) => setting
                    .get_ref()
                    .bytes()
                    .and_then(|bytes| {
                        if !STACK_SIZE_RANGE.contains(&bytes) {
                            Err(format!("{bytes} bytes is outside 64 KiB to 64 MiB"))
                        } else if bytes % 16 != 0 {
                            Err(format!("{bytes} bytes is not a multiple of 16"))
                        } else {
                            Ok(bytes)
                        }
                    })
                    .map_err(|problem| {
                        at(setting.span()).error(
                            &format!("`stack-size`: {problem}"),
                            Some("for instance `stack-size = \"2 MiB\"`"),
                        )
                    })?,
            },
        })
    }
}

/// Checks that every entry is a dotted module name, as in `import a.b`.
fn module_names(names: Vec<Located<String>>) -> Result<Vec<Located<String>>> {
    for name in &names {
        if name.value.is_empty() || !name.value.split('.').all(is_identifier) {
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

fn default_entry(
    scripts: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    at: &dyn Fn(Range<usize>) -> Origin,
    path: &Path,
) -> Result<EntryPoint> {
    let help = "set `entry = \"package.module:function\"` under `[tool.pywasm]`";
    let Some(scripts) = scripts else {
        anyhow::bail!(
            "`{}` names no entry point: there is no `[tool.pywasm] entry` and no `[project.scripts]`\n  = help: {help}",
            path.display()
        );
    };
    let span = scripts.span();
    let scripts = scripts.into_inner();
    if scripts.len() != 1 {
        let names: Vec<_> = scripts.keys().map(|k| format!("`{k}`")).collect();
        let what = if names.is_empty() {
            "no scripts".to_string()
        } else {
            format!("{} scripts ({})", names.len(), names.join(", "))
        };
        return Err(at(span).error(
            &format!("cannot choose an entry point: `[project.scripts]` has {what}"),
            Some(help),
        ));
    }
    let Some((_, script)) = scripts.into_iter().next() else {
        unreachable!("checked above")
    };
    let origin = at(script.span());
    let mut entry = EntryPoint::parse(script.get_ref()).map_err(|msg| {
        origin.error(
            &format!("invalid `[project.scripts]` entry: {msg}"),
            Some(help),
        )
    })?;
    entry.origin = Some(origin);
    Ok(entry)
}

fn help_for(message: &str) -> Option<&'static str> {
    message
        .contains("unknown field")
        .then_some("see the README's configuration section for every `[tool.pywasm]` key")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest> {
        Manifest::parse(Path::new("/p/pyproject.toml"), text)
    }

    #[test]
    fn entry_from_tool_table() {
        let m = parse("[project]\nname = \"hello\"\nversion = \"1.2\"\n[tool.pywasm]\nentry = \"hello.cli:main\"\n").unwrap();
        let ModuleKind::Command(entry) = &m.kind else {
            panic!("a command");
        };
        assert_eq!(
            (entry.module.as_str(), entry.attr.as_str()),
            ("hello.cli", "main")
        );
        assert_eq!(m.version, "1.2");
        assert_eq!(m.output, Path::new("/p/dist/hello.wasm"));
    }

    #[test]
    fn entry_defaults_to_the_single_script() {
        let m = parse("[project]\nname = \"x\"\n[project.scripts]\nx = \"x.app:run\"\n").unwrap();
        assert_eq!(m.kind.display(), "x.app:run");
    }

    #[test]
    fn several_scripts_need_an_explicit_entry() {
        let err = parse("[project]\nname = \"x\"\n[project.scripts]\na = \"x:a\"\nb = \"x:b\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("2 scripts (`a`, `b`)"), "{err}");
        assert!(err.contains("/p/pyproject.toml:3:1"), "{err}");
    }

    #[test]
    fn stack_size_is_bounded_and_aligned() {
        let head = "[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:main\"\n";
        assert_eq!(parse(head).unwrap().stack_size, DEFAULT_STACK_SIZE);
        let m = parse(&format!("{head}stack-size = \"2 MiB\"\n")).unwrap();
        assert_eq!(m.stack_size, 2 << 20);
        for (value, problem) in [
            ("\"32 KiB\"", "32768 bytes is outside 64 KiB to 64 MiB"),
            ("100004", "100004 bytes is not a multiple of 16"),
        ] {
            let err = parse(&format!("{head}stack-size = {value}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("`stack-size`: {problem}")), "{err}");
            assert!(err.contains("/p/pyproject.toml:5:"), "{err}");
        }
    }

    #[test]
    fn unknown_keys_are_refused_with_their_location() {
        let err = parse("[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:main\"\nentyr = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `entyr`"), "{err}");
        assert!(err.contains("--> /p/pyproject.toml:5:1"), "{err}");
        assert!(err.contains("5 | entyr = 1"), "{err}");
    }

    #[test]
    fn optimize_and_component_are_typed() {
        let m = parse("[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:main\"\noptimize = \"speed\"\ncomponent = true\n")
            .unwrap();
        assert_eq!((m.optimize, m.component), (Some(Optimize::Speed), true));
        let m = parse("[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:main\"\nstdlib = \"full\"\ninclude = [\"email.*\"]\nexclude = [\"xml\"]\n")
            .unwrap();
        assert_eq!(m.stdlib, StdlibMode::Full);
        assert_eq!(
            (m.include[0].value.as_str(), m.include[0].origin.line),
            ("email.*", 6)
        );
        assert_eq!(m.exclude[0].value, "xml");
        let m = parse("[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:main\"\n").unwrap();
        assert_eq!(
            (m.optimize, m.profile, m.component),
            (None, Profile::Dev, false)
        );
        let m = parse(
            "[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:main\"\nprofile = \"release\"\n",
        )
        .unwrap();
        assert_eq!((m.optimize, m.profile), (None, Profile::Release));
        let err = parse(
            "[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:main\"\noptimize = \"fast\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown variant `fast`"), "{err}");
        assert!(err.contains("--> /p/pyproject.toml:5:"), "{err}");
    }

    #[test]
    fn tmp_size_takes_bytes_or_a_unit() {
        let head = "[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:m\"\n";
        assert_eq!(parse(head).unwrap().tmp_size, DEFAULT_TMP_SIZE);
        let m = parse(&format!("{head}tmp-size = \"4 MiB\"\n")).unwrap();
        assert_eq!(m.tmp_size, 4 << 20);
        assert_eq!(parse(&format!("{head}tmp-size = 0\n")).unwrap().tmp_size, 0);
        let err = format!(
            "{:#}",
            parse(&format!("{head}tmp-size = \"4 PB\"\n")).unwrap_err()
        );
        assert!(
            err.contains("`tmp-size`: `4 PB` has an unknown unit"),
            "{err}"
        );
        assert!(err.contains("/p/pyproject.toml:5:12"), "{err}");
        assert!(err.contains("tmp-size = \"64 MiB\""), "{err}");
    }

    #[test]
    fn malformed_toml_points_at_the_line() {
        let err = parse("[project]\nname = \"x\nversion = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/p/pyproject.toml:2:"), "{err}");
    }

    #[test]
    fn bad_entry_syntax() {
        let err = parse("[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x.main\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not of the form `module:function`"), "{err}");
        assert!(err.contains("pyproject.toml:4:9"), "{err}");
        let err = parse("[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:1st\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a valid Python function name"), "{err}");
    }

    #[test]
    fn no_entry_at_all() {
        let err = parse("[project]\nname = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("no entry point"), "{err}");
    }

    #[test]
    fn other_tools_are_left_alone() {
        let m = parse("[project]\nname = \"x\"\n[tool.ruff]\nline-length = 99\n[tool.pywasm]\nentry = \"x:m\"\nsources = [\"lib\"]\noutput = \"out/x.wasm\"\n").unwrap();
        assert_eq!(m.sources.unwrap()[0].value, Path::new("lib"));
        assert_eq!(m.output, Path::new("/p/out/x.wasm"));
    }

    #[test]
    fn dependencies_extras_and_wheels_keep_their_places() {
        let m = parse("[project]\nname = \"x\"\ndependencies = [\"attrs>=23\", \"jinja2\"]\n[project.optional-dependencies]\nTOML_support = [\"tomli\"]\n[project.entry-points.\"x.plugins\"]\na = \"x:a\"\n[tool.pywasm]\nentry = \"x:m\"\nextras = [\"toml-support\"]\nwheels = [\"w/*.whl\"]\nwithout-extensions = [\"MarkupSafe\"]\n").unwrap();
        let deps = &m.deps;
        assert_eq!(deps.dependencies[1].value, "jinja2");
        assert_eq!(deps.dependencies[1].origin.line, 3);
        assert!(deps.optional.contains_key("toml-support"));
        assert_eq!(deps.extras[0].value, "toml-support");
        assert_eq!(deps.wheels[0].origin.line, 11);
        assert_eq!(deps.without_extensions[0].value, "MarkupSafe");
        assert_eq!(m.entry_points["x.plugins"]["a"], "x:a");
    }

    #[test]
    fn extras_compare_normalised() {
        assert_eq!(normalize_extra("Toml_Support"), "toml-support");
        assert_eq!(normalize_extra("a.-_b"), "a-b");
    }
}
