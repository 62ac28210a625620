//! Pinned source archives: fetched with the ecosystem's own clients (apt for Debian source
//! packages, pip for PyPI sdists), checked against `wasi-sdk.toml`, kept in
//! `$PYWASM_HOME/sources/`, and unpacked with the host's `tar`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use pywasm_core::fsutil::sha256_file;
use pywasm_core::pins::{SourceOrigin, SourcePin};
use pywasm_core::process;
use pywasm_core::sdk::SdkHome;
use pywasm_core::{Shell, fsutil};

/// Returns the verified archive of `pin`, fetching it when the cache lacks it.
pub fn obtain(shell: &Shell, home: &SdkHome, name: &str, pin: &SourcePin) -> Result<PathBuf> {
    let dir = home.root().join("sources");
    let path = dir.join(&pin.file);
    if path.is_file() && sha256_file(&path)? == pin.sha256 {
        return Ok(path);
    }
    fs_err::create_dir_all(&dir)?;
    let scratch = tempfile::Builder::new()
        .prefix("source-")
        .tempdir_in(&dir)
        .with_context(|| format!("failed to create a directory in `{}`", dir.display()))?;
    shell.status("Fetching", &format!("source `{name}` ({})", pin.file));
    let fetched = match pin.from {
        SourceOrigin::Debian => debian(shell, pin, scratch.path())?,
        SourceOrigin::PypiSdist => pypi_sdist(shell, home, pin, scratch.path())?,
    };
    let got = sha256_file(&fetched)?;
    if got != pin.sha256 {
        bail!(
            "source `{name}`: `{}` has sha256 {got}, `wasi-sdk.toml` pins {}\n  = help: the mirror serves another file; nothing was kept",
            pin.file,
            pin.sha256
        );
    }
    fs_err::rename(&fetched, &path)?;
    Ok(path)
}

/// `apt-get source --download-only` with private apt state whose `deb-src` entries mirror the
/// host's `deb` entries: no change to the system's configuration, and the user's mirror is used.
fn debian(shell: &Shell, pin: &SourcePin, scratch: &Path) -> Result<PathBuf> {
    let apt = scratch.join("apt");
    let parts = apt.join("sources.list.d");
    for sub in [
        "sources.list.d",
        "state/lists/partial",
        "cache/archives/partial",
    ] {
        fs_err::create_dir_all(apt.join(sub))?;
    }
    let mut found = 0;
    for entry in fs_err::read_dir("/etc/apt/sources.list.d")? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = fs_err::read_to_string(&path)?;
        let converted = if name.ends_with(".sources") {
            text.replace("Types: deb\n", "Types: deb-src\n")
        } else if name.ends_with(".list") {
            debian_list(&text)
        } else {
            continue;
        };
        fs_err::write(parts.join(&name), converted)?;
        found += 1;
    }
    if Path::new("/etc/apt/sources.list").is_file() {
        let text = fs_err::read_to_string("/etc/apt/sources.list")?;
        fs_err::write(parts.join("main.list"), debian_list(&text))?;
        found += 1;
    }
    if found == 0 {
        bail!(
            "`{}` comes from Debian's source package `{}`, and this host has no apt sources\n  = help: put the file (sha256 {}) into `$PYWASM_HOME/sources/` yourself",
            pin.file,
            pin.package,
            pin.sha256
        );
    }
    let opts = |cmd: &mut Command| {
        cmd.arg("-o").arg("Dir::Etc::SourceList=/dev/null");
        cmd.arg("-o")
            .arg(format!("Dir::Etc::SourceParts={}", parts.display()));
        cmd.arg("-o")
            .arg(format!("Dir::State={}", apt.join("state").display()));
        cmd.arg("-o")
            .arg(format!("Dir::Cache={}", apt.join("cache").display()));
        cmd.arg("-q");
    };
    let mut update = Command::new("apt-get");
    opts(&mut update);
    update.arg("update");
    process::run(shell, "read Debian's source package lists", &mut update)?;
    let mut source = Command::new("apt-get");
    opts(&mut source);
    source
        .args(["source", "--download-only", &pin.package])
        .current_dir(scratch);
    // apt also fetches the package's .dsc and Debian patches, which pywasm does not use; a
    // failure there (a mirror missing one of them) is fine as long as the pinned file arrived.
    let output = process::run_unchecked(shell, "download a Debian source package", &mut source)?;
    let path = scratch.join(&pin.file);
    if !path.is_file() {
        return Err(process::failure(
            "download a Debian source package",
            &source,
            &output,
        ))
        .with_context(|| format!("`{}` did not arrive", pin.file));
    }
    Ok(path)
}

fn debian_list(text: &str) -> String {
    text.lines()
        .filter(|l| l.trim_start().starts_with("deb "))
        .map(|l| l.replacen("deb ", "deb-src ", 1) + "\n")
        .collect()
}

/// `pip download` of an sdist, without preparing a build environment: a venv of pywasm's own
/// with setuptools, wheel and maturin lets pip read the metadata without compiling Cython or
/// maturin from source.
fn pypi_sdist(shell: &Shell, home: &SdkHome, pin: &SourcePin, scratch: &Path) -> Result<PathBuf> {
    let venv = tool_venv(shell, home)?;
    let mut cmd = Command::new(venv.join("bin").join("python"));
    // Build backends such as maturin run their own executable from PATH.
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![venv.join("bin")];
    paths.extend(std::env::split_paths(&path));
    cmd.env(
        "PATH",
        std::env::join_paths(paths).context("PATH has an unusable entry")?,
    );
    cmd.args(["-m", "pip", "download", "--no-deps", "--no-binary", ":all:"])
        .args([
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--dest",
        ])
        .arg(scratch)
        .arg(format!("{}=={}", pin.package, pin.version));
    process::run(
        shell,
        &format!("download the sdist of `{}`", pin.package),
        &mut cmd,
    )?;
    Ok(scratch.join(&pin.file))
}

/// `$PYWASM_HOME/tools/sdist-venv`: created once.
fn tool_venv(shell: &Shell, home: &SdkHome) -> Result<PathBuf> {
    let venv = home.root().join("tools").join("sdist-venv");
    let ready = venv.join(".pywasm-ready");
    if ready.is_file() {
        return Ok(venv);
    }
    let _ = fs_err::remove_dir_all(&venv);
    let python = std::env::var_os("PYWASM_PYTHON").unwrap_or_else(|| "python3".into());
    let mut cmd = Command::new(python);
    cmd.args(["-m", "venv"]).arg(&venv);
    process::run(shell, "create a venv for downloading sdists", &mut cmd)?;
    let mut pip = Command::new(venv.join("bin").join("python"));
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ])
    .args(["setuptools", "wheel", "maturin"]);
    process::run(
        shell,
        "install setuptools, wheel and maturin into it",
        &mut pip,
    )?;
    fsutil::atomic_write(&ready, b"")?;
    Ok(venv)
}

/// Unpacks `archive` into `dest`, dropping its top-level directory; with `members`, only those
/// paths below it.
pub fn unpack(shell: &Shell, archive: &Path, dest: &Path, members: &[String]) -> Result<()> {
    fs_err::create_dir_all(dest)?;
    let mut cmd = Command::new("tar");
    cmd.arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(dest)
        .arg("--strip-components=1")
        .arg("--no-same-owner");
    if !members.is_empty() {
        cmd.arg("--wildcards");
        cmd.args(members.iter().map(|m| format!("*/{m}")));
    }
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    process::run(shell, &format!("unpack `{name}`"), &mut cmd)?;
    Ok(())
}
