//! Collects the files that go into the module: the app's sources and data files from its source
//! roots, and the parts of CPython's stdlib that can work under WASI.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::diagnostic::Diagnostic;
use crate::fsutil::{slash_path, walk_files};
use crate::manifest::Manifest;
use crate::plan::{SourceKind, SourceRoot};

/// One file to embed: where it comes from and its absolute path inside the module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    pub guest: String,
    pub host: PathBuf,
}

#[derive(Clone, Debug, Default)]
pub struct Collected {
    pub app: Vec<FileEntry>,
    pub stdlib: Vec<FileEntry>,
}

/// Top-level stdlib entries left out: test suites, GUI and packaging tools, build artefacts
/// (`config-3.11-*` holds a second 28 MB libpython) and things that cannot run without
/// subprocesses or a display.
const STDLIB_SKIP_TOP: &[&str] = &[
    "__pycache__",
    "ensurepip",
    "idlelib",
    "lib-dynload",
    "lib2to3",
    "pydoc_data",
    "site-packages",
    "test",
    "tkinter",
    "turtle.py",
    "turtledemo",
    "venv",
];

/// Directory names pruned anywhere in the stdlib and in app packages.
const ALWAYS_SKIP_DIRS: &[&str] = &["__pycache__"];
const STDLIB_SKIP_DIRS: &[&str] = &["test", "tests", "idle_test"];

/// What setuptools' flat-layout discovery refuses to treat as a package or module.
const FLAT_EXCLUDE: &[&str] = &[
    "benchmark",
    "benchmarks",
    "bin",
    "build",
    "changelog",
    "ci",
    "conftest",
    "debian",
    "dist",
    "doc",
    "docs",
    "documentation",
    "env",
    "example",
    "examples",
    "exercise",
    "exercises",
    "fabfile",
    "manage",
    "manpages",
    "news",
    "newsfragments",
    "noxfile",
    "pavement",
    "scripts",
    "setup",
    "site",
    "tasks",
    "test",
    "tests",
    "toolkit",
    "tools",
    "unit_test",
    "venv",
];

/// Decides the source roots: `[tool.pywasm] sources` if given, else `src/` when it holds
/// Python code (src layout), else the project directory (flat layout).
pub fn source_roots(manifest: &Manifest) -> Result<Vec<SourceRoot>> {
    if let Some(listed) = &manifest.sources {
        let mut roots = Vec::new();
        for item in listed {
            let path = manifest.dir.join(&item.value);
            let is_py_file = path.is_file() && path.extension().is_some_and(|e| e == "py");
            if !path.is_dir() && !is_py_file {
                return Err(item.origin.error(
                    &format!("source `{}` is not a directory or a `.py` file", item.value.display()),
                    Some("list directories that hold your top-level packages, e.g. `sources = [\"src\"]`"),
                ));
            }
            roots.push(SourceRoot {
                path,
                kind: SourceKind::Listed,
                origin: Some(item.origin.clone()),
            });
        }
        return Ok(roots);
    }
    let src = manifest.dir.join("src");
    if src.is_dir() && has_python(&src)? {
        return Ok(vec![SourceRoot {
            path: src,
            kind: SourceKind::SrcLayout,
            origin: None,
        }]);
    }
    Ok(vec![SourceRoot {
        path: manifest.dir.clone(),
        kind: SourceKind::FlatLayout,
        origin: None,
    }])
}

/// Whether the files of `roots` already include `path` (a directory or file inside a root that
/// takes it whole, or a package a flat layout picks).
pub fn covers(roots: &[SourceRoot], path: &Path) -> bool {
    roots.iter().any(|root| {
        let Ok(rel) = path.strip_prefix(&root.path) else {
            return false;
        };
        match root.kind {
            SourceKind::FlatLayout => rel.components().next().is_some_and(|first| {
                let first = Path::new(first.as_os_str());
                is_flat_package(&root.path, first) || is_flat_module(&first.to_string_lossy())
            }),
            _ => root.path.is_dir(),
        }
    })
}

/// The `.py` files below `dir`, skipping what app collection skips.
pub fn python_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let files = walk_files(dir, &|_, name| skip_app_dir(name))?;
    Ok(files
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "py"))
        .map(|f| dir.join(f))
        .collect())
}

