//! Why pip found nothing for the target, and the repairs pywasm can make: a source-only
//! distribution is built into a wheel and kept when pure (or stripped of native modules when the
//! project allows it); anything else is an error naming the distribution and the ways out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::{Requirement, ResolveContext};
use crate::diagnostic::Diagnostic;
use crate::fsutil;
use crate::python::pip::{Pip, PipFailure};
use crate::python::wheel::{self, Platform, Wheel, WheelName};

/// Finds out why pip found nothing for the target, and repairs what can be repaired.
pub(super) struct Diagnosis<'a> {
    pub(super) cx: &'a ResolveContext<'a>,
    pub(super) pip: &'a Pip,
    pub(super) scratch: &'a Path,
    pub(super) links: &'a Path,
    pub(super) without: &'a [String],
    /// `[tool.pywasm] require-extensions`: no pure fallback for these.
    pub(super) require: &'a [String],
}

/// How a wheel is built from a source distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SdistBuild {
    /// As its backend builds it; kept only if pure.
    AsIs,
    /// As its backend builds it, then without its native modules (`without-extensions`).
    Strip,
    /// With every compiler failing, so a distribution with an optional extension builds its
    /// pure-Python fallback; kept only if pure.
    PureFallback,
}

impl SdistBuild {
    /// The one for a locked or named distribution.
    pub(super) fn of(strip: bool, pure_fallback: bool) -> SdistBuild {
        match (strip, pure_fallback) {
            (true, _) => SdistBuild::Strip,
            (false, true) => SdistBuild::PureFallback,
            (false, false) => SdistBuild::AsIs,
        }
    }

    fn cache_suffix(self) -> &'static str {
        match self {
            SdistBuild::AsIs => "pure",
            SdistBuild::Strip => "stripped",
            SdistBuild::PureFallback => "fallback",
        }
    }
}

/// A wheel pywasm built from a source distribution, for the lock.
#[derive(Clone, Debug)]
pub(super) struct BuiltFrom {
    pub(super) sdist: String,
    pub(super) sdist_sha256: String,
    pub(super) pure_fallback: bool,
}

/// A distribution with no build the module can use.
struct Unusable {
    name: String,
    version: String,
    reason: String,
}

