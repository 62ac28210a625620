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

/// The files of a new project, rendered from `templates/init/` (`{{name}}`, `{{package}}`).
const SCAFFOLD: [(&str, &str); 5] = [
    (
        "pyproject.toml",
        include_str!("../templates/init/pyproject.toml"),
    ),
    ("src/{{package}}/__init__.py", "\"\"\"{{name}}.\"\"\"\n"),
    (
        "src/{{package}}/cli.py",
        include_str!("../templates/init/cli.py"),
    ),
    (
        "tests/test_cli.py",
        include_str!("../templates/init/test_cli.py"),
    ),
    (".gitignore", include_str!("../templates/init/gitignore")),
];

fn scaffold(name: &str, package: &str) -> Vec<(PathBuf, String)> {
    let render = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{package}}", package)
    };
    SCAFFOLD
        .iter()
        .map(|(path, text)| (PathBuf::from(render(path)), render(text)))
        .collect()
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