fn has_python(dir: &Path) -> Result<bool> {
    let files = walk_files(dir, &|_, name| skip_app_dir(name))?;
    Ok(files
        .iter()
        .any(|f| f.extension().is_some_and(|e| e == "py")))
}

fn skip_app_dir(name: &str) -> bool {
    name.starts_with('.') || ALWAYS_SKIP_DIRS.contains(&name) || name.ends_with(".egg-info")
}

fn skip_app_file(name: &str) -> bool {
    name.starts_with('.') || name.ends_with(".pyc") || name.ends_with(".pyo")
}

/// Collects the app's files below `app_dir` in the module.
pub fn app_files(roots: &[SourceRoot], app_dir: &str) -> Result<Vec<FileEntry>> {
    let mut by_guest: BTreeMap<String, PathBuf> = BTreeMap::new();
    for root in roots {
        for (rel, host) in root_files(root)? {
            let guest = format!("{app_dir}/{rel}");
            if let Some(previous) = by_guest.insert(guest.clone(), host.clone()) {
                bail!(
                    Diagnostic::new(format!(
                        "two sources provide `{rel}`: `{}` and `{}`",
                        previous.display(),
                        host.display()
                    ))
                    .at_opt(root.origin.as_ref())
                    .help("list each package in only one of `[tool.pywasm] sources`")
                );
            }
        }
    }
    if by_guest.is_empty() {
        let roots: Vec<_> = roots
            .iter()
            .map(|r| format!("`{}`", r.path.display()))
            .collect();
        bail!(
            Diagnostic::new(format!("found no Python sources in {}", roots.join(", ")))
                .help("put your package in `src/<name>/` or set `[tool.pywasm] sources`")
        );
    }
    Ok(by_guest
        .into_iter()
        .map(|(guest, host)| FileEntry { guest, host })
        .collect())
}

/// The files of one source root as (path inside the app dir, host path).
fn root_files(root: &SourceRoot) -> Result<Vec<(String, PathBuf)>> {
    if root.path.is_file() {
        let name = root
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(vec![(name, root.path.clone())]);
    }
    let flat = root.kind == SourceKind::FlatLayout;
    let prefix = match &root.kind {
        SourceKind::Named => root
            .path
            .file_name()
            .map(|n| format!("{}/", n.to_string_lossy()))
            .unwrap_or_default(),
        _ => String::new(),
    };
    let mut out = Vec::new();
    for rel in walk_files(&root.path, &|rel, name| {
        skip_app_dir(name)
            || (flat && rel.components().count() == 1 && !is_flat_package(&root.path, rel))
    })? {
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if skip_app_file(&name) {
            continue;
        }
        if flat && rel.components().count() == 1 && !is_flat_module(&name) {
            continue;
        }
        out.push((
            format!("{prefix}{}", slash_path(&rel)),
            root.path.join(&rel),
        ));
    }
    Ok(out)
}

fn is_flat_package(root: &Path, rel: &Path) -> bool {
    let name = rel.to_string_lossy();
    crate::manifest::is_identifier(&name)
        && !FLAT_EXCLUDE.contains(&name.as_ref())
        && root.join(rel).join("__init__.py").is_file()
}

fn is_flat_module(name: &str) -> bool {
    name.strip_suffix(".py")
        .is_some_and(|stem| crate::manifest::is_identifier(stem) && !FLAT_EXCLUDE.contains(&stem))
}

/// The stdlib files to embed, below `stdlib_guest` in the module.
pub fn stdlib_files(stdlib_dir: &Path, stdlib_guest: &str) -> Result<Vec<FileEntry>> {
    let skip_dir = |rel: &Path, name: &str| {
        (rel.components().count() == 1
            && (STDLIB_SKIP_TOP.contains(&name) || name.starts_with("config-")))
            || ALWAYS_SKIP_DIRS.contains(&name)
            || STDLIB_SKIP_DIRS.contains(&name)
    };
    let files = walk_files(stdlib_dir, &skip_dir)?;
    Ok(files
        .into_iter()
        .filter(|rel| {
            let name = rel.to_string_lossy();
            let skipped_top =
                rel.components().count() == 1 && STDLIB_SKIP_TOP.contains(&name.as_ref());
            !skipped_top && !name.ends_with(".pyc")
        })
        .map(|rel| FileEntry {
            guest: format!("{stdlib_guest}/{}", slash_path(&rel)),
            host: stdlib_dir.join(rel),
        })
        .collect())
}

