//! Building CPython for wasm32-wasi from a pinned release tarball, as the recipe in
//! `templates/cpython/recipe.toml` says: a native build-Python of the same version, then a
//! cross build with the pinned zig, installed into a tree laid out as every CPython SDK is
//! (`include/python3.x`, `lib/libpython3.x.a` with the static libraries it needs, the stdlib
//! in `lib/python3.x`, `bin/python3.x.wasm`), plus the native CPython in `native/`.
//!
//! It runs inside [`super::install`]'s private work directory, so the tree only reaches `sdk/`
//! once complete. Each step's output goes to a log under `$PYWASM_HOME/logs/`, whose end a
//! failure shows.

mod run;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use serde::Deserialize;

use super::SdkHome;
use super::extract::{self, Format};
use super::part::Layout;
use super::pins::CpythonRelease;
use super::sources::{self, Pinned, Place};
use crate::Shell;
use run::Step;

/// The recipe, compiled in; its sha256 is part of every built SDK's key.
pub(crate) const RECIPE: &str = include_str!("../../templates/cpython/recipe.toml");

/// A CPython release to build, as [`super::part::python`] describes it.
#[derive(Clone, Debug)]
pub(crate) struct Release {
    /// `3.13.5`.
    pub version: String,
    /// `3.13`.
    pub minor: String,
    pub pin: CpythonRelease,
    /// The pinned zig's directory under `sdk/`, installed before the build.
    pub zig_dir: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Recipe {
    native: NativeRecipe,
    cross: CrossRecipe,
    #[serde(default, rename = "edit")]
    edits: Vec<SourceEdit>,
}

/// A change to CPython's sources for the versions it names, made before both builds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct SourceEdit {
    versions: Vec<String>,
    /// Relative to the source tree.
    file: String,
    /// Text that occurs exactly once in the file.
    find: String,
    replace: String,
}

