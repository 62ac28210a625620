//! The host tools the recipes' steps run: found, or installed with apt when asked and allowed.

use std::path::Path;

use anyhow::{Result, bail};

use crate::Shell;
use crate::diagnostic::Diagnostic;

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

/// Checks the host packages; with `install`, installs missing ones with apt when running as
/// root. One caller at a time: apt holds a lock, and the second of two wheel builds must find
/// the packages the first installed.
pub fn ensure_host_tools(shell: &Shell, install: bool) -> Result<()> {
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
