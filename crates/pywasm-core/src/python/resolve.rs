//! Dependency resolution: `[project].dependencies` (and chosen extras) resolved by pip for the
//! WASI target, or taken exactly from `pywasm.lock`. Every wheel ends up in a content-addressed
//! cache (`<home>/cache/wheels/<sha256>/<file>`) so locked builds need no network once warm.
//!
//! When pip finds nothing for the target, pywasm asks it what it would install natively and
//! tries those distributions one by one for the target: the ones that fail are named in the
//! error, with what they ship instead (native wheels, an sdist with C code). Source-only
//! distributions are built into wheels with their own backend and used when they turn out pure;
//! those listed in `[tool.pywasm] without-extensions` are used without their native modules.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::diagnostic::{Diagnostic, Located, Origin};
use crate::limits::ArchiveLimits;
use crate::manifest::{DependencySpec, normalize_extra};
use crate::python::lock::{Inputs, Lock, LockedPackage, Source};
use crate::python::pip::Pip;
use crate::python::wheel::{self, WheelName};
use crate::sdk::SdkHome;
use crate::sdk::lock::WorkDir;
use crate::{Shell, fsutil};

mod diagnose;
mod from_lock;
mod local;

use diagnose::{BuiltFrom, Diagnosis};
use from_lock::locked;
use local::LocalWheels;

/// A distribution chosen for the module, and where its verified wheel is.
#[derive(Clone, Debug)]
pub struct Dist {
    pub locked: LockedPackage,
    pub wheel: PathBuf,
}

#[derive(Clone, Debug)]
pub struct Resolution {
    pub inputs: Inputs,
    pub dists: Vec<Dist>,
}

impl Resolution {
    pub fn lock(&self) -> Lock {
        Lock::new(
            self.inputs.clone(),
            self.dists.iter().map(|d| d.locked.clone()).collect(),
        )
    }
}

/// Where and how a resolution runs.
pub struct ResolveContext<'a> {
    pub shell: &'a Shell,
    pub home: &'a SdkHome,
    pub project_dir: &'a Path,
    pub manifest_path: &'a Path,
    pub python_minor: &'a str,
    /// The SDK's native CPython of that version, when it has one: pip runs on it (with the pip
    /// its `ensurepip` bundles) when no `python3.x` is on PATH.
    pub native_python: Option<&'a Path>,
    pub offline: bool,
    /// What a wheel built from an sdist is held to when opened.
    pub wheel_limits: ArchiveLimits,
}

/// A requirement line and where it was written.
#[derive(Clone, Debug)]
pub struct Requirement {
    pub text: String,
    pub name: String,
    pub origin: Option<Origin>,
}

/// Resolves the project's dependencies: from the lock when there is one (refusing one that no
/// longer matches `pyproject.toml`), else fresh with pip.
pub fn dependencies(
    cx: &ResolveContext,
    spec: &DependencySpec,
    cli_extras: &[String],
) -> Result<Resolution> {
    let (requirements, inputs) = requirements(spec, cli_extras, cx.python_minor)?;
    if requirements.is_empty() && spec.wheels.is_empty() {
        return Ok(Resolution {
            inputs,
            dists: Vec::new(),
        });
    }
    match Lock::load(cx.project_dir)? {
        Some(lock) => {
            if let Some(why) = lock.mismatch(&inputs) {
                bail!(
                    Diagnostic::new(format!(
                        "`{}` is out of date: {why}",
                        Lock::path(cx.project_dir).display()
                    ))
                    .help("run `pywasm lock` to resolve again")
                );
            }
            locked(cx, spec, lock)
        }
        None => fresh(cx, spec, &requirements, inputs),
    }
}

