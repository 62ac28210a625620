//! `cargo xtask build-wheel <recipe>`: static WASI extension wheels (pywasm's format, see the
//! README's "WASI extension wheels") from pinned sources with the pinned SDK.
//!
//! Outputs are content-addressed: `$PYWASM_HOME/wheels/<distribution>-<key>/` where the key
//! hashes the recipe, the pinned sources it uses and the SDK, so an unchanged recipe never
//! rebuilds. Every built wheel is also copied into `$PYWASM_HOME/wheels/index/`, a find-links
//! directory `pywasm build` always offers to pip.

mod recipe;
mod sources;
mod steps;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use pywasm_core::diagnostic::Diagnostic;
use pywasm_core::python::wheel::{WheelName, WheelWriter, escape_name};
use pywasm_core::sdk::pins::{CpythonRelease, Pins, SourcePin};
use pywasm_core::sdk::{self, Sdk, SdkHome};
use pywasm_core::{Shell, fsutil};

use recipe::{ModuleSpec, Recipe};
use steps::Builder;

/// Bumped when the build code changes what a recipe produces, so cached wheels are rebuilt.
const BUILDER_VERSION: &str = "4";

pub fn recipes_dir(repo: &Path) -> PathBuf {
    repo.join("xtask").join("recipes")
}

/// Every recipe name, sorted.
pub fn all_recipes(repo: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = fs_err::read_dir(recipes_dir(repo))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_suffix(".toml")
                .map(String::from)
        })
        .collect();
    names.sort();
    Ok(names)
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

/// The recipes in the order that finishes soonest two at a time: the longest first (lxml took
/// 584 s alone on a cold two-core machine, pydantic-core 336 s, sqlite3 66 s, zlib 4 s), then
/// any other in `names`' order.
pub fn longest_first(mut names: Vec<String>) -> Vec<String> {
    const LONGEST_FIRST: &[&str] = &["lxml", "pydantic-core", "sqlite3", "zlib"];
    let rank = |name: &String| {
        LONGEST_FIRST
            .iter()
            .position(|known| known == name)
            .unwrap_or(LONGEST_FIRST.len())
    };
    names.sort_by_key(rank);
    names
}

