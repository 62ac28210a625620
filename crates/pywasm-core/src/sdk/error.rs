//! Why the SDK cannot be used, and the command that mends it.

use std::path::PathBuf;
use std::process::Command;

use super::SdkHome;
use super::pins::{Pins, ToolchainKind};
use crate::diagnostic::Diagnostic;

/// Why the SDK cannot be used as it is. Callers match on it: a missing SDK can be fetched, a
/// damaged one needs a person to decide. Users read it as its [`SdkError::diagnostic`].
#[derive(Debug)]
pub enum SdkError {
    Missing {
        what: String,
        home: PathBuf,
        fix: String,
    },
    Damaged {
        what: String,
        path: PathBuf,
        detail: String,
        fix: String,
    },
    Unsupported {
        what: String,
        host: String,
        pinned: String,
    },
}

impl SdkError {
    pub fn diagnostic(&self) -> Diagnostic {
        match self {
            SdkError::Missing { what, home, fix } => {
                Diagnostic::new(format!("not in the SDK cache `{}`: {what}", home.display()))
                    .help(fix)
            }
            SdkError::Damaged {
                what,
                path,
                detail,
                fix,
            } => Diagnostic::new(format!(
                "{what} in `{}` is damaged: {detail}",
                path.display()
            ))
            .help(fix),
            SdkError::Unsupported { what, host, pinned } => Diagnostic::new(format!(
                "the pins have no {what} for this host ({host}); they have it for: {pinned}"
            ))
            .help("build on one of those hosts, or pin a build for this one in `wasi-sdk.toml`"),
        }
    }
}

impl std::fmt::Display for SdkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.diagnostic().fmt(f)
    }
}

impl std::error::Error for SdkError {}

/// The exact command that fetches what is missing (or, with `force`, replaces what is damaged).
pub(super) fn fetch_fix(pins: &Pins, home: &SdkHome, kind: ToolchainKind, force: bool) -> String {
    let mut cmd = if invoked_as_pywasm() {
        Command::new("pywasm")
    } else {
        let mut cmd = Command::new("cargo");
        cmd.arg("xtask");
        cmd
    };
    cmd.arg("fetch-sdk");
    if pins.python_minor() != pins.default_python {
        cmd.args(["--python", pins.python_minor()]);
    }
    if kind != pins.toolchain.default {
        cmd.args(["--toolchain", kind.name()]);
    }
    if force {
        cmd.arg("--force");
    }
    // A home given explicitly (not from the environment) must be named, or the command would
    // fetch into another directory.
    let from_env = SdkHome::from_env().map(|h| h.root).ok();
    if from_env.as_deref() != Some(home.root()) {
        cmd.env("PYWASM_HOME", home.root());
    }
    let verb = if force {
        "replace it"
    } else {
        "download and verify it"
    };
    format!("run `{}` to {verb}", crate::process::display(&cmd))
}

/// The `pywasm` binary tells users its own command; everything else (xtask, tests) runs from a
/// checkout, where `cargo xtask` is the way.
fn invoked_as_pywasm() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|s| s == "pywasm"))
        .unwrap_or(false)
}
