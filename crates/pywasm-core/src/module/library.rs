//! Library modules: `[tool.pywasm.exports]` and `[tool.pywasm.imports]`, checked, and what kind
//! of module a project builds. The ABI they follow is `docs/abi.md`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use anyhow::Result;
use toml::Spanned;

use crate::diagnostic::{Diagnostic, Origin};
use crate::manifest::EntryPoint;
use crate::plan::{SourceKind, SourceRoot};

/// The version of `docs/abi.md` a library module follows, recorded in its build manifest.
pub const ABI_VERSION: u32 = 1;

/// Export names the ABI itself uses (or that WASI gives a meaning), refused for functions.
const RESERVED: [&str; 4] = [
    "memory",
    "_initialize",
    "_start",
    "__indirect_function_table",
];
/// Prefixes of the ABI's own exports and of tools' (`pywasm_alloc`, `wizer-initialize`).
const RESERVED_PREFIXES: [&str; 3] = ["pywasm_", "wizer", "__"];

/// The `pywasm` package a library's Python code imports (`from pywasm import host`), and the
/// ABI's Python side; embedded beside the app at `/app/pywasm`.
const GUEST_PACKAGE: [(&str, &str); 4] = [
    (
        "__init__.py",
        include_str!("../../templates/guest/pywasm/__init__.py"),
    ),
    (
        "_codec.py",
        include_str!("../../templates/guest/pywasm/_codec.py"),
    ),
    (
        "_exports.py",
        include_str!("../../templates/guest/pywasm/_exports.py"),
    ),
    (
        "_host.py",
        include_str!("../../templates/guest/pywasm/_host.py"),
    ),
];

/// The typed exports of a library built as a component, added to the package in such builds.
const GUEST_COMPONENT: [(&str, &str); 3] = [
    (
        "_annotations.py",
        include_str!("../../templates/guest/pywasm/_annotations.py"),
    ),
    (
        "_canon.py",
        include_str!("../../templates/guest/pywasm/_canon.py"),
    ),
    (
        "_component.py",
        include_str!("../../templates/guest/pywasm/_component.py"),
    ),
];

/// Writes the `pywasm` package into `work` (with its component side when `component`) and
/// returns it as a source root.
pub fn write_guest_package(work: &Path, component: bool) -> Result<SourceRoot> {
    let dir = work.join("guest").join("pywasm");
    fs_err::create_dir_all(&dir)?;
    let extra = if component { &GUEST_COMPONENT[..] } else { &[] };
    for (name, text) in GUEST_PACKAGE.iter().chain(extra) {
        fs_err::write(dir.join(name), text)?;
    }
    Ok(SourceRoot {
        path: dir,
        kind: SourceKind::Named,
        origin: None,
    })
}

/// What a project builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleKind {
    /// A WASI command: `_start` runs the entry function once.
    Command(EntryPoint),
    /// A WASI reactor whose exported functions hosts call on one live instance.
    Library(Library),
}

impl ModuleKind {
    /// The modules imported into the snapshot at build time (the entry module, or every module
    /// an export names).
    pub fn modules(&self) -> Vec<&str> {
        match self {
            ModuleKind::Command(entry) => vec![entry.module.as_str()],
            ModuleKind::Library(library) => {
                let mut modules: Vec<&str> = library
                    .exports
                    .iter()
                    .map(|e| e.target.module.as_str())
                    .collect();
                modules.dedup();
                modules
            }
        }
    }

