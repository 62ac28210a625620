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

use anyhow::{Context, Result, bail};

use crate::diagnostic::{Diagnostic, Located, Origin};
use crate::lock::{Inputs, Lock, LockedPackage, Source};
use crate::manifest::{DependencySpec, normalize_extra};
use crate::pip::Pip;
use crate::sdk::SdkHome;
use crate::wheel::{self, WheelName};
use crate::{Shell, fsutil};

mod diagnose;
mod local;

use diagnose::{BuiltFrom, Diagnosis, SdistBuild};
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
    pub offline: bool,
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
    let pip = Pip::find(cx.python_minor, cx.shell)?;
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

fn scratch_dir(home: &SdkHome) -> Result<tempfile::TempDir> {
    let tmp = home.tmp_dir();
    fs_err::create_dir_all(&tmp)?;
    tempfile::Builder::new()
        .prefix("resolve-")
        .tempdir_in(&tmp)
        .with_context(|| format!("failed to create a directory in `{}`", tmp.display()))
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

fn cached_wheel(home: &SdkHome, file: &str, sha256: &str) -> Result<Option<PathBuf>> {
    let path = home.cache("wheels").join(sha256).join(file);
    if !path.is_file() {
        return Ok(None);
    }
    // A damaged cache entry is dropped and fetched again rather than trusted.
    if fsutil::sha256_file(&path)? == sha256 {
        return Ok(Some(path));
    }
    fs_err::remove_file(&path)?;
    Ok(None)
}

/// Takes exactly the lock's distributions; any file that no longer matches its hash is an error.
pub fn locked(cx: &ResolveContext, spec: &DependencySpec, lock: Lock) -> Result<Resolution> {
    let scratch = scratch_dir(cx.home)?;
    let links = scratch.path().join("links");
    let local = LocalWheels::gather(cx, spec, &links)?;
    let lock_path = Lock::path(cx.project_dir);
    let stale = |pkg: &LockedPackage, found: &str, what: &str| {
        anyhow::Error::from(
            Diagnostic::new(format!(
                "`{}` is stale: it pins `{}` with sha256 {}, but {what} has sha256 {found}",
                lock_path.display(),
                pkg.file,
                pkg.sha256
            ))
            .help(
                "if the new file is intended, run `pywasm lock` to accept it; otherwise restore the original",
            ),
        )
    };
    let mut dists: Vec<Dist> = Vec::new();
    let mut missing: Vec<&LockedPackage> = Vec::new();
    for pkg in &lock.packages {
        match pkg.source {
            Source::Wheels | Source::Built => {
                let Some(found) = local.origins.get(&pkg.file) else {
                    let (from, help) = if pkg.source == Source::Built {
                        (
                            "pywasm's built wheels",
                            "build it with `cargo xtask build-wheel`, or run `pywasm lock` to resolve again",
                        )
                    } else {
                        (
                            "`[tool.pywasm] wheels`",
                            "restore the wheel, or run `pywasm lock` to resolve again",
                        )
                    };
                    bail!(
                        Diagnostic::new(format!(
                            "`{}` pins `{}` from {from}, and it is not there any more",
                            lock_path.display(),
                            pkg.file
                        ))
                        .help(help)
                    );
                };
                if found.sha256 != pkg.sha256 {
                    return Err(stale(pkg, &found.sha256, &format!("`{}`", found.display)));
                }
                dists.push(Dist {
                    locked: pkg.clone(),
                    wheel: links.join(&pkg.file),
                });
            }
            _ => match cached_wheel(cx.home, &pkg.file, &pkg.sha256)? {
                Some(wheel) => dists.push(Dist {
                    locked: pkg.clone(),
                    wheel,
                }),
                None => missing.push(pkg),
            },
        }
    }
    if !missing.is_empty() {
        dists.extend(fetch_locked(
            cx,
            &lock.inputs,
            &missing,
            scratch.path(),
            &links,
            &stale,
        )?);
    }
    dists.sort_by(|a, b| a.locked.name.cmp(&b.locked.name));
    warn_fallbacks(cx.shell, &dists);
    // Local wheels live in the scratch directory; keep them for the build.
    for dist in &mut dists {
        if matches!(dist.locked.source, Source::Wheels | Source::Built) {
            dist.wheel = cache_wheel(cx.home, &dist.wheel, &dist.locked.file, &dist.locked.sha256)?;
        }
    }
    Ok(Resolution {
        inputs: lock.inputs,
        dists,
    })
}

/// Downloads (or rebuilds) locked distributions missing from the cache and checks their hashes.
fn fetch_locked(
    cx: &ResolveContext,
    lock_inputs: &Inputs,
    missing: &[&LockedPackage],
    scratch: &Path,
    links: &Path,
    stale: &dyn Fn(&LockedPackage, &str, &str) -> anyhow::Error,
) -> Result<Vec<Dist>> {
    if cx.offline {
        let names: Vec<_> = missing.iter().map(|p| format!("`{}`", p.file)).collect();
        bail!(
            Diagnostic::new(format!(
                "`--offline` was given and the cache lacks {}",
                names.join(", ")
            ))
            .help("build once without `--offline` to fill the cache")
        );
    }
    let pip = Pip::find(cx.python_minor, cx.shell)?;
    let mut out = Vec::new();
    let (sdists, wheels): (Vec<&LockedPackage>, Vec<&LockedPackage>) =
        missing.iter().partition(|p| p.source == Source::Sdist);
    if !wheels.is_empty() {
        let dest = scratch.join("locked");
        fs_err::create_dir_all(&dest)?;
        let pins: Vec<(String, String)> = wheels
            .iter()
            .map(|p| (p.name.clone(), p.version.clone()))
            .collect();
        if let Err(failure) = pip.download_pinned(cx.shell, &pins, &[links.to_path_buf()], &dest)? {
            bail!(
                "pip could not download the locked distributions:\n{}",
                failure.summary()
            );
        }
        for pkg in wheels {
            let host = dest.join(&pkg.file);
            if !host.is_file() {
                bail!(
                    Diagnostic::new(format!(
                        "the index no longer offers `{}` for {} {} (pip chose another file)",
                        pkg.file, pkg.name, pkg.version
                    ))
                    .help("run `pywasm lock` to resolve again")
                );
            }
            let sha = fsutil::sha256_file(&host)?;
            if sha != pkg.sha256 {
                return Err(stale(pkg, &sha, "the index's file"));
            }
            out.push(Dist {
                locked: (*pkg).clone(),
                wheel: cache_wheel(cx.home, &host, &pkg.file, &sha)?,
            });
        }
    }
    for pkg in sdists {
        let diagnosis = Diagnosis {
            cx,
            pip: &pip,
            scratch,
            links,
            without: &lock_inputs.without_extensions,
            require: &lock_inputs.require_extensions,
        };
        let strip = lock_inputs
            .without_extensions
            .contains(&wheel::normalize_name(&pkg.name));
        let how = SdistBuild::of(strip, pkg.pure_fallback);
        let (wheel, sdist, sdist_sha) = diagnosis.build_from_sdist(&pkg.name, &pkg.version, how)?;
        if Some(&sdist_sha) != pkg.sdist_sha256.as_ref() {
            return Err(stale(pkg, &sdist_sha, &format!("the index's `{sdist}`")));
        }
        let sha = fsutil::sha256_file(&wheel)?;
        let mut locked = (*pkg).clone();
        locked.sha256 = sha.clone();
        out.push(Dist {
            wheel: cache_wheel(cx.home, &wheel, &pkg.file, &sha)?,
            locked,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_names_are_normalised() {
        assert_eq!(requirement_name("Jinja2>=3"), Some("jinja2".into()));
        assert_eq!(
            requirement_name("zope.interface [x] ; python_version>'3'"),
            Some("zope-interface".into())
        );
        assert_eq!(requirement_name("pkg @ file:///x.whl"), Some("pkg".into()));
        assert_eq!(requirement_name(">=3"), None);
        assert_eq!(requirement_name("two words"), None);
    }

    fn spec(text: &str) -> DependencySpec {
        crate::manifest::Manifest::parse(Path::new("/p/pyproject.toml"), text)
            .unwrap()
            .deps
    }

    #[test]
    fn extras_add_their_requirements_once() {
        let deps = spec(
            "[project]\nname = \"x\"\ndependencies = [\"attrs\"]\n[project.optional-dependencies]\nfast = [\"attrs\", \"orjson\"]\n[tool.pywasm]\nentry = \"x:m\"\nextras = [\"Fast\"]\n",
        );
        let (reqs, inputs) = requirements(&deps, &["fast".into()], "3.11").unwrap();
        let texts: Vec<_> = reqs.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["attrs", "orjson"]);
        assert_eq!(inputs.extras, ["fast"]);
    }

    #[test]
    fn unknown_extras_are_located() {
        let deps = spec(
            "[project]\nname = \"x\"\n[project.optional-dependencies]\nfast = []\n[tool.pywasm]\nentry = \"x:m\"\nextras = [\"slow\"]\n",
        );
        let err = requirements(&deps, &[], "3.11").unwrap_err().to_string();
        assert!(err.contains("unknown extra `slow`"), "{err}");
        assert!(err.contains("pyproject.toml:7:11"), "{err}");
        assert!(err.contains("defines: `fast`"), "{err}");
        let deps = spec("[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:m\"\n");
        let err = requirements(&deps, &["gpu".into()], "3.11")
            .unwrap_err()
            .to_string();
        assert!(err.contains("--> command line:1:10"), "{err}");
    }

    #[test]
    fn malformed_requirements_are_located() {
        let deps = spec(
            "[project]\nname = \"x\"\ndependencies = [\"two words\"]\n[tool.pywasm]\nentry = \"x:m\"\n",
        );
        let err = requirements(&deps, &[], "3.11").unwrap_err().to_string();
        assert!(
            err.contains("`two words` is not a PEP 508 requirement"),
            "{err}"
        );
        assert!(err.contains("pyproject.toml:3:17"), "{err}");
    }
}
