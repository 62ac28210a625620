//! `pywasm wheel build <recipe>`: static WASI extension wheels (pywasm's format, see the
//! README's "WASI extension wheels") built from pinned sources with the pinned SDK, by recipes
//! compiled into the binary (`recipes/` of this crate).
//!
//! Outputs are content-addressed: `$PYWASM_HOME/wheels/<distribution>-<key>/` where the key
//! hashes the recipe, the files beside it, the pinned sources it uses and the SDK, so an
//! unchanged recipe never rebuilds. Every built wheel is also copied into
//! `$PYWASM_HOME/wheels/index/`, a find-links directory `pywasm build` always offers to pip.
//! Whoever builds an entry holds its lock (see [`crate::sdk::lock`]): two processes asking for
//! the same wheel build it once.

mod host;
mod list;
mod make;
mod missing;
mod recipe;
mod sources;
mod steps;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::diagnostic::Diagnostic;
use crate::sdk::pins::Pins;
use crate::sdk::{self, SdkHome, lock};
use crate::{Shell, fsutil};

pub use list::table;
pub use missing::{MissingWheels, build_for, retry_with_missing};
pub use recipe::Recipe;

/// A recipe as the binary carries it: its TOML and the files beside it (headers, patches).
#[derive(Debug)]
pub struct Embedded {
    pub name: &'static str,
    pub text: &'static str,
    /// Paths relative to `recipes/<name>/`, sorted, with their bytes.
    pub files: &'static [(&'static str, &'static [u8])],
}

/// Every recipe, sorted by name. `the_embedded_recipes_are_the_directory` keeps this list equal
/// to `recipes/`.
pub static EMBEDDED: &[Embedded] = &[
    Embedded {
        name: "lxml",
        text: include_str!("../recipes/lxml.toml"),
        files: &[],
    },
    Embedded {
        name: "pydantic-core",
        text: include_str!("../recipes/pydantic-core.toml"),
        files: &[],
    },
    Embedded {
        name: "sqlite3",
        text: include_str!("../recipes/sqlite3.toml"),
        files: &[("wasi.h", include_bytes!("../recipes/sqlite3/wasi.h"))],
    },
    Embedded {
        name: "zlib",
        text: include_str!("../recipes/zlib.toml"),
        files: &[],
    },
];

/// Every recipe's name, sorted.
pub fn names() -> Vec<&'static str> {
    EMBEDDED.iter().map(|r| r.name).collect()
}

/// The recipe called `name`, or an error listing them.
pub fn find(name: &str) -> Result<&'static Embedded> {
    EMBEDDED.iter().find(|r| r.name == name).ok_or_else(|| {
        Diagnostic::new(format!("pywasm has no wheel recipe `{name}`"))
            .help(format!("the recipes are: {}", names().join(", ")))
            .into()
    })
}

impl Embedded {
    pub fn recipe(&self) -> Result<Recipe> {
        Recipe::parse(&format!("{}.toml", self.name), self.text)
    }
}

/// Every embedded recipe parsed, once per process. A recipe that does not parse is left out
/// here; `the_embedded_recipes_are_the_directory` and `build` report it.
fn parsed() -> &'static [(&'static str, Recipe)] {
    static PARSED: std::sync::OnceLock<Vec<(&'static str, Recipe)>> = std::sync::OnceLock::new();
    PARSED.get_or_init(|| {
        EMBEDDED
            .iter()
            .filter_map(|e| Some((e.name, e.recipe().ok()?)))
            .collect()
    })
}

/// The recipe whose wheel provides distribution `name` (`lxml`, `pydantic_core`, any
/// spelling), with the version it builds for CPython `minor`.
pub fn for_distribution(name: &str, minor: &str) -> Option<(&'static str, String)> {
    let wanted = crate::python::wheel::normalize_name(name);
    let (recipe_name, recipe) = parsed().iter().find(|(_, recipe)| {
        crate::python::wheel::normalize_name(&recipe.wheel.distribution) == wanted
    })?;
    let pins = Pins::embedded().ok()?.with_python(Some(minor)).ok()?;
    Some((recipe_name, make::version(recipe, &pins).ok()?))
}

/// The recipe whose wheel provides the stdlib C module `module` (`zlib`, `_sqlite3`), which
/// this CPython for WASI lacks.
pub fn for_stdlib_module(module: &str) -> Option<&'static str> {
    parsed().iter().find_map(|(name, recipe)| {
        let stdlib = crate::python::wheel::escape_name(&recipe.wheel.distribution)
            .starts_with(crate::python::install::STDLIB_WHEEL_PREFIX);
        (stdlib && recipe.modules.iter().any(|m| m.name == module)).then_some(*name)
    })
}