/// Installs missing host packages with apt when running as root (CI, containers); otherwise
/// names the command to run. One caller at a time: apt holds a lock, and the second of two
/// wheel builds must find the packages the first installed.
pub fn ensure_host_tools(shell: &Shell) -> Result<()> {
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
    if !is_root || !Path::new("/usr/bin/apt-get").exists() {
        bail!(
            Diagnostic::new(format!(
                "building WASI wheels needs these host packages: {}",
                missing.join(", ")
            ))
            .help(format!("`sudo {command}` (Debian or Ubuntu)"))
        );
    }
    shell.status(
        "Installing",
        &format!("host packages {}", missing.join(", ")),
    );
    let mut update = std::process::Command::new("apt-get");
    update.args(["update", "-qq"]);
    pywasm_core::process::run(shell, "update apt's package lists", &mut update)?;
    let mut install = std::process::Command::new("apt-get");
    install
        .args(["install", "-y", "-qq"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive");
    pywasm_core::process::run(shell, "install the host packages", &mut install)?;
    Ok(())
}

/// Builds (or finds in the cache) the wheel of recipe `name` for the CPython `pins` select;
/// returns its path.
pub fn build(shell: &Shell, repo: &Path, name: &str, pins: &Pins, force: bool) -> Result<PathBuf> {
    let start = Instant::now();
    let path = recipes_dir(repo).join(format!("{name}.toml"));
    if !path.is_file() {
        let known = all_recipes(repo)?.join(", ");
        bail!(
            Diagnostic::new(format!(
                "no recipe `{name}` in `{}`",
                recipes_dir(repo).display()
            ))
            .help(format!("recipes: {known}"))
        );
    }
    let (recipe, text) = Recipe::load(&path)?;
    let home = SdkHome::from_env()?;
    let kind = pins.toolchain.default;
    let sdk = sdk::ensure(pins, &home, shell, kind, false)?;
    let used = used_pins(&recipe, pins, &path)?;
    let version = used[&recipe.wheel.version_from].version();
    let recipe_dir = recipes_dir(repo).join(name);
    let key = cache_key(&text, &recipe_dir, &used, &sdk)?;
    let out_dir =
        home.root()
            .join("wheels")
            .join(format!("{}-{}", recipe.wheel.distribution, &key[..16]));
    if !force && let Some(wheel) = fsutil::first_with_extension(&out_dir, "whl")? {
        shell.status(
            "Fresh",
            &format!(
                "{} {version} for CPython {} (`{}`)",
                recipe.wheel.distribution,
                sdk.python.minor,
                wheel.display()
            ),
        );
        publish(&home, &wheel)?;
        return Ok(wheel);
    }
    ensure_host_tools(shell)?;
    let work = tempfile::Builder::new()
        .prefix(&format!("build-{name}-"))
        .tempdir_in(ensure_dir(&home.tmp_dir())?)
        .context("failed to create a build directory")?;
    let built = build_in(
        shell,
        &home,
        &sdk,
        (&recipe, &recipe_dir),
        &used,
        work.path(),
    )
    .with_context(|| {
        format!(
            "recipe `{name}` failed; its build tree is kept at `{}`",
            work.path().display()
        )
    });
    let wheel = match built {
        Ok(wheel) => wheel,
        Err(err) => {
            let _ = work.keep();
            return Err(err);
        }
    };
    let staged = ensure_dir(&home.root().join("wheels"))?.join(format!(".staged-{}", &key[..16]));
    let _ = fs_err::remove_dir_all(&staged);
    fs_err::create_dir_all(&staged)?;
    let file = wheel.file_name().context("wheel has a name")?;
    fs_err::copy(&wheel, staged.join(file))?;
    let _ = fs_err::remove_dir_all(&out_dir);
    fs_err::rename(&staged, &out_dir)?;
    let wheel = out_dir.join(file);
    publish(&home, &wheel)?;
    shell.stage_done(
        "Built",
        &format!(
            "{} {version} for CPython {} (`{}`, {})",
            recipe.wheel.distribution,
            sdk.python.minor,
            wheel.display(),
            pywasm_core::shell::human_size(fs_err::metadata(&wheel)?.len())
        ),
        start.elapsed(),
    );
    Ok(wheel)
}

fn ensure_dir(dir: &Path) -> Result<PathBuf> {
    fs_err::create_dir_all(dir)?;
    Ok(dir.to_path_buf())
}

/// A pinned source a recipe uses.
#[derive(Clone, Debug)]
enum Used {
    Pin(SourcePin),
    /// The release tarball the SDK's CPython (`version`) was built from.
    Release {
        version: String,
        pin: CpythonRelease,
    },
}

impl Used {
    fn version(&self) -> &str {
        match self {
            Used::Pin(pin) => &pin.version,
            Used::Release { version, .. } => version,
        }
    }

    /// The archive's file name and sha256.
    fn file(&self) -> (&str, &str) {
        match self {
            Used::Pin(pin) => (&pin.file, &pin.sha256),
            Used::Release { pin, .. } => (&pin.file, &pin.sha256),
        }
    }
}

/// The recipes' `cpython` source (CPython's own extension modules) is the SDK's version: its
/// release tarball when it is built from one, else `[sources.cpython]`.
const CPYTHON_SOURCE: &str = "cpython";

fn used_pins(recipe: &Recipe, pins: &Pins, path: &Path) -> Result<BTreeMap<String, Used>> {
    let mut used = BTreeMap::new();
    let names = recipe
        .sources
        .iter()
        .map(|s| &s.pin)
        .chain([&recipe.wheel.version_from]);
    for name in names {
        let release = pins
            .python
            .release
            .as_ref()
            .filter(|_| name == CPYTHON_SOURCE);
        let source = match (release, pins.sources.get(name)) {
            (Some(release), _) => Used::Release {
                version: pins.python.version.clone(),
                pin: release.clone(),
            },
            (None, Some(pin)) => Used::Pin(pin.clone()),
            (None, None) => bail!(
                "`{}` uses source `{name}`, which `wasi-sdk.toml` does not pin under `[sources.{name}]`",
                path.display()
            ),
        };
        used.insert(name.clone(), source);
    }
    Ok(used)
}

/// Hashes everything a recipe's output depends on: the recipe and the files beside it, the
/// pinned sources, the SDK, and this builder's version.
fn cache_key(
    recipe_text: &str,
    recipe_dir: &Path,
    used: &BTreeMap<String, Used>,
    sdk: &Sdk,
) -> Result<String> {
    let mut key = format!(
        "{BUILDER_VERSION}\n{recipe_text}\n{}\n{}\n",
        sdk.python.digest, sdk.toolchain.digest
    );
    for (name, pin) in used {
        let (file, sha256) = pin.file();
        key.push_str(&format!("{name} {file} {sha256}\n"));
    }
    if recipe_dir.is_dir() {
        for rel in fsutil::walk_files(recipe_dir, &|_, _| false)? {
            let digest = fsutil::sha256_file(&recipe_dir.join(&rel))?;
            key.push_str(&format!("{} {digest}\n", fsutil::slash_path(&rel)));
        }
    }
    Ok(fsutil::sha256_hex(key.as_bytes()))
}

/// Copies a built wheel into the find-links directory `pywasm build` offers to pip.
fn publish(home: &SdkHome, wheel: &Path) -> Result<()> {
    let index = ensure_dir(&home.wheels_index())?;
    let file = wheel.file_name().context("wheel has a name")?;
    let target = index.join(file);
    if target.is_file() && fsutil::sha256_file(&target)? == fsutil::sha256_file(wheel)? {
        return Ok(());
    }
    fsutil::atomic_write(&target, &fs_err::read(wheel)?)
}

fn build_in(
    shell: &Shell,
    home: &SdkHome,
    sdk: &Sdk,
    (recipe, recipe_dir): (&Recipe, &Path),
    used: &BTreeMap<String, Used>,
    work: &Path,
) -> Result<PathBuf> {
    let builder = Builder {
        recipe_dir: recipe_dir.to_path_buf(),
        home: home.root().to_path_buf(),
        shell,
        sdk,
        tree: work.join("tree"),
        bin: work.join("bin"),
        jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    builder.write_wrappers()?;
    for source in &recipe.sources {
        let archive = match &used[&source.pin] {
            Used::Pin(pin) => sources::obtain(shell, home, &source.pin, pin)?,
            Used::Release { version, pin } => {
                sdk::release_tarball(shell, home, pin, &format!("CPython {version}"))?
            }
        };
        sources::unpack(
            shell,
            &archive,
            &builder.tree.join(&source.into),
            &source.members,
        )?;
    }
    for step in &recipe.host {
        builder.host(step)?;
    }
    for step in &recipe.autotools {
        builder.autotools(step)?;
    }
    for step in &recipe.cargo {
        // Shared across builds: std and the crate's dependencies compile once.
        let target = ensure_dir(&home.cache("cargo-target"))?;
        let lib = builder.cargo(step, &target)?;
        fs_err::copy(
            &lib,
            builder.tree.join(&step.dir).join("pywasm-staticlib.a"),
        )?;
    }
    let out = ensure_dir(&work.join("out"))?;
    let mut archives: Vec<(String, PathBuf)> = Vec::new();
    for step in &recipe.autotools {
        for archive in &step.archives {
            archives.push((file_name(archive), builder.tree.join(archive)));
        }
    }
    for lib in &recipe.libraries {
        archives.push((format!("lib{}.a", lib.name), builder.library(lib, &out)?));
    }
    let mut modules: Vec<(&ModuleSpec, PathBuf)> = Vec::new();
    for module in &recipe.modules {
        modules.push((module, builder.module(module, &out)?));
    }
    let version = used[&recipe.wheel.version_from].version();
    write_wheel(&builder, recipe, version, &modules, &archives, &out)
}

fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

fn write_wheel(
    builder: &Builder,
    recipe: &Recipe,
    version: &str,
    modules: &[(&ModuleSpec, PathBuf)],
    archives: &[(String, PathBuf)],
    out: &Path,
) -> Result<PathBuf> {
    let minor = builder.sdk.python.minor.replace('.', "");
    let spec = &recipe.wheel;
    let name = WheelName {
        distribution: escape_name(&spec.distribution),
        version: version.to_string(),
        build: None,
        python_tags: vec![format!("cp{minor}")],
        abi_tags: vec![format!("cp{minor}")],
        platform_tags: vec![pywasm_core::python::pip::WASI_PLATFORM.to_string()],
    };
    let dist_info = format!("{}-{version}.dist-info", escape_name(&spec.distribution));
    let mut writer = WheelWriter::new(name);
    for package in &spec.packages {
        let root = builder.tree.join(&package.from);
        for rel in fsutil::walk_files(&root, &|_, n| n == "__pycache__")? {
            let excluded = rel.components().any(|c| {
                let part = c.as_os_str().to_string_lossy();
                package
                    .exclude
                    .iter()
                    .any(|p| fsutil::wildcard_match(p, &part))
            });
            if excluded {
                continue;
            }
            let member = format!("{}/{}", package.to, fsutil::slash_path(&rel));
            writer.add(&member, fs_err::read(root.join(&rel))?)?;
        }
    }
    let mut meta = format!("format = 1\npython = \"{}\"\n", builder.sdk.python.minor);
    meta.push_str(&format!(
        "libraries = {}\n",
        toml_list(&spec.link_libraries)
    ));
    let mut shared = Vec::new();
    for (file, path) in archives {
        let member = format!("pywasm-lib/{file}");
        writer.add(&format!("{dist_info}/{member}"), fs_err::read(path)?)?;
        shared.push(member);
    }
    meta.push_str(&format!("archives = {}\n", toml_list(&shared)));
    for (module, archive) in modules {
        let member = format!("pywasm-lib/lib{}.a", module.stem());
        writer.add(&format!("{dist_info}/{member}"), fs_err::read(archive)?)?;
        meta.push_str(&format!(
            "\n[[module]]\nname = \"{}\"\ninit = \"{}\"\narchive = \"{member}\"\nimports = {}\n",
            module.name,
            module.init(),
            toml_list(&module.imports)
        ));
    }
    writer.add(
        &format!("{dist_info}/pywasm-extensions.toml"),
        meta.into_bytes(),
    )?;
    let metadata = match &spec.metadata_from {
        Some(file) => fs_err::read(builder.tree.join(file))?,
        None => format!(
            "Metadata-Version: 2.1\nName: {}\nVersion: {version}\nSummary: {}\n",
            spec.distribution, spec.summary
        )
        .into_bytes(),
    };
    writer.add(&format!("{dist_info}/METADATA"), metadata)?;
    let wheel_file = format!(
        "Wheel-Version: 1.0\nGenerator: pywasm xtask build-wheel\nRoot-Is-Purelib: false\nTag: cp{minor}-cp{minor}-{}\n",
        pywasm_core::python::pip::WASI_PLATFORM
    );
    writer.add(&format!("{dist_info}/WHEEL"), wheel_file.into_bytes())?;
    writer.write(out)
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_recipes_go_first() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut names = all_recipes(repo).unwrap();
        names.push("new-one".to_owned());
        let ordered = longest_first(names);
        assert_eq!(ordered[..2], ["lxml", "pydantic-core"]);
        assert_eq!(ordered.last().map(String::as_str), Some("new-one"));
    }

    #[test]
    fn every_recipe_parses_and_uses_pinned_sources() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let pins = Pins::load(&repo.join("wasi-sdk.toml")).unwrap();
        let names = all_recipes(repo).unwrap();
        assert!(names.len() >= 4, "{names:?}");
        for name in names {
            let path = recipes_dir(repo).join(format!("{name}.toml"));
            let (recipe, _) = Recipe::load(&path).unwrap();
            for minor in pins.pythons.keys() {
                let pins = pins.clone().with_python(Some(minor)).unwrap();
                let used = used_pins(&recipe, &pins, &path).unwrap();
                // CPython's own modules come from the source of the version built for.
                if let Some(cpython) = used.get(CPYTHON_SOURCE) {
                    assert_eq!(
                        cpython.version()[..minor.len()],
                        **minor,
                        "{name} for CPython {minor}"
                    );
                }
            }
            for module in &recipe.modules {
                let init = module.init();
                assert!(init.starts_with("PyInit_"), "{name}: {init}");
            }
        }
    }

    #[test]
    fn unknown_keys_in_a_recipe_are_refused_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        fs_err::write(
            &path,
            "[wheel]\ndistribution = \"x\"\nversion-from = \"x\"\nsummary = \"s\"\nsumary = 1\n",
        )
        .unwrap();
        let err = Recipe::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("bad.toml:5:1") && err.contains("unknown field `sumary`"),
            "{err}"
        );
    }
}