/// The requirement lines pip gets, and the inputs a lock records.
pub fn requirements(
    spec: &DependencySpec,
    cli_extras: &[String],
    python_minor: &str,
) -> Result<(Vec<Requirement>, Inputs)> {
    let mut extras: Vec<Located<String>> = spec.extras.clone();
    extras.extend(cli_extras.iter().map(|e| Located {
        value: e.clone(),
        origin: Origin::command_line("--extras", e),
    }));
    let mut chosen: Vec<String> = Vec::new();
    let mut lines: Vec<&Located<String>> = spec.dependencies.iter().collect();
    for extra in &extras {
        let key = normalize_extra(&extra.value);
        let Some(group) = spec.optional.get(&key) else {
            let known: Vec<_> = spec.optional.keys().map(|k| format!("`{k}`")).collect();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            return Err(extra.origin.error(
                &format!("unknown extra `{}`", extra.value),
                Some(&format!(
                    "`[project.optional-dependencies]` defines: {known}"
                )),
            ));
        };
        if !chosen.contains(&key) {
            chosen.push(key);
            lines.extend(group);
        }
    }
    let mut out: Vec<Requirement> = Vec::new();
    for line in lines {
        let name = requirement_name(&line.value).ok_or_else(|| {
            line.origin.error(
                &format!("`{}` is not a PEP 508 requirement", line.value),
                Some("write a distribution name with optional version and markers, e.g. `attrs>=23.1`"),
            )
        })?;
        if !out.iter().any(|r| r.text == line.value.trim()) {
            out.push(Requirement {
                text: line.value.trim().to_string(),
                name,
                origin: Some(line.origin.clone()),
            });
        }
    }
    chosen.sort();
    let normalized = |names: &[Located<String>]| {
        let mut out: Vec<String> = names
            .iter()
            .map(|w| wheel::normalize_name(&w.value))
            .collect();
        out.sort();
        out.dedup();
        out
    };
    let inputs = Inputs {
        python: python_minor.to_string(),
        requirements: out.iter().map(|r| r.text.clone()).collect(),
        extras: chosen,
        wheels: spec.wheels.iter().map(|w| w.value.clone()).collect(),
        without_extensions: normalized(&spec.without_extensions),
        require_extensions: normalized(&spec.require_extensions),
    };
    Ok((out, inputs))
}

/// The distribution name a PEP 508 line starts with, normalised.
pub fn requirement_name(text: &str) -> Option<String> {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .unwrap_or(text.len());
    let name = &text[..end];
    let rest = text[end..].trim_start();
    let valid_rest =
        rest.is_empty() || rest.starts_with(['[', '<', '>', '=', '!', '~', ';', '@', '(']);
    (!name.is_empty() && name.starts_with(|c: char| c.is_ascii_alphanumeric()) && valid_rest)
        .then(|| wheel::normalize_name(name))
}

/// Resolves with pip from scratch, ignoring any lock.
pub fn fresh(
    cx: &ResolveContext,
    spec: &DependencySpec,
    requirements: &[Requirement],
    inputs: Inputs,
) -> Result<Resolution> {
    if cx.offline {
        bail!(
            Diagnostic::new(
                "resolving dependencies needs the package index, and `--offline` was given"
            )
            .help(
                "run `pywasm lock` once online; a build with `pywasm.lock` and a warm cache works offline"
            )
        );
    }
    let scratch = scratch_dir(cx.home)?;
    let links = scratch.path().join("links");
    let local = LocalWheels::gather(cx, spec, &links)?;
    // Wheels listed in `[tool.pywasm] wheels` are offered to pip, not forced on it: only what
    // the dependencies ask for is bundled.
    if requirements.is_empty() {
        warn_unused(cx.shell, &local, &[]);
        return Ok(Resolution {
            inputs,
            dists: Vec::new(),
        });
    }
    let pip = Pip::find(cx.python_minor, cx.native_python, cx.shell)?;
    let reqs_file = scratch.path().join("requirements.txt");
    let text: String = requirements
        .iter()
        .map(|r| format!("{}\n", r.text))
        .collect();
    fs_err::write(&reqs_file, text)?;
    let mut built: BTreeMap<String, BuiltFrom> = BTreeMap::new();
    for attempt in 0.. {
        let dest = scratch.path().join(format!("download-{attempt}"));
        fs_err::create_dir_all(&dest)?;
        match pip.download_for_target(cx.shell, &reqs_file, std::slice::from_ref(&links), &dest)? {
            Ok(()) => {
                let dists = collect_downloads(cx, &dest, &local, &built)?;
                warn_unused(cx.shell, &local, &dists);
                warn_fallbacks(cx.shell, &dists);
                return Ok(Resolution { inputs, dists });
            }
            Err(failure) if attempt < 8 => {
                let diagnosis = Diagnosis {
                    cx,
                    pip: &pip,
                    scratch: scratch.path(),
                    links: &links,
                    without: &inputs.without_extensions,
                    require: &inputs.require_extensions,
                };
                diagnosis.repair(&reqs_file, &failure, requirements, &mut built)?;
            }
            Err(failure) => bail!(
                "pip could not resolve the dependencies for WASI:\n{}",
                failure.summary()
            ),
        }
    }
    unreachable!("the loop returns or fails")
}

