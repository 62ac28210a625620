//! Every error a project can cause before or during a build, as users see it (issue 18): one
//! fixture per error under `tests/fixtures/errors/<case>/`, built by the real binary, its exit
//! code and stderr snapshotted in `snapshots/errors__build_error@<case>.snap`.
//!
//! A fixture is a minimal project whose `pyproject.toml` starts with a one-line comment saying
//! which error it shows (the snapshot's description); an optional `args` file holds more
//! arguments for `pywasm build`. Accept new or changed snapshots with `INSTA_UPDATE=always`
//! (or `cargo insta review`), then read them: each must say what is wrong, where and how to fix it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Command-line mistakes clap refuses before pywasm runs: exit code 2, clap's own wording.
const USAGE_ERRORS: &[&str] = &["cli_unknown_optimize", "cli_unknown_python"];

/// Errors that have no `= help:` line (none today): the test fails when an error gains or loses
/// its help without this list changing.
const WITHOUT_HELP: &[&str] = &[];

/// Errors shown without a `--> path:line:column` (the first ones have a place they could point
/// at; `no_python_sources` and `offline_without_lock` have none in any file).
const WITHOUT_LOCATION: &[&str] = &[
    "component_project_no_wit_name",
    "lock_out_of_date",
    "no_entry_point",
    "no_project_table",
    "no_python_sources",
    "offline_without_lock",
];

/// Errors that are text, not a `Diagnostic` (none today): their JSON error event would have
/// `"diagnostic": null`.
const NOT_DIAGNOSTICS: &[&str] = &[];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository")
}

/// One fixture's build: the arguments after `pywasm`, and where the module would go.
struct Case {
    name: String,
    dir: PathBuf,
    args: Vec<String>,
    output: PathBuf,
    tmp: tempfile::TempDir,
}

impl Case {
    fn new(pyproject: &Path) -> Case {
        let dir = pyproject
            .parent()
            .expect("the fixture directory")
            .to_path_buf();
        let name = dir
            .file_name()
            .expect("a fixture name")
            .to_string_lossy()
            .into_owned();
        let tmp = tempfile::tempdir().expect("temp dir");
        let output = tmp.path().join(format!("{name}.wasm"));
        let mut args: Vec<String> = [
            "build",
            "--offline",
            "-q",
            &format!("tests/fixtures/errors/{name}"),
            "-o",
            &output.display().to_string(),
        ]
        .map(String::from)
        .to_vec();
        if let Ok(extra) = std::fs::read_to_string(dir.join("args")) {
            args.extend(extra.split_whitespace().map(String::from));
        }
        Case {
            name,
            dir,
            args,
            output,
            tmp,
        }
    }

    /// Runs `pywasm [FIRST...] ARGS` from the repository, as a user would type it there, and
    /// checks that the failed build left nothing behind.
    fn run(&self, first: &[&str]) -> Output {
        let before = files(&self.dir);
        let out = Command::new(env!("CARGO_BIN_EXE_pywasm"))
            .args(first)
            .args(&self.args)
            .current_dir(repo())
            .output()
            .expect("run pywasm");
        assert!(
            !self.output.exists(),
            "{}: a failed build wrote `{}`",
            self.name,
            self.output.display()
        );
        assert!(
            !self.dir.join("dist").exists(),
            "{}: a failed build wrote dist/",
            self.name
        );
        assert_eq!(
            files(&self.dir),
            before,
            "{}: the build changed the fixture",
            self.name
        );
        out
    }

    /// Absolute paths of this machine replaced by `<repo>` and `<tmp>`.
    fn normalize(&self, text: &str) -> String {
        let repo = repo();
        text.replace(&self.tmp.path().display().to_string(), "<tmp>")
            .replace(&repo.display().to_string(), "<repo>")
            .replace(env!("CARGO_MANIFEST_DIR"), "<repo>/crates/pywasm")
    }

    fn command_line(&self, first: &[&str]) -> String {
        let args: Vec<&str> = first
            .iter()
            .copied()
            .chain(self.args.iter().map(String::as_str))
            .collect();
        self.normalize(&format!("$ pywasm {}", args.join(" ")))
    }
}

/// Every file below `dir`, relative to it.
fn files(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("read the fixture") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path.clone());
            }
            out.insert(path.strip_prefix(dir).expect("below dir").to_path_buf());
        }
    }
    out
}

/// The first line of the fixture's `pyproject.toml`, without its `# `.
fn description(pyproject: &Path) -> String {
    let text = std::fs::read_to_string(pyproject).expect("read pyproject.toml");
    let first = text.lines().next().unwrap_or_default();
    first
        .strip_prefix("# ")
        .unwrap_or_else(|| panic!("`{}` starts with a `# ` comment", pyproject.display()))
        .to_string()
}

