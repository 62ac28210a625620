//! Reads `pyproject.toml`: `[project]` for the name, version and scripts, and a typed
//! `[tool.pywasm]` in which unknown keys are refused with their location.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{Diagnostic, Located, Origin};
use crate::module::library::ModuleKind;
use crate::settings::{PywasmConfig, Settings};

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
    /// The build settings of `[tool.pywasm]`, resolved.
    pub settings: Settings,
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
                Diagnostic::new(format!("no `pyproject.toml` in `{}`", dir.display())).help(
                    "run pywasm in a Python project directory, or pass one: `pywasm build path/to/project`"
                )
            );
        }
        let text = fs_err::read_to_string(&path)?;
        Manifest::parse(&path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Manifest> {
        let file: PyProjectFile = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => Origin::new(path, text, span).error(
                &format!("invalid `pyproject.toml`: {}", e.message().trim()),
                Some(help_for(e.message())),
            ),
            None => Diagnostic::new(format!(
                "invalid `{}`: {}",
                path.display(),
                e.message().trim()
            ))
            .help(help_for(e.message()))
            .into(),
        })?;
        let at = |span: Range<usize>| Origin::new(path, text, span);
        let dir = crate::fsutil::parent_dir(path).to_path_buf();

        let Some(project) = file.project else {
            anyhow::bail!(
                Diagnostic::new(format!("`{}` has no `[project]` table", path.display()))
                    .help("add `[project]` with `name` and `version` (PEP 621)")
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
        // Its errors are reported after the project's other ones, the order they always had.
        let settings = Settings::read(&config, &at);

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
        let library = crate::module::library::read(config.exports, config.imports, &at)?;
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
        let located =
            |list: Option<Vec<Spanned<String>>>| Located::list(list.iter().flatten(), &at);
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
            settings: settings?,
            test_paths_set: config.test_paths.is_some(),
            test_paths: match config.test_paths {
                Some(paths) => located(Some(paths.into_inner())),
                None => vec![Located {
                    value: "tests".into(),
                    origin: Origin::new(path, "", 0..0),
                }],
            },
        })
    }
}

fn default_entry(
    scripts: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    at: &dyn Fn(Range<usize>) -> Origin,
    path: &Path,
) -> Result<EntryPoint> {
    let help = "set `entry = \"package.module:function\"` under `[tool.pywasm]`";
    let Some(scripts) = scripts else {
        anyhow::bail!(
            Diagnostic::new(format!(
                "`{}` names no entry point: there is no `[tool.pywasm] entry` and no `[project.scripts]`",
                path.display()
            ))
            .help(help)
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

fn help_for(message: &str) -> &'static str {
    if message.contains("unknown field") {
        "see the README's configuration section for every `[tool.pywasm]` key"
    } else if message.contains("invalid type") || message.contains("unknown variant") {
        "see the README's configuration section for what each key takes"
    } else {
        "fix the TOML syntax at this place"
    }
}

#[cfg(test)]
mod tests;