/// Makes `edits` that name `minor` in the sources at `src`; an edit whose text is not there
/// exactly once is an error (the recipe no longer fits the tarball).
fn apply_edits(edits: &[SourceEdit], minor: &str, src: &Path) -> Result<()> {
    for edit in edits
        .iter()
        .filter(|e| e.versions.iter().any(|v| v == minor))
    {
        let path = src.join(&edit.file);
        let text = fs_err::read_to_string(&path)?;
        let found = text.matches(edit.find.as_str()).count();
        if found != 1 {
            anyhow::bail!(
                "the CPython recipe's edit of `{}` for {minor} expects its text once and finds \
                 it {found} times: `templates/cpython/recipe.toml` no longer fits this release",
                edit.file
            );
        }
        fs_err::write(&path, text.replacen(&edit.find, &edit.replace, 1))?;
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct NativeRecipe {
    configure: Vec<String>,
    opt: String,
    make: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct CrossRecipe {
    host: String,
    configure: Vec<String>,
    opt: String,
    cflags: Vec<String>,
    ldflags: Vec<String>,
    compile_defines: Vec<String>,
    make: Vec<String>,
    config_site: BTreeMap<String, String>,
}

fn recipe() -> Result<Recipe> {
    toml::from_str(RECIPE).context("the compiled-in `templates/cpython/recipe.toml` is invalid")
}

/// Builds `release` below `work` and returns the finished tree.
pub(crate) fn build(
    shell: &Shell,
    home: &SdkHome,
    release: &Release,
    work: &Path,
) -> Result<PathBuf> {
    let recipe = recipe()?;
    let what = format!("CPython {}", release.version);
    let archive = release_tarball(shell, home, &release.pin, &what)?;
    let src = work.join("src");
    fs_err::create_dir(&src)?;
    shell.status("Unpacking", &format!("{what} ({})", release.pin.file));
    extract::extract(&archive, Format::TarXz, &Layout::StripTop, &src)?;
    apply_edits(&recipe.edits, &release.minor, &src)?;

    let logs = home
        .root()
        .join("logs")
        .join(format!("cpython-{}", release.version));
    fs_err::create_dir_all(&logs)?;
    let steps = run::Steps::new(shell, &what, &logs);
    let native = work.join("native");
    build_native(&steps, &recipe.native, &src, &native)?;

    let zig = home.sdk_dir().join(&release.zig_dir);
    let cross = work.join("cross");
    let dest = work.join("dest");
    build_cross(
        &steps,
        &recipe.cross,
        &src,
        &native,
        &zig,
        home,
        &cross,
        &dest,
    )?;
    let tree = work.join("tree");
    assemble(
        &dest.join("usr").join("local"),
        &cross,
        &release.minor,
        &tree,
    )?;
    fs_err::rename(
        native_dest(&native).join("usr").join("local"),
        tree.join("native"),
    )?;
    Ok(tree)
}

/// The release tarball from `$PYWASM_HOME/sources/`, Debian's pool or upstream, verified. The
/// wheel recipes take CPython's own extension modules (zlib, _sqlite3) from it too.
pub fn release_tarball(
    shell: &Shell,
    home: &SdkHome,
    pin: &CpythonRelease,
    what: &str,
) -> Result<PathBuf> {
    let mut places = Vec::new();
    if let Some(package) = &pin.debian_package {
        places.push(Place::Debian { package });
    }
    if let Some(url) = &pin.url {
        places.push(Place::Url(url));
    }
    let pinned = Pinned {
        what,
        file: &pin.file,
        sha256: &pin.sha256,
    };
    sources::obtain(shell, home, pinned, &places)
}

/// `python` for this machine, which the cross build runs for its generated files.
fn build_native(steps: &run::Steps, recipe: &NativeRecipe, src: &Path, dir: &Path) -> Result<()> {
    fs_err::create_dir(dir)?;
    let mut configure = Command::new(src.join("configure"));
    configure
        .args(&recipe.configure)
        .arg(format!("OPT={}", recipe.opt))
        .current_dir(dir);
    steps.run(
        Step::new("native-configure", "configured the build-Python"),
        &mut configure,
    )?;
    let mut make = make(dir);
    make.args(&recipe.make);
    steps.run(
        Step::compiling("native-make", "built the build-Python"),
        &mut make,
    )?;
    let mut install = Command::new("make");
    install
        .arg("install")
        .arg(format!("DESTDIR={}", native_dest(dir).display()))
        .current_dir(dir);
    steps.run(
        Step::new("native-install", "installed the build-Python"),
        &mut install,
    )
}

/// Where the native build is installed (`DESTDIR`), beside its build directory.
fn native_dest(native: &Path) -> PathBuf {
    native.with_file_name("native-dest")
}

#[allow(clippy::too_many_arguments)]
fn build_cross(
    steps: &run::Steps,
    recipe: &CrossRecipe,
    src: &Path,
    native: &Path,
    zig: &Path,
    home: &SdkHome,
    dir: &Path,
    dest: &Path,
) -> Result<()> {
    fs_err::create_dir(dir)?;
    let tools = dir.join("pywasm-tools");
    write_tools(&tools, zig, recipe)?;
    let site = dir.join("pywasm-config.site");
    let mut text = fs_err::read_to_string(cpython_config_site(src))?;
    text.push_str("\n# pywasm's answers (templates/cpython/recipe.toml)\n");
    for (key, value) in &recipe.config_site {
        text.push_str(&format!("{key}={value}\n"));
    }
    fs_err::write(&site, text)?;

    let build_triple = config_guess(src)?;
    let path = std::env::join_paths(std::iter::once(tools.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .context("PATH has an entry that cannot be joined")?;
    let zig_cache = home.cache("zig");
    let env = |cmd: &mut Command| {
        cmd.current_dir(dir)
            .env("PATH", &path)
            .env("ZIG_GLOBAL_CACHE_DIR", &zig_cache)
            .env("ZIG_LOCAL_CACHE_DIR", &zig_cache)
            // The host's libraries (libffi, sqlite, ...) are not for wasm32.
            .env("PKG_CONFIG_PATH", "")
            .env("PKG_CONFIG_LIBDIR", "/nonexistent");
    };

    let mut configure = Command::new(src.join("configure"));
    env(&mut configure);
    configure
        .env("CONFIG_SITE", &site)
        .arg(format!("--host={}", recipe.host))
        .arg(format!("--build={build_triple}"))
        .arg(format!(
            "--with-build-python={}",
            native.join("python").display()
        ))
        .args(&recipe.configure)
        .args([
            "CC=wasm-cc",
            "CPP=wasm-cpp",
            "AR=wasm-ar",
            "RANLIB=wasm-ranlib",
        ])
        .arg(format!("OPT={}", recipe.opt))
        .arg(format!("CFLAGS={}", recipe.cflags.join(" ")))
        .arg(format!("LDFLAGS={}", recipe.ldflags.join(" ")));
    steps.run(
        Step::new("cross-configure", "configured the wasm32-wasi build"),
        &mut configure,
    )?;

    let mut build = make(dir);
    env(&mut build);
    build.args(&recipe.make);
    steps.run(
        Step::compiling("cross-make", "compiled for wasm32-wasi"),
        &mut build,
    )?;

    let mut install = Command::new("make");
    env(&mut install);
    install
        .arg("install")
        .arg(format!("DESTDIR={}", dest.display()))
        .args(&recipe.make);
    steps.run(Step::new("cross-install", "installed"), &mut install)
}

/// CPython's own answers for WASI: in `Tools/wasm/wasi/` from 3.14, `Tools/wasm/` before.
fn cpython_config_site(src: &Path) -> PathBuf {
    let wasm = src.join("Tools").join("wasm");
    let newer = wasm.join("wasi").join("config.site-wasm32-wasi");
    if newer.is_file() {
        newer
    } else {
        wasm.join("config.site-wasm32-wasi")
    }
}

/// `make -jN` in `dir`, N being the cores this process may use.
fn make(dir: &Path) -> Command {
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut cmd = Command::new("make");
    cmd.arg(format!("-j{jobs}")).current_dir(dir);
    cmd
}

/// `x86_64-pc-linux-gnu`: the build machine, as CPython's own script names it.
fn config_guess(src: &Path) -> Result<String> {
    let mut cmd = Command::new("sh");
    cmd.arg(src.join("config.guess"));
    let out = crate::process::run(&Shell::quiet(), "name this machine for configure", &mut cmd)?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `wasm-cc`, `wasm-cpp`, `wasm-ar` and `wasm-ranlib`: zig's tools for wasm32-wasi under the
/// single-word names configure and make expect.
fn write_tools(dir: &Path, zig: &Path, recipe: &CrossRecipe) -> Result<()> {
    fs_err::create_dir(dir)?;
    let zig = super::zig_binary(zig);
    let zig = shell_quote(&zig.to_string_lossy());
    let defines: String = recipe
        .compile_defines
        .iter()
        .map(|d| format!(" {}", shell_quote(&format!("-D{d}"))))
        .collect();
    let tools = [
        ("wasm-cc", format!("cc -target wasm32-wasi{defines}")),
        ("wasm-cpp", format!("cc -target wasm32-wasi -E{defines}")),
        ("wasm-ar", "ar".to_owned()),
        ("wasm-ranlib", "ranlib".to_owned()),
    ];
    for (name, command) in tools {
        let path = dir.join(name);
        fs_err::write(&path, format!("#!/bin/sh\nexec {zig} {command} \"$@\"\n"))?;
        extract::set_mode(&path, 0o755)?;
    }
    Ok(())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Lays out what `make install` put under `prefix` (`<dest>/usr/local`) as an SDK tree: the
/// headers, libpython and the static libraries of the build directory it needs, the stdlib
/// without bytecode (builds compile their own) or the `config-3.x-*` copy of libpython, and
/// python3.x.wasm.
fn assemble(prefix: &Path, cross: &Path, minor: &str, tree: &Path) -> Result<()> {
    let lib = tree.join("lib");
    let bin = tree.join("bin");
    let include = tree.join("include");
    for dir in [&lib, &bin, &include] {
        fs_err::create_dir_all(dir)?;
    }
    let python = format!("python{minor}");
    fs_err::rename(prefix.join("include").join(&python), include.join(&python))?;
    let libpython = format!("libpython{minor}.a");
    fs_err::rename(prefix.join("lib").join(&libpython), lib.join(&libpython))?;
    for archive in static_libraries(cross)? {
        let name = archive.file_name().context("a library without a name")?;
        fs_err::copy(&archive, lib.join(name))?;
    }
    let stdlib = lib.join(&python);
    fs_err::rename(prefix.join("lib").join(&python), &stdlib)?;
    prune_stdlib(&stdlib)?;
    let wasm = format!("{python}.wasm");
    fs_err::rename(prefix.join("bin").join(&wasm), bin.join(&wasm))?;
    Ok(())
}

/// `Modules/expat/libexpat.a`, `Modules/_decimal/libmpdec/libmpdec.a`, HACL*'s: the archives
/// python.wasm links beside libpython, sorted by name.
fn static_libraries(build: &Path) -> Result<Vec<PathBuf>> {
    let modules = build.join("Modules");
    let mut found: Vec<PathBuf> = crate::fsutil::walk_files(&modules, &|_, _| false)?
        .into_iter()
        .filter(|rel| rel.extension().is_some_and(|e| e == "a"))
        .map(|rel| modules.join(rel))
        .collect();
    found.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(found)
}

fn prune_stdlib(stdlib: &Path) -> Result<()> {
    for entry in fs_err::read_dir(stdlib)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("config-") && path.is_dir() {
            fs_err::remove_dir_all(&path)?;
        }
    }
    let mut dirs = vec![stdlib.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in fs_err::read_dir(&dir)? {
            let path = entry?.path();
            if !path.is_dir() || path.is_symlink() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == "__pycache__") {
                fs_err::remove_dir_all(&path)?;
            } else {
                dirs.push(path);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(find: &str) -> SourceEdit {
        SourceEdit {
            versions: vec!["3.13".into()],
            file: "Lib/types.py".into(),
            find: find.into(),
            replace: "new".into(),
        }
    }

    #[test]
    fn the_recipe_parses_and_its_edits_name_pinned_versions() {
        let recipe = recipe().unwrap();
        let pins = super::super::pins::Pins::embedded().unwrap();
        for e in &recipe.edits {
            for v in &e.versions {
                assert!(pins.pythons.contains_key(v), "{v}");
            }
        }
    }

    #[test]
    fn an_edit_applies_once_to_its_versions_and_refuses_text_it_does_not_find_once() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("Lib");
        fs_err::create_dir_all(&lib).unwrap();
        fs_err::write(lib.join("types.py"), "a old b").unwrap();
        apply_edits(&[edit("old")], "3.14", dir.path()).unwrap();
        assert_eq!(
            fs_err::read_to_string(lib.join("types.py")).unwrap(),
            "a old b"
        );
        apply_edits(&[edit("old")], "3.13", dir.path()).unwrap();
        assert_eq!(
            fs_err::read_to_string(lib.join("types.py")).unwrap(),
            "a new b"
        );
        let err = apply_edits(&[edit("old")], "3.13", dir.path()).unwrap_err();
        assert!(err.to_string().contains("finds it 0 times"), "{err}");
    }
}
