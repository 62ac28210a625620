//! The bundle's import graph, from what the bytecode compiler saw in every source: which
//! modules the app can reach through its dependencies and the stdlib. It decides which stdlib
//! extension modules (zlib, _sqlite3) and libpython C modules are linked, and which stdlib
//! modules and dependency packages are embedded.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

/// `[tool.pywasm] stdlib`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum StdlibMode {
    /// The stdlib modules the app and its dependencies import (statically, or through
    /// `include`), and what the interpreter needs.
    #[default]
    Reachable,
    /// All of the stdlib that works under WASI.
    Full,
}

/// Module name → the modules it imports (absolute names).
#[derive(Clone, Debug, Default)]
pub struct ImportGraph {
    edges: BTreeMap<String, BTreeSet<String>>,
}

impl ImportGraph {
    /// Adds the files of one `sys.path` root (`/app`, the stdlib, site-packages); `imports` maps
    /// guest paths to the compiler's import names. Returns the modules added.
    pub fn add_root(&mut self, root: &str, imports: &BTreeMap<String, Vec<String>>) -> Vec<String> {
        let mut added = Vec::new();
        for (guest, names) in imports {
            let Some((module, is_package)) = module_of(root, guest) else {
                continue;
            };
            let package = if is_package {
                module.clone()
            } else {
                module
                    .rsplit_once('.')
                    .map(|(p, _)| p.to_string())
                    .unwrap_or_default()
            };
            let targets = names
                .iter()
                .filter_map(|n| absolute(n, &package))
                .filter(|t| !taken_only_from_target(&module, t))
                .collect();
            added.push(module.clone());
            self.edges.insert(module, targets);
        }
        added
    }

    /// Everything reachable from `roots`, parents of dotted names included (importing `a.b`
    /// runs `a` first), and what CPython's C modules import ([`C_IMPORTS`]).
    pub fn reachable<'a>(&self, roots: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
        self.reachable_except(roots, &|_| false)
    }

    /// [`ImportGraph::reachable`] without entering the modules `excluded` says are left out.
    pub fn reachable_except<'a>(
        &self,
        roots: impl IntoIterator<Item = &'a String>,
        excluded: &dyn Fn(&str) -> bool,
    ) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = roots.into_iter().cloned().collect();
        while let Some(name) = todo.pop() {
            if excluded(&name) || !seen.insert(name.clone()) {
                continue;
            }
            if let Some((parent, _)) = name.rsplit_once('.') {
                todo.push(parent.to_string());
            }
            if let Some(targets) = self.edges.get(&name) {
                todo.extend(targets.iter().filter(|t| !seen.contains(*t)).cloned());
            }
            if let Some((_, targets)) = C_IMPORTS.iter().find(|(module, _)| *module == name) {
                todo.extend(targets.iter().map(|t| t.to_string()));
            }
        }
        seen
    }

    /// Every module in the graph whose name matches `pattern` (`email`, `email.*`, `*`).
    pub fn matching(&self, pattern: &str) -> Vec<String> {
        self.edges
            .keys()
            .filter(|m| *m == pattern || crate::fsutil::wildcard_match(pattern, m))
            .cloned()
            .collect()
    }
}

/// Python modules CPython imports by itself, which no `import` statement in the bundle shows:
/// during start-up, and for warnings and tracebacks. The codec search imports `encodings.<name>`
/// by name: the Unicode codecs are kept, the 8-bit and CJK tables (2 MB of them, and the CJK ones
/// pull C modules in) only when the bundle imports them or `include` names them.
pub const INTERPRETER_ROOTS: &[&str] = &[
    "encodings",
    "encodings.aliases",
    "encodings.ascii",
    "encodings.latin_1",
    "encodings.utf_8",
    "encodings.utf_8_sig",
    "encodings.utf_16",
    "encodings.utf_16_le",
    "encodings.utf_16_be",
    "encodings.utf_32",
    "encodings.utf_32_le",
    "encodings.utf_32_be",
    "encodings.unicode_escape",
    "encodings.raw_unicode_escape",
    "codecs",
    "io",
    "abc",
    "os",
    "stat",
    "posixpath",
    "genericpath",
    "_collections_abc",
    "warnings",
    "linecache",
    "traceback",
];