    /// `hello.cli:main`, or `exports: score, lookup`.
    pub fn display(&self) -> String {
        match self {
            ModuleKind::Command(entry) => entry.display(),
            ModuleKind::Library(library) => {
                let names: Vec<&str> = library.exports.iter().map(|e| e.name.as_str()).collect();
                format!("exports: {}", names.join(", "))
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Library {
    /// Sorted by name.
    pub exports: Vec<Export>,
    /// Sorted by name.
    pub imports: Vec<HostImport>,
}

/// `name = "package.module:function"`: the wasm export `name` calls the function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    pub name: String,
    pub target: EntryPoint,
}

/// `name = "wasm_module"`: `pywasm.host.name(...)` calls the wasm import `wasm_module.name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostImport {
    pub name: String,
    pub module: String,
    pub origin: Origin,
}

/// A `[tool.pywasm.exports]` or `[tool.pywasm.imports]` table as written.
pub type NameTable = Spanned<BTreeMap<Spanned<String>, Spanned<String>>>;

/// Reads both tables. `None` when the project exports nothing (a command).
pub fn read(
    exports: Option<NameTable>,
    imports: Option<NameTable>,
    at: &dyn Fn(Range<usize>) -> Origin,
) -> Result<Option<Library>> {
    let imports = match imports {
        Some(table) => host_imports(table, at)?,
        None => Vec::new(),
    };
    let Some(exports) = exports else {
        if let Some(import) = imports.first() {
            return Err(import.origin.error(
                "`[tool.pywasm.imports]` is only for library modules, and this project has no `[tool.pywasm.exports]`",
                Some("export the functions hosts call under `[tool.pywasm.exports]`, or remove the imports"),
            ));
        }
        return Ok(None);
    };
    let table_origin = at(exports.span());
    let mut out = Vec::new();
    for (name, target) in exports.into_inner() {
        let name_origin = at(name.span());
        check_name(name.get_ref(), &name_origin, "an export")?;
        if let Some(import) = imports.iter().find(|i| &i.name == name.get_ref()) {
            return Err(name_origin.error(
                &format!("`{}` is both an export and a host import", import.name),
                Some("give the Python function and the host function different names"),
            ));
        }
        let origin = at(target.span());
        let mut parsed = EntryPoint::parse(target.get_ref()).map_err(|msg| {
            origin.error(
                &format!("invalid export `{}`: {msg}", name.get_ref()),
                Some("write it as `name = \"package.module:function\"`"),
            )
        })?;
        parsed.origin = Some(origin);
        out.push(Export {
            name: name.into_inner(),
            target: parsed,
        });
    }
    if out.is_empty() {
        return Err(table_origin.error(
            "`[tool.pywasm.exports]` is empty",
            Some("list the functions hosts call: `name = \"package.module:function\"`"),
        ));
    }
    Ok(Some(Library {
        exports: out,
        imports,
    }))
}

fn host_imports(table: NameTable, at: &dyn Fn(Range<usize>) -> Origin) -> Result<Vec<HostImport>> {
    let mut out = Vec::new();
    for (name, module) in table.into_inner() {
        let origin = at(name.span());
        check_name(name.get_ref(), &origin, "a host import")?;
        let module_origin = at(module.span());
        let wasm_module = module.get_ref().trim();
        if wasm_module.is_empty()
            || wasm_module.starts_with("wasi")
            || !wasm_module.is_ascii()
            || wasm_module.chars().any(|c| c.is_ascii_control())
        {
            return Err(module_origin.error(
                &format!("`{wasm_module}` cannot be the wasm module of host import `{}`", name.get_ref()),
                Some("name the module the host defines its functions in, such as \"env\" or \"host\" (WASI's own names are taken)"),
            ));
        }
        out.push(HostImport {
            name: name.into_inner(),
            module: wasm_module.to_string(),
            origin,
        });
    }
    Ok(out)
}

/// Export and import names are Python identifiers (`host.name` must work) that are also plain
/// wasm and C names, and not the ABI's own. `what` comes with its article: `an export`.
fn check_name(name: &str, origin: &Origin, what: &str) -> Result<()> {
    let plain = name.is_ascii() && crate::manifest::is_identifier(name);
    if !plain {
        return Err(origin.error(
            &format!("`{name}` cannot be {what} name"),
            Some("use letters, digits and underscores, not starting with a digit"),
        ));
    }
    if RESERVED.contains(&name) || RESERVED_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return Err(origin.error(
            &format!("`{name}` is a name the module's ABI uses itself"),
            Some("`memory`, `_initialize`, `_start` and names starting with `pywasm_`, `wizer` or `__` are taken; choose another"),
        ));
    }
    Ok(())
}

/// The WIT identifier a Python-side name takes in a component (`score_row` and `scoreRow` are
/// `score-row`), or `None` when it has none: WIT wants dash-separated parts that each start
/// with a letter and are all lower- or all upper-case.
pub fn wit_name(name: &str) -> Option<String> {
    let mut out = String::new();
    let mut previous: Option<char> = None;
    for c in name.chars() {
        if c.is_ascii_uppercase()
            && previous.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
        {
            out.push('-');
        }
        out.push(if c == '_' {
            '-'
        } else {
            c.to_ascii_lowercase()
        });
        previous = Some(c);
    }
    let out = out.trim_matches('-').to_string();
    let valid = out.split('-').all(|part| {
        part.starts_with(|c: char| c.is_ascii_alphabetic())
            && part.chars().all(|c| c.is_ascii_alphanumeric())
    });
    valid.then_some(out)
}

/// The WIT names of a component library: its world (from the project name), its exports and
/// its host imports with their interfaces, each checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitNames {
    pub world: String,
    /// In the order of `Library::exports`.
    pub exports: Vec<String>,
    /// `(interface, function)` in the order of `Library::imports`.
    pub imports: Vec<(String, String)>,
}