fn scratch_dir(home: &SdkHome) -> Result<WorkDir> {
    // What resolutions of killed builds left behind goes first.
    crate::sdk::lock::sweep_stale_work(home, "resolve")?;
    WorkDir::new(home, "resolve")
}

/// Moves pip's downloads into the wheel cache and records where each came from.
fn collect_downloads(
    cx: &ResolveContext,
    dest: &Path,
    local: &LocalWheels,
    built: &BTreeMap<String, BuiltFrom>,
) -> Result<Vec<Dist>> {
    let mut dists = Vec::new();
    for path in fsutil::walk_files(dest, &|_, _| false)? {
        let file = fsutil::slash_path(&path);
        let host = dest.join(&path);
        let Ok(name) = WheelName::parse(&file) else {
            bail!("pip downloaded `{file}`, which is not a wheel; pywasm bundles wheels only");
        };
        let sha256 = fsutil::sha256_file(&host)?;
        let (source, origin_path, sdist) = match (built.get(&file), local.origins.get(&file)) {
            (Some(from), _) => (Source::Sdist, None, Some(from)),
            (None, Some(local)) if local.sha256 == sha256 && local.built => {
                (Source::Built, None, None)
            }
            (None, Some(local)) if local.sha256 == sha256 => {
                (Source::Wheels, Some(local.display.clone()), None)
            }
            _ => (Source::Index, None, None),
        };
        let wheel = cache_wheel(cx.home, &host, &file, &sha256)?;
        dists.push(Dist {
            locked: LockedPackage {
                name: name.distribution.clone(),
                version: name.version.clone(),
                file,
                sha256,
                source,
                path: origin_path,
                sdist: sdist.map(|s| s.sdist.clone()),
                sdist_sha256: sdist.map(|s| s.sdist_sha256.clone()),
                pure_fallback: sdist.is_some_and(|s| s.pure_fallback),
            },
            wheel,
        });
    }
    dists.sort_by(|a, b| a.locked.name.cmp(&b.locked.name));
    Ok(dists)
}

fn warn_unused(shell: &Shell, local: &LocalWheels, dists: &[Dist]) {
    for (file, origin) in &local.origins {
        let used = |d: &Dist| &d.locked.file == file || d.locked.sdist.as_ref() == Some(file);
        if !origin.built && !dists.iter().any(used) {
            shell.warn(&format!(
                "`{}` from `[tool.pywasm] wheels` is not needed by any dependency and is left out",
                origin.display
            ));
        }
    }
}

/// One line per distribution bundled as its pure-Python fallback, on every build that does.
fn warn_fallbacks(shell: &Shell, dists: &[Dist]) {
    for dist in dists.iter().filter(|d| d.locked.pure_fallback) {
        shell.warn(&format!(
            "`{}` {} has no WASI wheel and is bundled as its pure-Python fallback (correct, but \
             slower than with its C extension); `require-extensions = [\"{}\"]` under \
             [tool.pywasm] makes this an error",
            dist.locked.name,
            dist.locked.version,
            wheel::normalize_name(&dist.locked.name)
        ));
    }
}

/// `<home>/cache/wheels/<sha256>/<file>`: verified once, shared by every project.
fn cache_wheel(home: &SdkHome, from: &Path, file: &str, sha256: &str) -> Result<PathBuf> {
    let dir = home.cache("wheels").join(sha256);
    let target = dir.join(file);
    if !target.is_file() {
        // Written through a private temporary file: builds running side by side may cache the
        // same wheel.
        fsutil::atomic_write(&target, &fs_err::read(from)?)?;
    }
    Ok(target)
}

#[cfg(test)]
mod tests;
