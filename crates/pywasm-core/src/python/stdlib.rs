//! Which stdlib files go into the image: with `stdlib = "reachable"` (the default), the modules
//! the app and its dependencies reach in the import graph, what CPython imports by itself, and
//! `include`, minus `exclude`. The names of the modules left out are embedded too, so that
//! importing one raises a `ModuleNotFoundError` that says how to put it back.

use std::collections::BTreeSet;

use anyhow::Result;

use crate::diagnostic::Located;
use crate::python::imports::{INTERPRETER_ROOTS, ImportGraph, StdlibMode};

/// Embedded in the stdlib directory, one module name a line; read by the finder that
/// `templates/main.c.in` appends to `sys.meta_path`.
pub const LEFT_OUT_FILE: &str = "_pywasm_left_out.txt";

#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// `None` keeps the whole stdlib.
    pub kept: Option<BTreeSet<String>>,
    pub left_out: Vec<String>,
}

/// What the user asked for, from `[tool.pywasm]`.
pub struct Request<'a> {
    pub mode: StdlibMode,
    pub include: &'a [Located<String>],
    pub exclude: &'a [Located<String>],
    /// The C modules libpython carries, which `include` may name too.
    pub builtins: &'a BTreeSet<String>,
}

/// `roots` are the bundle's own modules (app and dependencies); `stdlib_modules` every module
/// of the stdlib in `graph`.
pub fn select(
    graph: &ImportGraph,
    roots: &[String],
    stdlib_modules: &[String],
    request: &Request,
) -> Result<Selection> {
    if request.mode == StdlibMode::Full {
        return Ok(Selection::default());
    }
    let mut start: Vec<String> = roots.to_vec();
    for pattern in INTERPRETER_ROOTS {
        start.extend(graph.matching(pattern));
    }
    for include in request.include {
        let found = graph.matching(&include.value);
        if request.builtins.contains(&include.value) {
            start.push(include.value.clone());
            continue;
        }
        if found.is_empty() {
            return Err(include.origin.error(
                &format!(
                    "`include` names `{}`, which is not a module of the stdlib or of the bundle",
                    include.value
                ),
                Some("write module names as in `import` (`email.mime.text`), or `email.*` for a package and everything below it"),
            ));
        }
        start.extend(found);
    }
    let mut excluded = BTreeSet::new();
    for exclude in request.exclude {
        let found = graph.matching(&exclude.value);
        if found.is_empty() {
            return Err(exclude.origin.error(
                &format!(
                    "`exclude` names `{}`, which is not a module of the stdlib",
                    exclude.value
                ),
                Some("write module names as in `import`, or `xml.*` for a package and everything below it"),
            ));
        }
        excluded.extend(found);
    }
    let kept = graph.reachable_except(&start, &|module: &str| excluded.contains(module));
    let left_out = stdlib_modules
        .iter()
        .filter(|m| !kept.contains(*m))
        .cloned()
        .collect();
    Ok(Selection {
        kept: Some(kept),
        left_out,
    })
}

impl Selection {
    /// Whether the stdlib file at `guest` (a source, its `__pycache__` bytecode, or a data file
    /// of a package) stays.
    pub fn keeps(&self, stdlib_dir: &str, guest: &str) -> bool {
        let Some(kept) = &self.kept else {
            return true;
        };
        let Some(rel) = guest
            .strip_prefix(stdlib_dir)
            .and_then(|r| r.strip_prefix('/'))
        else {
            return true;
        };
        if rel == LEFT_OUT_FILE {
            return true;
        }
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let (dir, source) = match dir.rsplit_once('/') {
            _ if dir == "__pycache__" => ("", name.split('.').next().unwrap_or(name)),
            Some((parent, "__pycache__")) => (parent, name.split('.').next().unwrap_or(name)),
            _ => match name.strip_suffix(".py") {
                Some(stem) => (dir, stem),
                // A data file belongs to its package.
                None if dir.is_empty() => return true,
                None => return kept.contains(&dir.replace('/', ".")),
            },
        };
        let package = dir.replace('/', ".");
        let module = match (package.is_empty(), source) {
            (_, "__init__") => package,
            (true, _) => source.to_string(),
            (false, _) => format!("{package}.{source}"),
        };
        kept.contains(&module)
    }

    /// The contents of [`LEFT_OUT_FILE`].
    pub fn left_out_file(&self) -> String {
        let mut text = self.left_out.join("\n");
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_follow_their_modules() {
        let selection = Selection {
            kept: Some(["json", "json.decoder", "email"].map(String::from).into()),
            left_out: vec!["csv".into()],
        };
        let lib = "/usr/local/lib/python3.11";
        let keeps = |rel: &str| selection.keeps(lib, &format!("{lib}/{rel}"));
        assert!(keeps("json/__init__.py"));
        assert!(keeps("json/__pycache__/__init__.cpython-311.pyc"));
        assert!(keeps("json/decoder.py"));
        assert!(keeps("json/__pycache__/decoder.cpython-311.pyc"));
        assert!(!keeps("json/encoder.py"));
        assert!(!keeps("json/__pycache__/encoder.cpython-311.pyc"));
        assert!(!keeps("csv.py"));
        assert!(!keeps("__pycache__/csv.cpython-311.pyc"));
        assert!(keeps("email/architecture.rst"));
        assert!(!keeps("lib2to3/Grammar.txt"));
        assert!(keeps(LEFT_OUT_FILE));
        assert!(Selection::default().keeps(lib, &format!("{lib}/csv.py")));
    }
}
