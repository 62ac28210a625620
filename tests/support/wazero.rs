//! Command modules in wazero's own CLI (`wazero run`), built from the wazero version
//! `examples/hosts/go` pins, as a Go shop runs a WASI program without writing a host.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};

use crate::{Invocation, Outcome, home, repo, spawn};

/// `wazero run`, the CLI of the wazero module `examples/hosts/go/go.mod` requires, built once
/// per test process into the pywasm cache.
pub fn wazero_cli() -> Result<PathBuf> {
    static CLI: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    CLI.get_or_init(|| build_cli().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn build_cli() -> Result<PathBuf> {
    let dir = home().cache("test-runtimes");
    fs_err::create_dir_all(&dir)?;
    let cli = dir.join("wazero");
    // Test binaries run side by side: each builds its own and renames it into place.
    let staged = dir.join(format!(".wazero-{}", std::process::id()));
    let out = Command::new(crate::library::go()?)
        .args(["build", "-o"])
        .arg(&staged)
        .arg("github.com/tetratelabs/wazero/cmd/wazero")
        .current_dir(repo().join("examples/hosts/go"))
        .output()
        .context("cannot run `go build` for the wazero CLI")?;
    if !out.status.success() {
        bail!(
            "`go build github.com/tetratelabs/wazero/cmd/wazero` failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    fs_err::rename(&staged, &cli)?;
    Ok(cli)
}

/// Runs the command module `wasm` with `wazero run`: argv[0] is the file's name there, so the
/// module is linked under `inv.args[0]`; preopens become `-mount`s (read-only unless
/// `inv.writable`), and compiled code is cached between runs.
pub fn run_wazero(wasm: &Path, inv: &Invocation) -> Result<Outcome> {
    let scratch = tempfile::tempdir()?;
    let argv0 = inv.args.first().map_or("module", String::as_str);
    let named = scratch.path().join(argv0);
    std::os::unix::fs::symlink(wasm, &named)
        .with_context(|| format!("cannot link `{}`", wasm.display()))?;
    let cache = home().cache("test-wazero");
    fs_err::create_dir_all(&cache)?;
    let mut cmd = Command::new(wazero_cli()?);
    cmd.arg("run").arg(format!("-cachedir={}", cache.display()));
    for (guest, host) in &inv.dirs {
        let ro = if inv.writable { "" } else { ":ro" };
        cmd.arg(format!("-mount={}:{guest}{ro}", host.display()));
    }
    for (key, value) in &inv.env {
        cmd.arg(format!("-env={key}={value}"));
    }
    cmd.arg(&named).args(inv.args.iter().skip(1));
    spawn(cmd, &inv.stdin)
}