/// The app file that defines `module`: `a/b.py` or `a/b/__init__.py` below the app dir.
pub fn module_file<'a>(app: &'a [FileEntry], app_dir: &str, module: &str) -> Option<&'a FileEntry> {
    let base = format!("{app_dir}/{}", module.replace('.', "/"));
    let candidates = [format!("{base}.py"), format!("{base}/__init__.py")];
    candidates
        .iter()
        .find_map(|c| app.iter().find(|f| &f.guest == c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;

    fn project(files: &[&str], pyproject_extra: &str) -> (tempfile::TempDir, Manifest) {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let p = dir.path().join(f);
            fs_err::create_dir_all(p.parent().unwrap()).unwrap();
            fs_err::write(p, "").unwrap();
        }
        let text = format!(
            "[project]\nname = \"demo\"\n[tool.pywasm]\nentry = \"demo:main\"\n{pyproject_extra}"
        );
        let path = dir.path().join("pyproject.toml");
        fs_err::write(&path, &text).unwrap();
        let manifest = Manifest::parse(&path, &text).unwrap();
        (dir, manifest)
    }

    fn guests(entries: &[FileEntry]) -> Vec<&str> {
        entries.iter().map(|e| e.guest.as_str()).collect()
    }

    #[test]
    fn src_layout_takes_everything_but_caches_and_hidden_files() {
        let (_dir, m) = project(
            &[
                "src/demo/__init__.py",
                "src/demo/data/x.txt",
                "src/demo/__pycache__/a.pyc",
                "src/demo/.hidden",
                "src/demo.egg-info/PKG-INFO",
                "tests/test_a.py",
            ],
            "",
        );
        let roots = source_roots(&m).unwrap();
        assert_eq!(roots[0].kind, SourceKind::SrcLayout);
        let files = app_files(&roots, "/app").unwrap();
        assert_eq!(
            guests(&files),
            ["/app/demo/__init__.py", "/app/demo/data/x.txt"]
        );
    }

    #[test]
    fn flat_layout_skips_tests_docs_and_setup() {
        let (_dir, m) = project(
            &[
                "demo/__init__.py",
                "demo/x.json",
                "tests/__init__.py",
                "docs/conf.py",
                "setup.py",
                "tool.py",
                "notes/readme.txt",
            ],
            "",
        );
        let roots = source_roots(&m).unwrap();
        assert_eq!(roots[0].kind, SourceKind::FlatLayout);
        let files = app_files(&roots, "/app").unwrap();
        assert_eq!(
            guests(&files),
            ["/app/demo/__init__.py", "/app/demo/x.json", "/app/tool.py"]
        );
    }

    #[test]
    fn listed_sources_must_exist() {
        let (_dir, m) = project(&["lib/demo.py"], "sources = [\"lib\", \"missing\"]\n");
        let err = source_roots(&m).unwrap_err().to_string();
        assert!(err.contains("source `missing` is not a directory"), "{err}");
        assert!(err.contains("pyproject.toml:5:"), "{err}");
    }

    #[test]
    fn listed_sources_may_not_overlap() {
        let (_dir, m) = project(&["a/demo.py", "b/demo.py"], "sources = [\"a\", \"b\"]\n");
        let roots = source_roots(&m).unwrap();
        let err = app_files(&roots, "/app").unwrap_err().to_string();
        assert!(err.contains("two sources provide `demo.py`"), "{err}");
    }

    #[test]
    fn module_files_resolve_packages_and_modules() {
        let app = vec![
            FileEntry {
                guest: "/app/a/__init__.py".into(),
                host: "x".into(),
            },
            FileEntry {
                guest: "/app/a/b.py".into(),
                host: "y".into(),
            },
        ];
        assert_eq!(module_file(&app, "/app", "a").unwrap().host, Path::new("x"));
        assert_eq!(
            module_file(&app, "/app", "a.b").unwrap().host,
            Path::new("y")
        );
        assert!(module_file(&app, "/app", "a.c").is_none());
    }
}
