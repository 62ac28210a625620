//! Pinned source archives of the wheel recipes: fetched from Debian's pools or with pip (PyPI
//! sdists) into `$PYWASM_HOME/sources/` (see `crate::sdk::sources`), and unpacked with
//! the host's `tar`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::process;
use crate::sdk::SdkHome;
use crate::sdk::pins::{SourceOrigin, SourcePin};
use crate::sdk::sources::{self, Pinned, Place};
use crate::{Shell, fsutil};

/// Returns the verified archive of `pin`, fetching it when the cache lacks it.
pub fn obtain(shell: &Shell, home: &SdkHome, name: &str, pin: &SourcePin) -> Result<PathBuf> {
    let what = format!("`{name}`");
    let pinned = Pinned {
        what: &what,
        file: &pin.file,
        sha256: &pin.sha256,
    };
    let sdist = |scratch: &Path| pypi_sdist(shell, home, pin, scratch);
    let place = match pin.from {
        SourceOrigin::Debian => Place::Debian {
            package: &pin.package,
        },
        SourceOrigin::PypiSdist => Place::Other(&sdist),
    };
    sources::obtain(shell, home, pinned, &[place])
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
    // Two wheel builds run at once, in one process or in two, and the second must not delete
    // the first one's venv.
    let _turn = crate::sdk::lock::lock_entry(home, shell, "tools-sdist-venv")?;
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
