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

mod make;
mod recipe;
mod sources;
mod steps;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::diagnostic::Diagnostic;
use crate::sdk::pins::Pins;
use crate::sdk::{self, SdkHome, lock};
use crate::{Shell, fsutil};

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

/// Builds (or finds in the cache) the wheel of recipe `name` for the CPython `pins` select,
/// and offers it to every build through the index; returns its path.
pub fn build(
    shell: &Shell,
    home: &SdkHome,
    name: &str,
    pins: &Pins,
    opts: WheelOptions,
) -> Result<PathBuf> {
    let start = Instant::now();
    let embedded = find(name)?;
    let recipe = embedded.recipe()?;
    let sdk = sdk::ensure(pins, home, shell, pins.toolchain.default, false)?;
    let plan = make::Plan::new(embedded, &recipe, pins, &sdk)?;
    let out_dir = home.root().join("wheels").join(&plan.entry);
    let what = format!(
        "{} {} for CPython {}",
        recipe.wheel.distribution, plan.version, sdk.python.minor
    );
    let fresh = |shell: &Shell| -> Result<Option<PathBuf>> {
        let Some(wheel) = fsutil::first_with_extension(&out_dir, "whl")? else {
            return Ok(None);
        };
        shell.status("Fresh", &format!("{what} (`{}`)", wheel.display()));
        publish(home, &wheel)?;
        Ok(Some(wheel))
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
    ensure_host_tools(shell, opts.install_host_packages)?;
    let prefix = format!("build-{name}");
    lock::sweep_stale_work(home, &prefix)?;
    let work = lock::WorkDir::new(home, &prefix)?;
    let built = make::build_in(shell, home, &sdk, &plan, work.path());
    let wheel = match built {
        Ok(wheel) => wheel,
        Err(err) => {
            let kept = work.keep();
            return Err(err.context(format!(
                "recipe `{name}` failed; its build tree is kept at `{}` until the next build \
                 of a wheel removes it",
                kept.display()
            )));
        }
    };
    let wheels = home.root().join("wheels");
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
    fs_err::rename(staged.keep(), &out_dir)?;
    work.close()?;
    let wheel = out_dir.join(file);
    publish(home, &wheel)?;
    shell.stage_done(
        "Built",
        &format!(
            "{what} (`{}`, {})",
            wheel.display(),
            crate::shell::human_size(fs_err::metadata(&wheel)?.len())
        ),
        start.elapsed(),
    );
    Ok(wheel)
}

/// Every recipe of `names` for every CPython of `versions`, two at a time, the longest first;
/// returns the wheels in the order asked.
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
    let done = std::sync::Mutex::new(vec![None; total]);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                        let Some((i, name, pins)) = next else {
                            return Ok(());
                        };
                        let wheel = build(shell, home, name, pins, opts)?;
                        done.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(wheel);
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

/// Debian packages the recipes' host steps need: make and a C compiler for autotools and
/// SQLite's generator, tclsh for SQLite's amalgamation, and a rustc that can build std for
/// wasm32-wasip1 (rustup cannot add that target here; Debian's rustc-web with its sources can).
const HOST_PACKAGES: &[(&str, &str)] = &[
    ("/usr/bin/make", "make"),
    ("/usr/bin/cc", "gcc"),
    ("/usr/bin/tclsh", "tcl"),
    ("/usr/bin/xz", "xz-utils"),
    ("/usr/bin/bzip2", "bzip2"),
    ("/usr/bin/cargo", "cargo-web"),
    ("/usr/bin/rustc", "rustc-web"),
    ("/usr/lib/rustlib/src/rust/library", "rust-web-src"),
];

/// Checks the host packages; with `install`, installs missing ones with apt when running as
/// root. One caller at a time: apt holds a lock, and the second of two wheel builds must find
/// the packages the first installed.
pub fn ensure_host_tools(shell: &Shell, install: bool) -> Result<()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let missing: Vec<&str> = HOST_PACKAGES
        .iter()
        .filter(|(path, _)| !Path::new(path).exists())
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let command = format!("apt-get install -y {}", missing.join(" "));
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !install || !is_root || !Path::new("/usr/bin/apt-get").exists() {
        bail!(
            Diagnostic::new(format!(
                "building WASI wheels needs these host packages: {}",
                missing.join(", ")
            ))
            .help(format!(
                "`sudo {command}` (Debian or Ubuntu); as root, `pywasm wheel build \
                 --install-host-packages` runs it"
            ))
        );
    }
    shell.status(
        "Installing",
        &format!("host packages {}", missing.join(", ")),
    );
    let mut update = std::process::Command::new("apt-get");
    update.args(["update", "-qq"]);
    crate::process::run(shell, "update apt's package lists", &mut update)?;
    let mut install = std::process::Command::new("apt-get");
    install
        .args(["install", "-y", "-qq"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive");
    crate::process::run(shell, "install the host packages", &mut install)?;
    Ok(())
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

/// Dependencies that pywasm's recipes build and that are not built for this CPython yet: what
/// `--build-missing` builds before it resolves again. Users read it as its diagnostic.
#[derive(Debug)]
pub struct MissingWheels {
    /// Recipe names, sorted, without repeats.
    pub recipes: Vec<String>,
    pub diagnostic: Diagnostic,
}

impl MissingWheels {
    /// `what` is each distribution as the error names it (`` `lxml` 6.1.0 ``), with its recipe.
    pub fn new(title: String, missing: &[(String, &str)], minor: &str) -> MissingWheels {
        let mut recipes: Vec<String> = missing.iter().map(|(_, r)| r.to_string()).collect();
        recipes.sort();
        recipes.dedup();
        let commands: Vec<String> = recipes.iter().map(|r| command(r, minor)).collect();
        let mut diagnostic = Diagnostic::new(title).help(format!(
            "run `{}` (once per machine; a recipe takes from seconds to about ten minutes on two cores), or build \
             with `--build-missing` to run it now",
            commands.join(" && ")
        ));
        for (what, recipe) in missing {
            diagnostic = diagnostic.note(format!(
                "{what} has no WASI wheel on the index; pywasm's recipe `{recipe}` builds one \
                 into `$PYWASM_HOME/wheels/index`, which every build offers to pip"
            ));
        }
        MissingWheels {
            recipes,
            diagnostic,
        }
    }

    /// The one an error carries, if any.
    pub fn find(err: &anyhow::Error) -> Option<&MissingWheels> {
        err.chain().find_map(|e| e.downcast_ref::<MissingWheels>())
    }
}

impl std::fmt::Display for MissingWheels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.diagnostic.fmt(f)
    }
}

impl std::error::Error for MissingWheels {}

/// Runs `attempt`; when it fails for want of wheels pywasm's recipes build and `build_missing`
/// is set, builds them for CPython `minor` and runs it once more.
pub fn retry_with_missing<T>(
    shell: &Shell,
    home: &SdkHome,
    minor: &str,
    build_missing: bool,
    mut attempt: impl FnMut() -> Result<T>,
) -> Result<T> {
    let err = match attempt() {
        Ok(done) => return Ok(done),
        Err(err) => err,
    };
    let Some(missing) = MissingWheels::find(&err).filter(|_| build_missing) else {
        return Err(err);
    };
    build_for(shell, home, &missing.recipes, minor)?;
    attempt()
}

/// Builds recipes `names` for CPython `minor`, as `--build-missing` does.
pub fn build_for(shell: &Shell, home: &SdkHome, names: &[String], minor: &str) -> Result<()> {
    shell.status(
        "Building",
        &format!(
            "the missing WASI wheels ({}) for CPython {minor}, as `--build-missing` asks",
            names.join(", ")
        ),
    );
    let pins = Pins::embedded()?.with_python(Some(minor))?;
    build_all(shell, home, names, &[pins], WheelOptions::default())?;
    Ok(())
}

/// `pywasm wheel list`: each recipe, its distribution and version, what it provides, and the
/// CPython versions whose wheel is in this home's index.
pub fn table(home: &SdkHome) -> Result<String> {
    let pins = Pins::embedded()?;
    let index = home.wheels_index();
    let mut built: Vec<crate::python::wheel::WheelName> = Vec::new();
    if index.is_dir() {
        for entry in fs_err::read_dir(&index)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Ok(wheel) = crate::python::wheel::WheelName::parse(&name) {
                built.push(wheel);
            }
        }
    }
    let mut rows = vec![[
        "recipe".to_owned(),
        "distribution".to_owned(),
        "version".to_owned(),
        "provides".to_owned(),
        "built for".to_owned(),
    ]];
    for embedded in EMBEDDED {
        let recipe = embedded.recipe()?;
        let version = make::version(&recipe, &pins)?;
        let escaped = crate::python::wheel::escape_name(&recipe.wheel.distribution);
        let mut minors: Vec<String> = built
            .iter()
            .filter(|w| w.distribution == escaped)
            .flat_map(|w| w.python_tags.iter())
            .filter_map(|tag| tag.strip_prefix("cp3").map(|rest| format!("3.{rest}")))
            .collect();
        minors.sort();
        minors.dedup();
        let modules: Vec<&str> = recipe.modules.iter().map(|m| m.name.as_str()).collect();
        rows.push([
            embedded.name.to_owned(),
            recipe.wheel.distribution.clone(),
            version,
            modules.join(", "),
            if minors.is_empty() {
                "-".to_owned()
            } else {
                minors.join(", ")
            },
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    Ok(out)
}
