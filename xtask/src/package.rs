//! The PyPI package of the pywasm binary (`crates/pywasm/pyproject.toml`: maturin with
//! `bindings = "bin"`, distribution `pywasm-toolchain`), built by `cargo xtask dist` with the
//! maturin pinned in `xtask/maturin.txt`, then checked the way users get it: installed into a
//! fresh venv, `pywasm --version`, and a build whose module must be byte for byte the one the
//! release archive's binary built from the same project.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use pywasm_core::Shell;
use pywasm_core::process::run;
use pywasm_core::sdk::SdkHome;

/// Builds the wheel into `out` (the dev profile with `dev`, else `--release`); returns it.
pub fn build(shell: &Shell, repo: &Path, out: &Path, dev: bool) -> Result<PathBuf> {
    let maturin = install_maturin(shell, repo)?;
    let staging = tempfile::tempdir().context("cannot create a directory for maturin")?;
    let mut cmd = Command::new(&maturin);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(repo.join("crates/pywasm/Cargo.toml"))
        .arg("--out")
        .arg(staging.path())
        .args(if dev {
            ["--profile", "dev"]
        } else {
            ["--profile", "release"]
        })
        // The zip's timestamps, as every other artifact here.
        .env(
            "SOURCE_DATE_EPOCH",
            pywasm_core::plan::DEFAULT_SOURCE_DATE_EPOCH.to_string(),
        );
    run(shell, "build the PyPI package with maturin", &mut cmd)?;
    let wheel = pywasm_core::fsutil::first_with_extension(staging.path(), "whl")?
        .context("maturin wrote no wheel")?;
    let name = wheel.file_name().context("a wheel has a name")?;
    let target = out.join(name);
    fs_err::copy(&wheel, &target)?;
    Ok(target)
}

/// Installs `wheel` into a fresh venv and checks its `pywasm`: the version it reports, and that
/// it builds `project` into exactly `expected` (the module the archive's binary built).
pub fn check(shell: &Shell, wheel: &Path, project: &Path, expected: &Path) -> Result<()> {
    let dir = tempfile::tempdir().context("cannot create a directory for the venv")?;
    let venv = dir.path().join("venv");
    run(
        shell,
        "create a venv for the PyPI package",
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
    )?;
    run(
        shell,
        "install the PyPI package into it",
        Command::new(venv.join("bin/python"))
            .args(["-m", "pip", "install", "--quiet", "--no-index", "--no-deps"])
            .arg(wheel),
    )?;
    let pywasm = venv.join("bin/pywasm");
    let version = run(
        shell,
        "ask the installed pywasm its version",
        Command::new(&pywasm).arg("--version"),
    )?;
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    let expected_start = format!("pywasm {} (CPython ", pywasm_core::VERSION);
    if !version.starts_with(&expected_start) {
        bail!(
            "the pywasm that `{}` installs says `{}`, not `{expected_start}…`",
            wheel.display(),
            version.trim()
        );
    }
    let built = dir.path().join("module.wasm");
    run(
        shell,
        "build a project with the installed pywasm",
        Command::new(&pywasm)
            .args(["--quiet", "build"])
            .arg(project)
            .arg("--output")
            .arg(&built),
    )?;
    if fs_err::read(&built)? != fs_err::read(expected)? {
        bail!(
            "the pywasm of `{}` built `{}` into a module that differs from `{}`",
            wheel.display(),
            project.display(),
            expected.display()
        );
    }
    shell.status(
        "Checked",
        &format!(
            "`{}` in a fresh venv: {}, and `{}` built byte for byte as the archive's binary built it",
            wheel.display(),
            version.trim(),
            project.display()
        ),
    );
    Ok(())
}

/// `$PYWASM_HOME/tools/maturin/bin/maturin`, installed from `xtask/maturin.txt`.
fn install_maturin(shell: &Shell, repo: &Path) -> Result<PathBuf> {
    let home = SdkHome::from_env()?;
    let (dir, _) = crate::runtimes::install_pinned_tool(
        shell,
        &home,
        ("maturin", "tools/maturin"),
        &repo.join("xtask/maturin.txt"),
        |_| Ok(()),
    )?;
    Ok(dir.join("bin/maturin"))
}