/// Python modules that CPython 3.11's C modules import (with `PyImport_ImportModule`), keyed by
/// the module whose use implies them; `sysconfig` finds its data module by a computed name.
pub const C_IMPORTS: &[(&str, &[&str])] = &[
    ("time", &["_strptime"]),
    ("_datetime", &["_strptime", "time"]),
    ("_pickle", &["copyreg", "_compat_pickle", "functools"]),
    ("_decimal", &["collections", "numbers", "contextvars"]),
    (
        "_elementtree",
        &["xml.etree.ElementPath", "copy", "pyexpat"],
    ),
    ("array", &["copyreg"]),
    ("sysconfig", &["_sysconfigdata__wasi_wasm32-wasi"]),
];

/// Imports that only code of the imported package itself can reach: importlib's path finder
/// imports `importlib.metadata` in `find_distributions`, which only `importlib.metadata` calls.
/// Following them would pull in email, csv, zipfile, socket and more for every bundle.
const TAKEN_ONLY_FROM_TARGET: &[(&str, &str)] =
    &[("importlib._bootstrap_external", "importlib.metadata")];

fn taken_only_from_target(module: &str, target: &str) -> bool {
    TAKEN_ONLY_FROM_TARGET.iter().any(|(from, to)| {
        module == *from && (target == *to || target.starts_with(&format!("{to}.")))
    })
}

/// `pkg.mod` for `<root>/pkg/mod.py`, `pkg` (a package) for `<root>/pkg/__init__.py`.
fn module_of(root: &str, guest: &str) -> Option<(String, bool)> {
    let rel = guest
        .strip_prefix(root)?
        .strip_prefix('/')?
        .strip_suffix(".py")?;
    match rel.strip_suffix("/__init__") {
        Some(package) => Some((package.replace('/', "."), true)),
        None => Some((rel.replace('/', "."), false)),
    }
}

/// Resolves `..a.b` against `package`; absolute names pass through.
fn absolute(name: &str, package: &str) -> Option<String> {
    let level = name.chars().take_while(|&c| c == '.').count();
    if level == 0 {
        return Some(name.to_string());
    }
    let mut base: Vec<&str> = package.split('.').filter(|p| !p.is_empty()).collect();
    for _ in 1..level {
        base.pop()?;
    }
    let rest = &name[level..];
    if !rest.is_empty() {
        base.push(rest);
    }
    (!base.is_empty()).then(|| base.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_imports_resolve_against_the_package() {
        assert_eq!(absolute(".decoder", "json"), Some("json.decoder".into()));
        assert_eq!(absolute("..x", "a.b"), Some("a.x".into()));
        assert_eq!(absolute(".", "a"), Some("a".into()));
        assert_eq!(absolute("...x", "a"), None);
        assert_eq!(absolute("os.path", ""), Some("os.path".into()));
    }

    #[test]
    fn the_path_finder_does_not_pull_in_importlib_metadata() {
        let mut graph = ImportGraph::default();
        let stdlib: BTreeMap<String, Vec<String>> = [(
            "/lib/importlib/_bootstrap_external.py".to_string(),
            vec!["importlib.metadata".to_string(), "_io".to_string()],
        )]
        .into();
        graph.add_root("/lib", &stdlib);
        let reached = graph.reachable(&["importlib._bootstrap_external".to_string()]);
        assert!(reached.contains("_io") && !reached.contains("importlib.metadata"));
    }

    #[test]
    fn reachability_follows_the_stdlib() {
        let mut graph = ImportGraph::default();
        let stdlib: BTreeMap<String, Vec<String>> = [
            ("/lib/gzip.py", vec!["zlib", "os"]),
            ("/lib/json/__init__.py", vec![".decoder"]),
            ("/lib/json/decoder.py", vec!["re"]),
            ("/lib/sqlite3/__init__.py", vec!["sqlite3.dbapi2"]),
            ("/lib/sqlite3/dbapi2.py", vec!["_sqlite3"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
        .collect();
        graph.add_root("/lib", &stdlib);
        let app: BTreeMap<String, Vec<String>> = [(
            "/app/main.py".to_string(),
            vec!["json".to_string(), "gzip".to_string()],
        )]
        .into();
        graph.add_root("/app", &app);
        let reached = graph.reachable(&["main".to_string()]);
        assert!(
            reached.contains("zlib") && reached.contains("json.decoder") && reached.contains("re")
        );
        assert!(!reached.contains("_sqlite3"));
    }
}
