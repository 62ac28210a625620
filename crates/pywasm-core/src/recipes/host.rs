//! The host tools the recipes' steps run: found, or installed with apt when asked and allowed.

use std::path::Path;

use anyhow::{Result, bail};

use super::make::Plan;
use super::recipe::Recipe;
use crate::Shell;
use crate::diagnostic::Diagnostic;

/// A program (or directory) a recipe's steps use, and the Debian package that provides it.
pub type HostTool = (&'static str, &'static str);

const MAKE: HostTool = ("/usr/bin/make", "make");
const CC: HostTool = ("/usr/bin/cc", "gcc");
/// SQLite's amalgamation is generated with tclsh.
const TCLSH: HostTool = ("/usr/bin/tclsh", "tcl");
const XZ: HostTool = ("/usr/bin/xz", "xz-utils");
const BZIP2: HostTool = ("/usr/bin/bzip2", "bzip2");
/// A rustc that can build std for wasm32-wasip1: rustup cannot add that target here; Debian's
/// rustc-web with its sources can.
const RUST: [HostTool; 3] = [
    ("/usr/bin/cargo", "cargo-web"),
    ("/usr/bin/rustc", "rustc-web"),
    ("/usr/lib/rustlib/src/rust/library", "rust-web-src"),
];

/// The host tools recipe `recipe`'s steps run: `tar`'s decompressors for its archives, make and
/// a C compiler for autotools projects and host steps, tclsh for host steps, and Debian's Rust
/// for crates unless `PYWASM_CARGO` and `PYWASM_RUSTC` name another.
pub(super) fn needed(recipe: &Recipe, plan: &Plan) -> Vec<HostTool> {
    let mut tools = Vec::new();
    for used in plan.used.values() {
        let (file, _) = used.file();
        if file.ends_with(".xz") && !tools.contains(&XZ) {
            tools.push(XZ);
        }
        if file.ends_with(".bz2") && !tools.contains(&BZIP2) {
            tools.push(BZIP2);
        }
    }
    if !recipe.autotools.is_empty() || !recipe.host.is_empty() {
        tools.extend([MAKE, CC]);
    }
    if !recipe.host.is_empty() {
        tools.push(TCLSH);
    }
    let own_rust =
        std::env::var_os("PYWASM_CARGO").is_some() && std::env::var_os("PYWASM_RUSTC").is_some();
    if !recipe.cargo.is_empty() && !own_rust {
        tools.extend(RUST);
    }
    tools
}

/// Checks for `tools`; with `install`, installs missing ones with apt when running as
/// root. One caller at a time: apt holds a lock, and the second of two wheel builds must find
/// the packages the first installed.
pub(super) fn ensure_host_tools(shell: &Shell, tools: &[HostTool], install: bool) -> Result<()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let missing: Vec<&str> = tools
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
