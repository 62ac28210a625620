//! `pywasm.lock`: every distribution a build bundles, with its exact version and sha256, and the
//! inputs it was resolved from so that a lock that no longer matches `pyproject.toml` is noticed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::diagnostic::Diagnostic;
use crate::fsutil;

pub const LOCK_FILE: &str = "pywasm.lock";
const FORMAT: u32 = 1;
const HEADER: &str = "# Written by `pywasm lock`: the exact distributions `pywasm build` bundles.\n# Do not edit; run `pywasm lock` again after changing dependencies.\n";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Lock {
    pub version: u32,
    pub inputs: Inputs,
    #[serde(default, rename = "package")]
    pub packages: Vec<LockedPackage>,
}

/// What the resolution started from. A build refuses a lock whose inputs differ from the
/// project's, instead of silently bundling something else than `pyproject.toml` says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Inputs {
    /// CPython minor version the wheels were chosen for.
    pub python: String,
    /// The requirements given to pip: dependencies plus the chosen extras' ones.
    pub requirements: Vec<String>,
    pub extras: Vec<String>,
    /// `[tool.pywasm] wheels`, as written.
    pub wheels: Vec<String>,
    /// `[tool.pywasm] without-extensions`, normalised.
    pub without_extensions: Vec<String>,
    /// `[tool.pywasm] require-extensions`, normalised.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require_extensions: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedPackage {
    pub name: String,
    pub version: String,
    /// The wheel's file name.
    pub file: String,
    pub sha256: String,
    pub source: Source,
    /// For `source = "wheels"`: the file `[tool.pywasm] wheels` provided it from, relative to
    /// the project directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// For `source = "sdist"`: the source distribution the wheel is built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdist: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdist_sha256: Option<String>,
    /// For `source = "sdist"`: built without a C compiler, as the distribution's pure-Python
    /// fallback, because it has no WASI wheel (`[tool.pywasm] require-extensions` forbids it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pure_fallback: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A wheel from the package index pip is configured with.
    Index,
    /// A wheel from `[tool.pywasm] wheels`.
    Wheels,
    /// Built by pywasm from the index's source distribution, without native extension modules.
    Sdist,
    /// Built by `pywasm wheel build` into pywasm's own wheel directory.
    Built,
}

impl Lock {
    pub fn path(project_dir: &Path) -> PathBuf {
        project_dir.join(LOCK_FILE)
    }

    pub fn new(inputs: Inputs, mut packages: Vec<LockedPackage>) -> Lock {
        packages.sort_by(|a, b| a.name.cmp(&b.name));
        Lock {
            version: FORMAT,
            inputs,
            packages,
        }
    }

    /// Reads the project's lock, if it has one.
    pub fn load(project_dir: &Path) -> Result<Option<Lock>> {
        let path = Lock::path(project_dir);
        if !path.is_file() {
            return Ok(None);
        }
        let text = fs_err::read_to_string(&path)?;
        Lock::parse(&path, &text).map(Some)
    }

    /// Reads a lock's text; `path` is where it came from, for errors.
    pub fn parse(path: &Path, text: &str) -> Result<Lock> {
        let lock: Lock = toml::from_str(text).map_err(|e| {
            let diagnostic = Diagnostic::new(format!(
                "`{}` is not a lock pywasm can read: {}",
                path.display(),
                e.message().trim()
            ))
            .help("the lock is written by pywasm; delete it and run `pywasm lock`");
            match e.span() {
                Some(span) => diagnostic.at(crate::diagnostic::Origin::new(path, text, span)),
                None => diagnostic,
            }
        })?;
        if lock.version != FORMAT {
            bail!(
                Diagnostic::new(format!(
                    "`{}` has format version {}, this pywasm reads version {FORMAT}",
                    path.display(),
                    lock.version
                ))
                .help("run `pywasm lock` to write it again")
            );
        }
        Ok(lock)
    }

    pub fn to_text(&self) -> Result<String> {
        let body = toml::to_string(self).context("failed to render the lock file")?;
        Ok(format!("{HEADER}{body}"))
    }

    /// Writes the lock atomically.
    pub fn save(&self, project_dir: &Path) -> Result<PathBuf> {
        let path = Lock::path(project_dir);
        fsutil::atomic_write(&path, self.to_text()?.as_bytes())?;
        Ok(path)
    }

    /// Why this lock does not fit `inputs`, or `None` when it does.
    pub fn mismatch(&self, inputs: &Inputs) -> Option<String> {
        let ours = &self.inputs;
        let differ = |what: &str, a: &[String], b: &[String]| -> Option<String> {
            if a == b {
                return None;
            }
            let added: Vec<_> = b
                .iter()
                .filter(|x| !a.contains(x))
                .map(|x| format!("+ {x}"))
                .collect();
            let removed: Vec<_> = a
                .iter()
                .filter(|x| !b.contains(x))
                .map(|x| format!("- {x}"))
                .collect();
            let mut changes = removed;
            changes.extend(added);
            if changes.is_empty() {
                changes.push("the order changed".into());
            }
            Some(format!("{what} changed: {}", changes.join(", ")))
        };
        if ours.python != inputs.python {
            return Some(format!(
                "it was resolved for Python {}, the SDK has Python {}",
                ours.python, inputs.python
            ));
        }
        differ("dependencies", &ours.requirements, &inputs.requirements)
            .or_else(|| differ("extras", &ours.extras, &inputs.extras))
            .or_else(|| differ("`[tool.pywasm] wheels`", &ours.wheels, &inputs.wheels))
            .or_else(|| {
                differ(
                    "`[tool.pywasm] without-extensions`",
                    &ours.without_extensions,
                    &inputs.without_extensions,
                )
            })
            .or_else(|| {
                differ(
                    "`[tool.pywasm] require-extensions`",
                    &ours.require_extensions,
                    &inputs.require_extensions,
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock() -> Lock {
        Lock::new(
            Inputs {
                python: "3.11".into(),
                requirements: vec!["attrs>=23".into()],
                ..Inputs::default()
            },
            vec![LockedPackage {
                name: "attrs".into(),
                version: "23.2.0".into(),
                file: "attrs-23.2.0-py3-none-any.whl".into(),
                sha256: "ab".repeat(32),
                source: Source::Index,
                path: None,
                sdist: None,
                sdist_sha256: None,
                pure_fallback: false,
            }],
        )
    }

    #[test]
    fn round_trips_through_text() {
        let dir = tempfile::tempdir().unwrap();
        let lock = lock();
        lock.save(dir.path()).unwrap();
        let text = fs_err::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert!(text.starts_with("# Written by `pywasm lock`"), "{text}");
        assert!(text.contains("[[package]]\nname = \"attrs\""), "{text}");
        assert_eq!(Lock::load(dir.path()).unwrap().unwrap(), lock);
    }

    #[test]
    fn changed_inputs_are_named() {
        let lock = lock();
        let mut inputs = lock.inputs.clone();
        assert_eq!(lock.mismatch(&inputs), None);
        inputs.requirements.push("tomli".into());
        let why = lock.mismatch(&inputs).unwrap();
        assert_eq!(why, "dependencies changed: + tomli");
    }

    #[test]
    fn unknown_keys_are_refused_with_their_place() {
        let dir = tempfile::tempdir().unwrap();
        let text = lock()
            .to_text()
            .unwrap()
            .replace("source = \"index\"", "source = \"index\"\nmirror = 1");
        fs_err::write(dir.path().join(LOCK_FILE), text).unwrap();
        let err = Lock::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("unknown field `mirror`"), "{err}");
        assert!(err.contains("pywasm.lock:"), "{err}");
    }
}
