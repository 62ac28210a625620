//! Library modules: `[tool.pywasm.exports]` and `[tool.pywasm.imports]`, checked, and what kind
//! of module a project builds. The ABI they follow is `docs/abi.md`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use anyhow::Result;
use toml::Spanned;

use crate::manifest::{EntryPoint, Origin};
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
        include_str!("../../../templates/guest/pywasm/__init__.py"),
    ),
    (
        "_codec.py",
        include_str!("../../../templates/guest/pywasm/_codec.py"),
    ),
    (
        "_exports.py",
        include_str!("../../../templates/guest/pywasm/_exports.py"),
    ),
    (
        "_host.py",
        include_str!("../../../templates/guest/pywasm/_host.py"),
    ),
];

/// Writes the `pywasm` package into `work` and returns it as a source root.
pub fn write_guest_package(work: &Path) -> Result<SourceRoot> {
    let dir = work.join("guest").join("pywasm");
    fs_err::create_dir_all(&dir)?;
    for (name, text) in GUEST_PACKAGE {
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
        check_name(name.get_ref(), &name_origin, "export")?;
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
        check_name(name.get_ref(), &origin, "host import")?;
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
/// wasm and C names, and not the ABI's own.
fn check_name(name: &str, origin: &Origin, what: &str) -> Result<()> {
    let plain = name.is_ascii() && crate::manifest::is_identifier(name);
    if !plain {
        return Err(origin.error(
            &format!("`{name}` cannot be a {what} name"),
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