/// The command that builds recipe `name` for CPython `minor`, as error messages give it.
pub fn command(name: &str, minor: &str) -> String {
    format!("pywasm wheel build {name} --python {minor}")
}

/// How [`build`] goes about it.
#[derive(Clone, Copy, Debug, Default)]
pub struct WheelOptions {
    /// Build again even when the cache has the wheel.
    pub force: bool,
    /// Install missing host packages with apt-get when running as root (CI, containers),
    /// instead of naming the command.
    pub install_host_packages: bool,
}

/// A recipe's wheel in the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipeWheel {
    pub path: PathBuf,
    /// Found made (by an earlier run, or by another process while this one waited for the
    /// entry's lock), not built by this call.
    pub fresh: bool,
}

/// Builds (or finds in the cache) the wheel of recipe `name` for the CPython `pins` select,
/// and offers it to every build through the index.
pub fn build(
    shell: &Shell,
    home: &SdkHome,
    name: &str,
    pins: &Pins,
    opts: WheelOptions,
) -> Result<RecipeWheel> {
    let start = Instant::now();
    let embedded = find(name)?;
    let recipe = embedded.recipe()?;
    let sdk = sdk::ensure(pins, home, shell, pins.toolchain.default, false)?;
    let plan = make::Plan::new(embedded, &recipe, pins, &sdk)?;
    let wheels = home.root().join("wheels");
    let out_dir = wheels.join(&plan.entry);
    let what = format!(
        "{} {} for CPython {}",
        recipe.wheel.distribution, plan.version, sdk.python.minor
    );
    let fresh = |shell: &Shell| -> Result<Option<RecipeWheel>> {
        let Some(path) = fsutil::first_with_extension(&out_dir, "whl")? else {
            return Ok(None);
        };
        shell.status("Fresh", &format!("{what} (`{}`)", path.display()));
        publish(home, &path)?;
        Ok(Some(RecipeWheel { path, fresh: true }))
    };
    if !opts.force
        && let Some(wheel) = fresh(shell)?
    {
        return Ok(wheel);
    }
    // Builds side by side build it once: the others wait, then find it.
    let _lock = lock::lock_entry(home, shell, &format!("wheel-{}", plan.entry))?;
    if !opts.force
        && let Some(wheel) = fresh(shell)?
    {
        return Ok(wheel);
    }
    host::ensure_host_tools(
        shell,
        &host::needed(&recipe, &plan),
        opts.install_host_packages,
    )?;
    // Per entry, as the lock: what a killed build of this wheel left, never another's tree.
    let prefix = format!("build-{}", plan.entry);
    lock::sweep_stale_work(home, &prefix)?;
    sweep_staged(&wheels, &plan.entry)?;
    let work = lock::WorkDir::new(home, &prefix)?;
    let built = make::build_in(shell, home, &sdk, &plan, work.path());
    let wheel = match built {
        Ok(wheel) => wheel,
        Err(err) => {
            let kept = work.keep();
            return Err(err.context(format!(
                "recipe `{name}` failed; its build tree is kept at `{}` until the next build \
                 of this wheel",
                kept.display()
            )));
        }
    };
    fs_err::create_dir_all(&wheels)?;
    let staged = tempfile::Builder::new()
        .prefix(&format!(".staged-{}-", plan.entry))
        .tempdir_in(&wheels)
        .with_context(|| format!("failed to create a directory in `{}`", wheels.display()))?;
    let file = wheel.file_name().context("wheel has a name")?;
    fs_err::copy(&wheel, staged.path().join(file))?;
    if out_dir.exists() {
        fs_err::remove_dir_all(&out_dir)?;
    }
    // Renamed from its temporary name: a process killed before this leaves a `.staged-*`
    // directory, which the next build of the entry removes under the lock.
    fs_err::rename(staged.path(), &out_dir)?;
    let path = out_dir.join(file);
    publish(home, &path)?;
    work.close()?;
    shell.stage_done(
        "Built",
        &format!(
            "{what} (`{}`, {})",
            path.display(),
            crate::shell::human_size(fs_err::metadata(&path)?.len())
        ),
        start.elapsed(),
    );
    Ok(RecipeWheel { path, fresh: false })
}

