//! `pywasm init [DIR]`: a new project that builds and runs at once: `pyproject.toml` with
//! `[tool.pywasm]`, a src-layout package with an entry function, a test, and a `.gitignore`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::Shell;
use crate::diagnostic::Diagnostic;
use crate::manifest::is_identifier;

#[derive(Clone, Debug, Default)]
pub struct InitOptions {
    pub dir: PathBuf,
    /// The project's name; defaults to the directory's.
    pub name: Option<String>,
}

/// What `init` wrote.
#[derive(Clone, Debug)]
pub struct Created {
    pub dir: PathBuf,
    pub name: String,
    pub package: String,
    pub files: Vec<PathBuf>,
}

pub fn init(options: &InitOptions, shell: &Shell) -> Result<Created> {
    let dir = &options.dir;
    let name = match &options.name {
        Some(name) => name.clone(),
        None => dir_name(dir)?,
    };
    let package = package_name(&name)?;
    let files = scaffold(&name, &package);
    for (rel, _) in &files {
        let path = dir.join(rel);
        if path.exists() {
            bail!(
                Diagnostic::new(format!(
                    "`{}` already exists; pywasm init only creates new projects",
                    path.display()
                ))
                .help("choose an empty or new directory: `pywasm init my-app`")
            );
        }
    }
    let mut written = Vec::new();
    for (rel, text) in files {
        let path = dir.join(&rel);
        crate::fsutil::atomic_write(&path, text.as_bytes())
            .with_context(|| format!("cannot create `{}`", path.display()))?;
        written.push(path);
    }
    shell.status(
        "Created",
        &format!(
            "project `{name}` (package `{package}`) in `{}`",
            dir.display()
        ),
    );
    Ok(Created {
        dir: dir.clone(),
        name,
        package,
        files: written,
    })
}

fn dir_name(dir: &Path) -> Result<String> {
    let absolute = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()
            .context("failed to read the current directory")?
            .join(dir)
    };
    absolute
        .components()
        .next_back()
        .and_then(|c| c.as_os_str().to_str())
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .map(str::to_string)
        .ok_or_else(|| {
            Diagnostic::new(format!("cannot name a project after `{}`", dir.display()))
                .help("pass `--name my-app`")
                .into()
        })
}

/// `my-app` → `my_app`; the import name must be a Python identifier.
fn package_name(name: &str) -> Result<String> {
    let package: String = name
        .trim()
        .chars()
        .map(|c| {
            if c == '-' || c == '.' || c == ' ' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    if !package.is_ascii() || !is_identifier(&package) {
        bail!(
            Diagnostic::new(format!(
                "`{name}` does not make a Python package name (it becomes `{package}`)"
            ))
            .help("pass `--name` with letters, digits, `-` and `_`, not starting with a digit")
        );
    }
    Ok(package)
}

fn scaffold(name: &str, package: &str) -> Vec<(PathBuf, String)> {
    let pyproject = format!(
        r#"[project]
name = "{name}"
version = "0.1.0"
description = "A Python program compiled to WebAssembly with pywasm"
requires-python = ">=3.11"
dependencies = []

[project.scripts]
{name} = "{package}.cli:main"

[tool.pywasm]
# The function the module runs; what it returns is the exit status.
entry = "{package}.cli:main"
output = "dist/{name}.wasm"

# The tests run natively: `pytest`, or `PYTHONPATH=src python -m unittest discover -s tests`;
# and inside the module, as it will run: `pywasm test` (`--compare` runs both).
[tool.pytest.ini_options]
pythonpath = ["src"]
"#
    );
    let cli = format!(
        r#""""The entry point: `pywasm build` compiles this project into dist/{name}.wasm, whose start runs
`main()` with the module's arguments in sys.argv."""

import sys


def greet(name: str) -> str:
    return f"Hello, {{name}}!"


def main() -> int:
    names = sys.argv[1:] or ["world"]
    for name in names:
        print(greet(name))
    return 0
"#
    );
    let test = format!(
        r#"import unittest

from {package}.cli import greet


class GreetTest(unittest.TestCase):
    def test_greets_by_name(self):
        self.assertEqual(greet("pywasm"), "Hello, pywasm!")


if __name__ == "__main__":
    unittest.main()
"#
    );
    vec![
        ("pyproject.toml".into(), pyproject),
        (
            PathBuf::from("src").join(package).join("__init__.py"),
            format!("\"\"\"{name}.\"\"\"\n"),
        ),
        (PathBuf::from("src").join(package).join("cli.py"), cli),
        (PathBuf::from("tests").join("test_cli.py"), test),
        (
            ".gitignore".into(),
            "dist/\n__pycache__/\n.pywasm/\n".into(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_packages() {
        assert_eq!(package_name("My-App").unwrap(), "my_app");
        assert!(package_name("1app").is_err());
        assert!(package_name("app!").is_err());
    }

    #[test]
    fn an_existing_project_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("demo");
        let options = InitOptions {
            dir: project.clone(),
            name: None,
        };
        let created = init(&options, &Shell::quiet()).unwrap();
        assert_eq!(created.package, "demo");
        assert!(project.join("src/demo/cli.py").is_file());
        let manifest = crate::manifest::Manifest::load(&project).unwrap();
        assert_eq!(manifest.kind.display(), "demo.cli:main");
        let err = init(&options, &Shell::quiet()).unwrap_err();
        assert!(format!("{err}").contains("already exists"), "{err}");
    }
}