impl Diagnosis<'_> {
    pub(super) fn repair(
        &self,
        reqs_file: &Path,
        failure: &PipFailure,
        requirements: &[Requirement],
        built: &mut BTreeMap<String, BuiltFrom>,
    ) -> Result<()> {
        let shell = self.cx.shell;
        let cannot = || {
            anyhow::anyhow!(
                "pip could not resolve the dependencies for WASI:\n{}",
                failure.summary()
            )
        };
        let report_dir = self.scratch.join("report");
        fs_err::create_dir_all(&report_dir)?;
        let links = [self.links.to_path_buf()];
        let native = match self
            .pip
            .host_report(shell, reqs_file, &links, &report_dir)?
        {
            Ok(native) => native,
            // Not even a native install would work: the requirements themselves are the problem.
            Err(host) => {
                return Err(Diagnostic::new(cannot().to_string())
                    .note(format!("for this host pip fails too:\n{}", host.summary()))
                    .into());
            }
        };
        let mut unusable = Vec::new();
        let mut with_recipe: Vec<(String, &str)> = Vec::new();
        let mut repaired = 0;
        for item in native {
            let host_wheel = WheelName::parse(&item.file_name).ok();
            if host_wheel
                .as_ref()
                .is_some_and(|w| w.platform() == Platform::Pure)
            {
                continue;
            }
            let probe = self
                .scratch
                .join(format!("probe-{}", wheel::normalize_name(&item.name)));
            fs_err::create_dir_all(&probe)?;
            let pin = [(item.name.clone(), item.version.clone())];
            if self
                .pip
                .download_pinned(shell, &pin, &links, &probe)?
                .is_ok()
            {
                continue;
            }
            let key = wheel::normalize_name(&item.name);
            let strip = self.without.contains(&key);
            // Its sdist would only fail to build here: pywasm's own recipe is the way.
            let recipe = crate::recipes::for_distribution(&item.name, self.cx.python_minor)
                .filter(|_| !strip);
            if let Some((recipe, version)) = &recipe
                && crate::recipes::built_wheel(self.cx.home, recipe, self.cx.python_minor).is_some()
            {
                // Built, and still not chosen: the requirements rule out the recipe's version.
                unusable.push(Unusable {
                    reason: format!(
                        "pywasm's recipe `{recipe}` builds {version}, which is built here, and \
                         the requirements rule it out (pip chose {} for this host); allow \
                         {version}, or supply another WASI build in `[tool.pywasm] wheels`",
                        item.version
                    ),
                    name: item.name,
                    version: item.version,
                });
                continue;
            }
            if let Some((recipe, version)) = recipe {
                let what = if item.version == version {
                    format!("`{}` {version}", item.name)
                } else {
                    format!(
                        "`{}` (pip chose {} for this host; the recipe builds {version})",
                        item.name, item.version
                    )
                };
                with_recipe.push((what, recipe));
                continue;
            }
            let native_wheels = format!(
                "its wheels carry native code for other platforms (pip would install `{}` here)",
                item.file_name
            );
            let how = match (host_wheel.is_some(), strip) {
                (_, true) => SdistBuild::Strip,
                (false, false) => SdistBuild::AsIs,
                (true, false) if self.require.contains(&key) => {
                    unusable.push(Unusable {
                        reason: format!(
                            "{native_wheels}, and `[tool.pywasm] require-extensions` rules out \
                             its pure-Python fallback"
                        ),
                        name: item.name,
                        version: item.version,
                    });
                    continue;
                }
                (true, false) => SdistBuild::PureFallback,
            };
            shell.status(
                "Building",
                &format!(
                    "{} {} from source{}",
                    item.name,
                    item.version,
                    if how == SdistBuild::PureFallback {
                        " without a C compiler, for its pure-Python fallback"
                    } else {
                        ""
                    }
                ),
            );
            match self.build_from_sdist(&item.name, &item.version, how) {
                Ok((wheel, sdist, sdist_sha256)) => {
                    let file = wheel
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    fs_err::copy(&wheel, self.links.join(&file))?;
                    let pure_fallback = how == SdistBuild::PureFallback;
                    built.insert(
                        file,
                        BuiltFrom {
                            sdist,
                            sdist_sha256,
                            pure_fallback,
                        },
                    );
                    repaired += 1;
                }
                Err(err) if how == SdistBuild::PureFallback => unusable.push(Unusable {
                    name: item.name,
                    version: item.version,
                    reason: format!(
                        "{native_wheels}, and it has no pure-Python fallback: without a C \
                         compiler {err:#}"
                    ),
                }),
                Err(err) => unusable.push(Unusable {
                    name: item.name,
                    version: item.version,
                    reason: format!("{err:#}"),
                }),
            }
        }
        if !with_recipe.is_empty() {
            let mut missing = missing_wheels(&with_recipe, &unusable, self.cx.python_minor);
            // One direct dependency is pointed at in pyproject.toml.
            if let [(what, _)] = with_recipe.as_slice() {
                let key = wheel::normalize_name(first_name(what).trim_matches('`'));
                let origin = requirements.iter().find(|r| r.name == key);
                missing.diagnostic = missing
                    .diagnostic
                    .at_opt(origin.and_then(|r| r.origin.as_ref()));
            }
            return Err(missing.into());
        }
        if !unusable.is_empty() {
            return Err(unusable_error(&unusable, requirements));
        }
        if repaired == 0 {
            return Err(cannot());
        }
        Ok(())
    }

    /// Builds `name==version` from its sdist (cached by the sdist's hash and `how`) and keeps
    /// it only if it is pure Python, or `how` allows dropping its native modules.
    pub(super) fn build_from_sdist(
        &self,
        name: &str,
        version: &str,
        how: SdistBuild,
    ) -> Result<(PathBuf, String, String)> {
        let shell = self.cx.shell;
        let dl = self
            .scratch
            .join(format!("sdist-{}", wheel::normalize_name(name)));
        fs_err::create_dir_all(&dl)?;
        let links = [self.links.to_path_buf()];
        let sdist = self
            .pip
            .download_sdist(shell, (name, version), &links, &dl)?;
        let sdist_name = sdist
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let sdist_sha = fsutil::sha256_file(&sdist)?;
        let key = format!("{}-{}", &sdist_sha[..24], how.cache_suffix());
        let cache = self.cx.home.cache("built").join(&key);
        if let Some(done) = fsutil::first_with_extension(&cache, "whl")? {
            return Ok((done, sdist_name, sdist_sha));
        }
        // Builds side by side build it once: the others wait, then find it.
        let _lock = crate::sdk::lock::lock_entry(self.cx.home, shell, &format!("built-{key}"))?;
        if let Some(done) = fsutil::first_with_extension(&cache, "whl")? {
            return Ok((done, sdist_name, sdist_sha));
        }
        let out = self
            .scratch
            .join(format!("built-{}", wheel::normalize_name(name)));
        fs_err::create_dir_all(&out)?;
        let built = self
            .pip
            .build_wheel(shell, &sdist, &out, how == SdistBuild::PureFallback)?;
        let wheel = Wheel::open(&built, self.cx.wheel_limits)?;
        let native = wheel::native_members(&wheel);
        if !native.is_empty() && how != SdistBuild::Strip {
            bail!(
                "it has only a source distribution, and building it produces native code (`{}`)",
                native[0]
            );
        }
        let staged = self
            .scratch
            .join(format!("staged-{}", wheel::normalize_name(name)));
        fs_err::create_dir_all(&staged)?;
        let (_, removed) = wheel::strip_native(&wheel, &staged)?;
        if !removed.is_empty() {
            shell.status(
                "Stripped",
                &format!(
                    "{name} {version}: {} native files ({})",
                    removed.len(),
                    removed.join(", ")
                ),
            );
        }
        fs_err::create_dir_all(self.cx.home.cache("built"))?;
        if fs_err::rename(&staged, &cache).is_err() && !cache.is_dir() {
            bail!("failed to move the built wheel into `{}`", cache.display());
        }
        let done = fsutil::first_with_extension(&cache, "whl")?
            .with_context(|| format!("no wheel in `{}`", cache.display()))?;
        Ok((done, sdist_name, sdist_sha))
    }
}