/// Removes `wheels/.staged-<entry>-*`: what a process killed between staging the wheel and
/// renaming it left. Called with the entry's lock held, so none is another's.
fn sweep_staged(wheels: &Path, entry: &str) -> Result<()> {
    let prefix = format!(".staged-{entry}-");
    let Ok(dir) = fs_err::read_dir(wheels) else {
        return Ok(());
    };
    for item in dir {
        let item = item?;
        if item.file_name().to_string_lossy().starts_with(&prefix) {
            fs_err::remove_dir_all(item.path())?;
        }
    }
    Ok(())
}

/// Every recipe of `names` for every CPython of `versions`, two at a time, the longest first;
/// returns the wheels in the order asked. The first failure stops both workers from taking
/// more.
pub fn build_all(
    shell: &Shell,
    home: &SdkHome,
    names: &[String],
    versions: &[Pins],
    opts: WheelOptions,
) -> Result<Vec<PathBuf>> {
    for name in names {
        find(name)?;
    }
    // Each SDK before any wheel: two builds for one version must not both build its CPython.
    for pins in versions {
        sdk::ensure(pins, home, shell, pins.toolchain.default, false)?;
    }
    let jobs: Vec<(usize, &String, &Pins)> = longest_first(names)
        .into_iter()
        .flat_map(|name| versions.iter().map(move |pins| (name, pins)))
        .enumerate()
        .map(|(i, (name, pins))| (i, name, pins))
        .collect();
    let total = jobs.len();
    // Two at a time, longest first: lxml is mostly one configure script or compiler at a time,
    // so on a cold machine the other core builds the rest beside it.
    let queue = std::sync::Mutex::new(jobs.into_iter());
    let failed = std::sync::atomic::AtomicBool::new(false);
    let done = std::sync::Mutex::new(vec![None; total]);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        if failed.load(std::sync::atomic::Ordering::SeqCst) {
                            return Ok(());
                        }
                        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                        let Some((i, name, pins)) = next else {
                            return Ok(());
                        };
                        match build(shell, home, name, pins, opts) {
                            Ok(wheel) => {
                                done.lock().unwrap_or_else(|p| p.into_inner())[i] =
                                    Some(wheel.path);
                            }
                            Err(err) => {
                                failed.store(true, std::sync::atomic::Ordering::SeqCst);
                                return Err(err);
                            }
                        }
                    }
                })
            })
            .collect();
        workers.into_iter().try_for_each(|worker| {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a wheel build panicked"))?
        })
    })?;
    Ok(done
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect())
}

/// The wheel of recipe `name` for CPython `minor` in this home's index, when it is built.
pub fn built_wheel(home: &SdkHome, name: &str, minor: &str) -> Option<PathBuf> {
    let (_, recipe) = parsed().iter().find(|(n, _)| *n == name)?;
    let pins = Pins::embedded().ok()?.with_python(Some(minor)).ok()?;
    let version = make::version(recipe, &pins).ok()?;
    let file = make::wheel_name(recipe, &version, minor).file_name();
    let path = home.wheels_index().join(file);
    path.is_file().then_some(path)
}

/// The recipes of `names` in the order that finishes soonest two at a time: the longest first
/// (lxml took 584 s alone on a cold two-core machine, pydantic-core 336 s, sqlite3 66 s, zlib
/// 4 s), then any other in `names`' order.
pub fn longest_first(names: &[String]) -> Vec<&String> {
    const LONGEST_FIRST: &[&str] = &["lxml", "pydantic-core", "sqlite3", "zlib"];
    let rank = |name: &&String| {
        LONGEST_FIRST
            .iter()
            .position(|known| known == name)
            .unwrap_or(LONGEST_FIRST.len())
    };
    let mut ordered: Vec<&String> = names.iter().collect();
    ordered.sort_by_key(rank);
    ordered
}

/// Copies a built wheel into the find-links directory `pywasm build` offers to pip.
fn publish(home: &SdkHome, wheel: &Path) -> Result<()> {
    let index = home.wheels_index();
    fs_err::create_dir_all(&index)?;
    let file = wheel.file_name().context("wheel has a name")?;
    let target = index.join(file);
    if target.is_file() && fsutil::sha256_file(&target)? == fsutil::sha256_file(wheel)? {
        return Ok(());
    }
    fsutil::atomic_write(&target, &fs_err::read(wheel)?)
}
