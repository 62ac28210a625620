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
    report.checks.push(source_build_check(pins, home, &|tool| {
        output_of(Command::new(tool).arg("--version")).is_some()
    }));
    report
}

/// The CPython versions built here from their release tarballs: installed, or buildable with
/// `make` and a C compiler (`CC`, else `cc`), which `runs` says whether they run.
fn source_build_check(pins: &Pins, home: &SdkHome, runs: &dyn Fn(&str) -> bool) -> Check {
    let mut built = Vec::new();
    let mut to_build = Vec::new();
    for minor in pins.pythons.keys() {
        let Ok(version) = pins.clone().with_python(Some(minor)) else {
            continue;
        };
        if version.python.source != super::pins::PythonSourceKind::Release {
            continue;
        }
        if sdk::locate(&version, home, pins.toolchain.default).is_ok() {
            built.push(version.python.version.clone());
        } else {
            to_build.push(minor.clone());
        }
    }
    // `CC` may carry arguments (`ccache gcc`): its program is the first word.
    let cc = std::env::var("CC").unwrap_or_default();
    let cc = cc.split_whitespace().next().unwrap_or("cc");
    let missing: Vec<&str> = ["make", cc]
        .into_iter()
        .filter(|tool| !runs(tool))
        .collect();
    let mut detail = Vec::new();
    if !built.is_empty() {
        detail.push(format!("CPython {} built", built.join(", ")));
    }
    if !to_build.is_empty() {
        detail.push(format!(
            "CPython {} not built yet ({} to build them)",
            to_build.join(", "),
            if missing.is_empty() {
                "make and a C compiler are here".to_string()
            } else {
                format!("no {}", missing.join(", "))
            }
        ));
    }
    let fix = (!to_build.is_empty() && !missing.is_empty()).then(|| {
        format!(
            "install make and a C compiler (Debian: `apt-get install make gcc`), then `pywasm \
             fetch-sdk --python {}`",
            to_build.join(" --python ")
        )
    });
    Check {
        what: "CPython from source".into(),
        status: if fix.is_some() {
            Status::Warn
        } else {
            Status::Ok
        },
        detail: detail.join("; "),
        fix,
    }
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
    fn versions_to_build_from_source_without_make_or_a_compiler_warn_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let pins = Pins::embedded().unwrap();
        let home = SdkHome::at(dir.path());
        let ready = source_build_check(&pins, &home, &|_| true);
        assert_eq!(ready.status, Status::Ok, "{ready:?}");
        assert!(ready.detail.contains("not built yet"), "{ready:?}");
        let bare = source_build_check(&pins, &home, &|tool| tool != "make");
        assert_eq!(bare.status, Status::Warn, "{bare:?}");
        assert!(bare.detail.contains("no make"), "{bare:?}");
        let fix = bare.fix.unwrap_or_default();
        assert!(fix.contains("apt-get install make gcc"), "{fix}");
        assert!(
            fix.contains("fetch-sdk --python 3.13 --python 3.14"),
            "{fix}"
        );
    }

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
