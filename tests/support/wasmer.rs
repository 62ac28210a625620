//! wasmer 6.0.1 with wasmer-wasix 0.600.1, through `examples/hosts/wasmer`: commands run with
//! captured stdio, and library modules called on one live instance.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};

use crate::library::{Answer, host_answers, write_calls};
use crate::{Invocation, Outcome, cargo, repo, spawn};

/// Where the wasmer host is built: its own directory beside the workspace's builds, so that it
/// outlives `cargo clean -p` of the workspace and CI's cache keeps it.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo().join("target"), PathBuf::from)
        .join("wasmer-host")
}

/// `cargo SUBCOMMAND ARGS...` on `examples/hosts/wasmer` (with its lock file), in the host's
/// own target directory.
pub fn host_cargo(args: &[&str]) -> Command {
    let (subcommand, rest) = args.split_first().expect("a cargo subcommand");
    let mut cmd = cargo();
    cmd.arg(subcommand);
    if *subcommand != "fmt" {
        cmd.arg("--locked");
    }
    cmd.arg("--manifest-path")
        .arg(repo().join("examples/hosts/wasmer/Cargo.toml"))
        .args(rest)
        .env("CARGO_TARGET_DIR", target_dir());
    cmd
}

/// `cargo build` of `examples/hosts/wasmer`; returns the program's path. wasmer takes minutes to
/// build cold, so CI starts this early, beside the test build.
pub fn build_host() -> Result<PathBuf> {
    let mut cmd = host_cargo(&["build"]);
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "building examples/hosts/wasmer failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(target_dir().join("debug/wasmer-host"))
}

/// The wasmer host, built once per test process.
fn host() -> Result<PathBuf> {
    static HOST: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    HOST.get_or_init(|| build_host().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Runs a command module in wasmer with its arguments; no directory, no environment, no stdin.
pub fn run_wasmer(wasm: &Path, inv: &Invocation) -> Result<Outcome> {
    assert!(
        inv.dirs.is_empty() && inv.env.is_empty() && inv.stdin.is_empty(),
        "the wasmer host passes arguments only"
    );
    let mut cmd = Command::new(host()?);
    cmd.arg("run").arg(wasm).args(&inv.args);
    spawn(cmd, "")
}

/// The same calls as [`crate::library::call_in_wasmtime`] through the wasmer host, with memory
/// capped at `max_pages` if given; also returns the instance's memory in pages after the last
/// call.
pub fn call_in_wasmer(
    wasm: &Path,
    calls: &[(&str, Vec<u8>)],
    max_pages: Option<u32>,
    scratch: &Path,
) -> Result<(Vec<Answer>, u32)> {
    host_answers(
        "wasmer",
        &call_command(wasm, calls, max_pages, scratch)?.output()?,
    )
}

/// The command that makes `calls` through the wasmer host.
pub(crate) fn call_command(
    wasm: &Path,
    calls: &[(&str, Vec<u8>)],
    max_pages: Option<u32>,
    scratch: &Path,
) -> Result<Command> {
    let file = scratch.join("wasmer-calls.json");
    write_calls(calls, &file)?;
    let mut cmd = Command::new(host()?);
    if let Some(pages) = max_pages {
        cmd.arg("--max-pages").arg(pages.to_string());
    }
    cmd.arg("call").arg(wasm).arg(&file);
    Ok(cmd)
}
