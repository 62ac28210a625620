//! `pywasm doctor`: checks what builds and runs need on this machine, and says what to fix: the
//! SDK cache (each component against its pinned digest and unpacked file list), the Python whose
//! pip resolves dependencies, and a WASI runtime to run the output with.

use std::fmt::Write as _;
use std::process::Command;

use crate::Shell;
use crate::diagnostic::Diagnostic;
use crate::python::pip::Pip;
use crate::sdk::pins::{Pins, ToolchainKind};
use crate::sdk::{self, SdkHome};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Works, but something users may want is missing.
    Warn,
    /// Builds will fail until it is fixed.
    Fail,
}

#[derive(Clone, Debug)]
pub struct Check {
    pub what: String,
    pub status: Status,
    pub detail: String,
    pub fix: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Fail)
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            let mark = match check.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            let _ = writeln!(out, "{mark} {}: {}", check.what, check.detail);
            if let Some(fix) = &check.fix {
                let _ = writeln!(out, "     = fix: {fix}");
            }
        }
        out
    }
}

pub fn diagnose(pins: &Pins, home: &SdkHome) -> Report {
    let mut report = Report::default();
    report.checks.push(Check {
        what: "pins".into(),
        status: Status::Ok,
        detail: format!("{} (home `{}`)", pins.summary(), home.root().display()),
        fix: None,
    });
    for kind in [ToolchainKind::Zig, ToolchainKind::WasiSdk] {
        report.checks.push(sdk_check(pins, home, kind));
    }
    report.checks.push(pip_check(pins.python_minor()));
    report.checks.push(runtime_check());
    report
}

fn sdk_check(pins: &Pins, home: &SdkHome, kind: ToolchainKind) -> Check {
    let default = kind == pins.toolchain.default;
    let what = format!(
        "SDK with {}{}",
        kind.name(),
        if default { " (the default)" } else { "" }
    );
    match sdk::locate(pins, home, kind) {
        Ok(found) => Check {
            what,
            status: Status::Ok,
            detail: format!(
                "{} and {}, every file as unpacked from the pinned archives",
                found.python.identity, found.toolchain.identity
            ),
            fix: None,
        },
        Err(err) => {
            let diagnostic = err.diagnostic();
            let (detail, fix) = (diagnostic.message, diagnostic.help);
            let fix = fix.or_else(|| Some("run `pywasm fetch-sdk`".into()));
            Check {
                what,
                // The other toolchain is optional.
                status: if default { Status::Fail } else { Status::Warn },
                detail,
                fix,
            }
        }
    }
}

/// The Python whose pip resolves dependencies, found the way builds find it ([`Pip::find`]).
fn pip_check(target_minor: &str) -> Check {
    match Pip::find(target_minor, None, &Shell::quiet()) {
        Ok(pip) => Check {
            what: "pip".into(),
            status: Status::Ok,
            detail: format!("pip {} on Python {}", pip.pip_version, pip.python_version),
            fix: None,
        },
        Err(err) => {
            let (detail, fix) = match Diagnostic::find(&err) {
                Some(found) => (found.message.clone(), found.help.clone()),
                None => (format!("{err:#}"), None),
            };
            Check {
                what: "pip".into(),
                status: Status::Fail,
                detail,
                fix,
            }
        }
    }
}

fn runtime_check() -> Check {
    let mut found = vec!["pywasm's own wasmtime (`pywasm run`)".to_string()];
    if let Some(version) = output_of(Command::new("wasmtime").arg("--version")) {
        found.push(version);
    }
    let node = output_of(Command::new("node").arg("--version"));
    let node_major = node.as_deref().and_then(|v| {
        v.trim_start_matches('v')
            .split('.')
            .next()?
            .parse::<u32>()
            .ok()
    });
    let fix = match (node.as_deref(), node_major) {
        (Some(v), Some(major)) if major >= 20 => {
            found.push(format!("node {v} (node:wasi)"));
            None
        }
        (Some(v), _) => Some(format!(
            "node {v} is older than 20, whose node:wasi runs the modules; upgrade it to run them under node"
        )),
        (None, _) => None,
    };
    Check {
        what: "runtimes".into(),
        status: if fix.is_some() {
            Status::Warn
        } else {
            Status::Ok
        },
        detail: found.join(", "),
        fix,
    }
}

/// The first line a command prints when it succeeds.
fn output_of(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(|l| l.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_home_fails_and_says_how_to_fix_it() {
        let dir = tempfile::tempdir().unwrap();
        let pins = Pins::embedded().unwrap();
        let report = diagnose(&pins, &SdkHome::at(dir.path()));
        assert!(report.failed());
        let text = report.text();
        assert!(text.contains("FAIL SDK with zig (the default)"), "{text}");
        assert!(text.contains("= fix: "), "{text}");
        assert!(text.contains("fetch-sdk"), "{text}");
    }
}
