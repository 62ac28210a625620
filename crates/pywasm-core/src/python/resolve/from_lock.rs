//! Builds from `pywasm.lock`: exactly the locked files, from the cache when it has them, and an
//! error naming the lock whenever a file no longer matches its hash.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::diagnose::{Diagnosis, SdistBuild};
use super::local::LocalWheels;
use super::{Dist, Resolution, ResolveContext, cache_wheel, scratch_dir, warn_fallbacks};
use crate::diagnostic::Diagnostic;
use crate::manifest::DependencySpec;
use crate::python::lock::{Inputs, Lock, LockedPackage, Source};
use crate::python::pip::Pip;
use crate::sdk::SdkHome;
use crate::{fsutil, python::wheel};

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
pub(super) fn locked(cx: &ResolveContext, spec: &DependencySpec, lock: Lock) -> Result<Resolution> {
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
                    // Only when the recipe builds the pinned version: otherwise building it
                    // cannot help, and the lock needs resolving again.
                    let recipe = crate::recipes::for_distribution(&pkg.name, cx.python_minor)
                        .filter(|(_, version)| {
                            pkg.source == Source::Built && *version == pkg.version
                        });
                    if let Some((recipe, _)) = recipe {
                        let title = format!(
                            "`{}` pins `{}` from pywasm's built wheels, and it is not built on \
                             this machine",
                            lock_path.display(),
                            pkg.file
                        );
                        let what = format!("`{}` {}", pkg.name, pkg.version);
                        return Err(crate::recipes::MissingWheels::new(
                            title,
                            &[(what, recipe)],
                            cx.python_minor,
                        )
                        .into());
                    }
                    let (from, help) = if pkg.source == Source::Built {
                        (
                            "pywasm's built wheels",
                            "build it with `pywasm wheel build`, or run `pywasm lock` to resolve again",
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
    let pip = Pip::find(cx.python_minor, cx.native_python, cx.shell)?;
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