impl WitNames {
    pub fn new(project: &str, library: &Library) -> Result<WitNames> {
        let world = wit_name(&project.replace('.', "-")).ok_or_else(|| {
            Diagnostic::new(format!(
                "the project name `{project}` has no WIT name for the component's world"
            ))
            .help(
                "WIT names are dash-separated words that start with a letter; rename the project \
                 in [project] name, or build the core module (no `--component`)",
            )
        })?;
        let mut exports = Vec::new();
        for export in &library.exports {
            let origin = export.target.origin.as_ref();
            let wit = wit_of(&export.name, "export", origin)?;
            if wit == "memory" || wit.starts_with("cabi") || export.name.starts_with("cabi") {
                return Err(located(
                    origin,
                    &format!(
                        "`{}` is a name a component's core module uses itself",
                        export.name
                    ),
                    "`memory` and names starting with `cabi` are taken in a component; choose another",
                ));
            }
            if let Some(other) = library
                .exports
                .iter()
                .zip(&exports)
                .find(|(_, w)| **w == wit)
            {
                return Err(located(
                    origin,
                    &format!(
                        "exports `{}` and `{}` both become `{wit}` in WIT",
                        other.0.name, export.name
                    ),
                    "rename one of them",
                ));
            }
            exports.push(wit);
        }
        let mut imports = Vec::new();
        for import in &library.imports {
            let origin = Some(&import.origin);
            let interface = wit_of(&import.module, "wasm module", origin)?;
            let name = wit_of(&import.name, "host import", origin)?;
            if let Some(i) = imports
                .iter()
                .position(|known| *known == (interface.clone(), name.clone()))
            {
                return Err(located(
                    origin,
                    &format!(
                        "host imports `{}` and `{}` are both `{interface}.{name}` in WIT",
                        library.imports[i].name, import.name
                    ),
                    "rename one of them",
                ));
            }
            imports.push((interface, name));
        }
        Ok(WitNames {
            world,
            exports,
            imports,
        })
    }
}

fn wit_of(name: &str, what: &str, origin: Option<&Origin>) -> Result<String> {
    wit_name(name).ok_or_else(|| {
        located(
            origin,
            &format!("the {what} name `{name}` has no WIT name, which a component needs"),
            "in WIT, names are dash-separated words that each start with a letter (`score_row` \
             becomes `score-row`; `row_2` has none): rename it, or build the core module (no \
             `--component`)",
        )
    })
}

fn located(origin: Option<&Origin>, message: &str, help: &str) -> anyhow::Error {
    Diagnostic::new(message).at_opt(origin).help(help).into()
}

#[cfg(test)]
mod tests {
    use super::wit_name;

    #[test]
    fn python_names_become_wit_names() {
        assert_eq!(wit_name("score").as_deref(), Some("score"));
        assert_eq!(wit_name("score_row").as_deref(), Some("score-row"));
        assert_eq!(wit_name("scoreRow").as_deref(), Some("score-row"));
        assert_eq!(wit_name("sum17").as_deref(), Some("sum17"));
        assert_eq!(wit_name("HTTP").as_deref(), Some("http"));
        assert_eq!(wit_name("_private").as_deref(), Some("private"));
    }

    #[test]
    fn names_without_a_wit_form_are_refused() {
        for name in ["row_2", "x__y", "_", "é"] {
            assert_eq!(wit_name(name), None, "{name}");
        }
    }
}