/// Dependencies a recipe builds, and any others that have no WASI build either (named in
/// notes: building the recipes will not help them).
fn missing_wheels(
    with_recipe: &[(String, &str)],
    unusable: &[Unusable],
    minor: &str,
) -> crate::recipes::MissingWheels {
    let names: Vec<&str> = with_recipe.iter().map(|(what, _)| what.as_str()).collect();
    let title = if names.len() == 1 {
        format!(
            "{} needs a WASI wheel that pywasm builds from its own recipe, and it is not built \
             for CPython {minor} yet",
            first_name(names[0])
        )
    } else {
        format!(
            "{} need WASI wheels that pywasm builds from its own recipes, and they are not built \
             for CPython {minor} yet",
            names
                .iter()
                .map(|n| first_name(n))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut missing = crate::recipes::MissingWheels::new(title, with_recipe, minor);
    for item in unusable {
        missing.diagnostic = missing.diagnostic.clone().note(format!(
            "`{}` {} has no WASI build either, and no recipe: {}",
            item.name, item.version, item.reason
        ));
    }
    missing
}

/// `` `lxml` `` of `` `lxml` (pip chose ...) ``.
fn first_name(what: &str) -> &str {
    what.split(' ').next().unwrap_or(what)
}

fn unusable_error(unusable: &[Unusable], requirements: &[Requirement]) -> anyhow::Error {
    let help = "build a static WASI wheel of it (see \"WASI extension wheels\" in pywasm's README) and list it in `[tool.pywasm] wheels`; or, if it works without its compiled modules, add it to `[tool.pywasm] without-extensions` to drop them";
    let title = if unusable.len() == 1 {
        format!(
            "`{}` {} needs native code and has no WASI build",
            unusable[0].name, unusable[0].version
        )
    } else {
        let names: Vec<_> = unusable
            .iter()
            .map(|u| format!("`{}` {}", u.name, u.version))
            .collect();
        format!(
            "{} dependencies need native code and have no WASI build: {}",
            unusable.len(),
            names.join(", ")
        )
    };
    let mut diagnostic = Diagnostic::new(title).help(help);
    for item in unusable {
        diagnostic = diagnostic.note(format!("`{}`: {}", item.name, item.reason));
    }
    // A direct dependency is pointed at in pyproject.toml; a transitive one can only be named.
    let direct = unusable.iter().find_map(|u| {
        let key = wheel::normalize_name(&u.name);
        requirements
            .iter()
            .find(|r| r.name == key)
            .and_then(|r| r.origin.clone())
    });
    match direct {
        Some(origin) if unusable.len() == 1 => diagnostic.at(origin).into(),
        _ => diagnostic.into(),
    }
}
