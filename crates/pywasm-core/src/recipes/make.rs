//! Carrying out one recipe: its sources, its build steps in a work tree, and the wheel.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::Embedded;
use super::recipe::{ModuleSpec, Recipe};
use super::sources;
use super::steps::Builder;
use crate::python::wheel::{WheelName, WheelWriter, escape_name};
use crate::sdk::pins::{CpythonRelease, Pins, SourcePin};
use crate::sdk::{self, Sdk, SdkHome};
use crate::{Shell, fsutil};

/// Bumped when the build code changes what a recipe produces, so cached wheels are rebuilt.
const BUILDER_VERSION: &str = "4";

/// The recipes' `cpython` source (CPython's own extension modules) is the SDK's version: its
/// release tarball when it is built from one, else `[sources.cpython]`.
const CPYTHON_SOURCE: &str = "cpython";

/// One recipe for one SDK, resolved against the pins: what it uses and where its wheel goes.
pub(super) struct Plan<'a> {
    pub embedded: &'a Embedded,
    pub recipe: &'a Recipe,
    pub used: BTreeMap<String, Used>,
    /// The version the wheel carries.
    pub version: String,
    /// `<distribution>-<key>`: the cache entry under `wheels/`.
    pub entry: String,
}

impl<'a> Plan<'a> {
    pub fn new(embedded: &'a Embedded, recipe: &'a Recipe, pins: &Pins, sdk: &Sdk) -> Result<Self> {
        let used = used_pins(recipe, pins, embedded.name)?;
        let version = used[&recipe.wheel.version_from].version().to_owned();
        let key = cache_key(embedded, &used, sdk);
        let entry = format!("{}-{}", recipe.wheel.distribution, &key[..16]);
        Ok(Plan {
            embedded,
            recipe,
            used,
            version,
            entry,
        })
    }
}

/// The version recipe `recipe` builds for `pins`.
pub(super) fn version(recipe: &Recipe, pins: &Pins) -> Result<String> {
    let used = used_pins(recipe, pins, "the recipe")?;
    Ok(used[&recipe.wheel.version_from].version().to_owned())
}

/// A pinned source a recipe uses.
#[derive(Clone, Debug)]
pub(super) enum Used {
    Pin(SourcePin),
    /// The release tarball the SDK's CPython (`version`) was built from.
    Release {
        version: String,
        pin: CpythonRelease,
    },
}

impl Used {
    pub fn version(&self) -> &str {
        match self {
            Used::Pin(pin) => &pin.version,
            Used::Release { version, .. } => version,
        }
    }

    /// The archive's file name and sha256.
    pub fn file(&self) -> (&str, &str) {
        match self {
            Used::Pin(pin) => (&pin.file, &pin.sha256),
            Used::Release { pin, .. } => (&pin.file, &pin.sha256),
        }
    }
}

pub(super) fn used_pins(
    recipe: &Recipe,
    pins: &Pins,
    recipe_name: &str,
) -> Result<BTreeMap<String, Used>> {
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
                "recipe `{recipe_name}` uses source `{name}`, which `wasi-sdk.toml` does not pin \
                 under `[sources.{name}]`"
            ),
        };
        used.insert(name.clone(), source);
    }
    Ok(used)
}

/// Hashes everything a recipe's output depends on: the recipe and the files beside it, the
/// pinned sources, the SDK, and this builder's version. The same text as when the recipes were
/// files of the repository's xtask, so wheels built then stay valid.
fn cache_key(embedded: &Embedded, used: &BTreeMap<String, Used>, sdk: &Sdk) -> String {
    let mut key = format!(
        "{BUILDER_VERSION}\n{}\n{}\n{}\n",
        embedded.text, sdk.python.digest, sdk.toolchain.digest
    );
    for (name, pin) in used {
        let (file, sha256) = pin.file();
        key.push_str(&format!("{name} {file} {sha256}\n"));
    }
    for (rel, bytes) in embedded.files {
        key.push_str(&format!("{rel} {}\n", fsutil::sha256_hex(bytes)));
    }
    fsutil::sha256_hex(key.as_bytes())
}

/// Builds the wheel in `work` and returns its path there.
pub(super) fn build_in(
    shell: &Shell,
    home: &SdkHome,
    sdk: &Sdk,
    plan: &Plan,
    work: &Path,
) -> Result<PathBuf> {
    let recipe = plan.recipe;
    let recipe_dir = work.join("recipe");
    fs_err::create_dir_all(&recipe_dir)?;
    for (rel, bytes) in plan.embedded.files {
        let path = recipe_dir.join(rel);
        fs_err::create_dir_all(fsutil::parent_dir(&path))?;
        fs_err::write(&path, bytes)?;
    }
    let builder = Builder {
        recipe_dir,
        home: home.root().to_path_buf(),
        shell,
        sdk,
        tree: work.join("tree"),
        bin: work.join("bin"),
        jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    builder.write_wrappers()?;
    for source in &recipe.sources {
        let archive = match &plan.used[&source.pin] {
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
        // Shared across builds (cargo locks it): std and the crate's dependencies compile once.
        let target = home.cache("cargo-target");
        fs_err::create_dir_all(&target)?;
        let lib = builder.cargo(step, &target)?;
        fs_err::copy(
            &lib,
            builder.tree.join(&step.dir).join("pywasm-staticlib.a"),
        )?;
    }
    let out = work.join("out");
    fs_err::create_dir_all(&out)?;
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
    write_wheel(&builder, plan, &modules, &archives, &out)
}

/// The name of recipe `recipe`'s wheel of `version` for CPython `minor` (`3.13`).
pub(super) fn wheel_name(recipe: &Recipe, version: &str, minor: &str) -> WheelName {
    let tag = format!("cp{}", minor.replace('.', ""));
    WheelName {
        distribution: escape_name(&recipe.wheel.distribution),
        version: version.to_owned(),
        build: None,
        python_tags: vec![tag.clone()],
        abi_tags: vec![tag],
        platform_tags: vec![crate::python::pip::WASI_PLATFORM.to_string()],
    }
}

fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

fn write_wheel(
    builder: &Builder,
    plan: &Plan,
    modules: &[(&ModuleSpec, PathBuf)],
    archives: &[(String, PathBuf)],
    out: &Path,
) -> Result<PathBuf> {
    let minor = builder.sdk.python.minor.replace('.', "");
    let spec = &plan.recipe.wheel;
    let version = &plan.version;
    let name = wheel_name(plan.recipe, version, &builder.sdk.python.minor);
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
    // The generator's name is part of the wheel's bytes; it stays what it was when xtask built
    // them, so that the same recipe gives the same wheel.
    let wheel_file = format!(
        "Wheel-Version: 1.0\nGenerator: pywasm xtask build-wheel\nRoot-Is-Purelib: false\nTag: cp{minor}-cp{minor}-{}\n",
        crate::python::pip::WASI_PLATFORM
    );
    writer.add(&format!("{dist_info}/WHEEL"), wheel_file.into_bytes())?;
    writer
        .write(out)
        .with_context(|| format!("failed to write the wheel of `{}`", spec.distribution))
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    format!("[{}]", quoted.join(", "))
}