#[test]
fn build_error() {
    insta::glob!(
        "../../../tests/fixtures/errors",
        "*/pyproject.toml",
        |pyproject| {
            let case = Case::new(pyproject);
            let out = case.run(&[]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let name = case.name.as_str();
            check_human(name, out.status.code(), &stderr);

            let mut settings = insta::Settings::clone_current();
            settings.set_snapshot_suffix(name);
            settings.set_description(description(pyproject));
            settings.set_omit_expression(true);
            settings.bind(|| {
                insta::assert_snapshot!(format!(
                    "{}\nexit code: {}\n{}",
                    case.command_line(&[]),
                    out.status.code().map_or("none".into(), |c| c.to_string()),
                    case.normalize(&stderr)
                ));
            });

            if !USAGE_ERRORS.contains(&name) {
                let json = case.run(&["--message-format", "json"]);
                assert_eq!(json.status.code(), out.status.code(), "{name}");
                check_json_event(name, &error_event(name, &json), &stderr);
            }
        }
    );
}

/// What every rendered error must show, in code as well as in its snapshot.
fn check_human(name: &str, code: Option<i32>, stderr: &str) {
    let usage = USAGE_ERRORS.contains(&name);
    assert_eq!(code, Some(if usage { 2 } else { 1 }), "{name}: {stderr}");
    assert!(stderr.starts_with("error: "), "{name}: {stderr}");
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    if usage {
        return;
    }
    let lines: Vec<&str> = stderr.lines().collect();
    let has_help = lines.iter().any(|l| l.trim_start().starts_with("= help: "));
    assert_eq!(
        has_help,
        !WITHOUT_HELP.contains(&name),
        "{name}: a `= help:` line (update WITHOUT_HELP if fixed): {stderr}"
    );
    let location = lines
        .iter()
        .position(|l| l.trim_start().starts_with("--> "));
    assert_eq!(
        location.is_some(),
        !WITHOUT_LOCATION.contains(&name),
        "{name}: a location (update WITHOUT_LOCATION if fixed): {stderr}"
    );
    if let Some(at) = location {
        // `--> path:line:column`, the line number in the gutter before the source line, and
        // carets under it.
        let place = lines[at].trim_start().trim_start_matches("--> ");
        let mut parts = place.rsplitn(3, ':');
        let column: usize = parts.next().and_then(|c| c.parse().ok()).expect("a column");
        let line = parts.next().expect("a line number");
        assert!(line.parse::<usize>().is_ok(), "{name}: {place}");
        let source = lines.get(at + 2).expect("the source line");
        assert!(
            source.starts_with(&format!("{line} | ")),
            "{name}: {stderr}"
        );
        let carets = lines.get(at + 3).expect("the carets");
        let (_, under) = carets.split_once(" | ").expect("the gutter");
        assert_eq!(under.find('^'), Some(column - 1), "{name}: {stderr}");
    }
}

/// The `error` event of a `--message-format json` run; nothing of it is on stderr.
fn error_event(name: &str, out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.stderr.is_empty(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON event"))
        .collect();
    let errors: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["reason"] == "error").collect();
    assert_eq!(errors.len(), 1, "{name}: {stdout}");
    errors[0].clone()
}

/// The JSON event says what the text says: the same message and, for a diagnostic, its span.
fn check_json_event(name: &str, event: &serde_json::Value, stderr: &str) {
    let message = event["message"].as_str().expect("a message");
    assert_eq!(
        format!("error: {message}\n"),
        stderr,
        "{name}: the event's message is the rendered error"
    );
    let diagnostic = &event["diagnostic"];
    assert_eq!(
        diagnostic.is_null(),
        NOT_DIAGNOSTICS.contains(&name),
        "{name}: a diagnostic (update NOT_DIAGNOSTICS if fixed): {event:#}"
    );
    if diagnostic.is_null() {
        return;
    }
    let text = diagnostic["message"]
        .as_str()
        .expect("a diagnostic message");
    assert!(message.starts_with(text), "{name}: {event:#}");
    assert_eq!(
        diagnostic["span"].is_object(),
        stderr.contains("\n --> ") || stderr.contains("\n  --> "),
        "{name}: {event:#}"
    );
    if let Some(help) = diagnostic["help"].as_str() {
        assert!(stderr.contains(&format!("= help: {help}")), "{name}");
    }
}

/// The error event of `--message-format json`, with its diagnostic and span, as CI scripts
/// read it.
#[test]
fn json_error_event() {
    let pyproject = repo().join("tests/fixtures/errors/unknown_key/pyproject.toml");
    let case = Case::new(&pyproject);
    let out = case.run(&["--message-format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let event = error_event(&case.name, &out);
    let pretty = serde_json::to_string_pretty(&event).expect("render JSON");
    insta::with_settings!({ description => case.command_line(&["--message-format", "json"]), omit_expression => true }, {
        insta::assert_snapshot!(case.normalize(&pretty));
    });
}
