//! `pywasm test`: the project's own tests, run inside a module built like the app.
//!
//! The test module is the app's build with three changes: the test directories are embedded
//! beside the app (`tests/` at `/app/tests`), the entry point is pywasm's test runner
//! (`templates/test_runner.py`, which drives pytest or unittest), and pytest joins the
//! dependencies when the tests use it. Everything else (dependencies, stdlib selection,
//! pre-initialisation, `/tmp`) is the app's, so what passes here passes in the shipped module.
//! Its lock and module live in `.pywasm/test/` in the project; the app's `pywasm.lock` is never
//! touched. With `--compare`, the same runner runs under native CPython on the same sources and
//! the same locked versions, and every test whose outcome differs is listed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::diagnostic::{Diagnostic, Located, Origin};
use crate::manifest::{EntryPoint, Manifest};
use crate::pipeline::{self, BuildOptions, PythonUsed};
use crate::plan::{SourceKind, SourceRoot};
use crate::python::collect;
use crate::python::pip::Pip;
use crate::{Shell, process, runner::run};

const RUNNER_TEMPLATE: &str = include_str!("../../templates/test_runner.py");
const NODE_HOST: &str = include_str!("../../templates/run_node.mjs");
/// The runner's module name; the leading underscore keeps it clear of the project's own.
const RUNNER_MODULE: &str = "_pywasm_test";
/// Where the module writes its report, a host directory preopened for that alone.
const REPORT_GUEST_DIR: &str = "/.pywasm-report";
/// Where pytest looks for its settings, in the project directory.
const PYTEST_CONFIG_FILES: [&str; 4] = ["pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"];
/// node's WASI gained the `version` option that preview1 modules need in 20.
const MIN_NODE: u32 = 20;

/// Which framework runs the tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestRunner {
    Pytest,
    Unittest,
}

impl TestRunner {
    fn name(self) -> &'static str {
        match self {
            TestRunner::Pytest => "pytest",
            TestRunner::Unittest => "unittest",
        }
    }

    /// pytest when a `conftest.py` or a test file that imports pytest says so, else unittest.
    fn detect(paths: &[PathBuf]) -> Result<TestRunner> {
        for path in paths {
            let files = if path.is_dir() {
                collect::python_files(path)?
            } else {
                vec![path.clone()]
            };
            for file in files {
                if file.file_name().is_some_and(|n| n == "conftest.py") {
                    return Ok(TestRunner::Pytest);
                }
                let text = fs_err::read_to_string(&file)?;
                if text.lines().any(|l| {
                    let l = l.trim_start();
                    l.starts_with("import pytest") || l.starts_with("from pytest")
                }) {
                    return Ok(TestRunner::Pytest);
                }
            }
        }
        Ok(TestRunner::Unittest)
    }
}

/// Where the tests run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TestHost {
    /// The wasmtime embedded in pywasm, as `pywasm run`.
    #[default]
    Wasmtime,
    /// `node:wasi`, the `node` on PATH (20 or newer).
    Node,
}

impl TestHost {
    fn name(self) -> &'static str {
        match self {
            TestHost::Wasmtime => "wasmtime",
            TestHost::Node => "node",
        }
    }
}

/// What `pywasm test` is asked.
#[derive(Clone, Debug, Default)]
pub struct TestOptions {
    pub build: BuildOptions,
    pub on: TestHost,
    /// Also run the tests under native CPython and list every test whose outcome differs.
    pub compare: bool,
    /// Passed to pytest (or unittest's runner) after the test paths.
    pub args: Vec<String>,
}

/// How the test module differs from the app's; read by the build (`BuildOptions::tests`).
#[derive(Clone, Debug)]
pub struct TestBuild {
    pub runner: TestRunner,
    /// Test directories or files, absolute.
    pub paths: Vec<PathBuf>,
    /// `.pywasm/test` in the project: the runner and the module.
    pub dir: PathBuf,
    pub project_dir: PathBuf,
}

impl TestBuild {
    /// Finds the tests of the project and writes the runner for them.
    pub fn prepare(manifest: &Manifest) -> Result<TestBuild> {
        let mut paths = Vec::new();
        for item in &manifest.test_paths {
            let path = manifest.dir.join(&item.value);
            if path.exists() {
                paths.push(path);
            } else if manifest.test_paths_set {
                return Err(item.origin.error(
                    &format!("test path `{}` does not exist", item.value),
                    Some("list the directories (or files) that hold your tests"),
                ));
            }
        }
        if paths.is_empty() {
            bail!(
                Diagnostic::new(format!(
                    "no tests: `{}` has no `tests` directory",
                    manifest.dir.display()
                ))
                .help("put your tests in `tests/`, or list where they are in `[tool.pywasm] test-paths`")
            );
        }
        let runner = TestRunner::detect(&paths)?;
        let build = TestBuild {
            runner,
            paths,
            dir: manifest.dir.join(".pywasm").join("test"),
            project_dir: manifest.dir.clone(),
        };
        let guest: Vec<String> = build
            .paths
            .iter()
            .map(|p| {
                format!(
                    "/app/{}",
                    p.file_name().unwrap_or_default().to_string_lossy()
                )
            })
            .collect();
        let text = RUNNER_TEMPLATE
            .replace("{{runner}}", &serde_json::to_string(runner.name())?)
            .replace("{{paths}}", &serde_json::to_string(&guest)?);
        crate::fsutil::atomic_write(&build.runner_file(), text.as_bytes())?;
        Ok(build)
    }

    fn runner_file(&self) -> PathBuf {
        self.dir.join("runner").join(format!("{RUNNER_MODULE}.py"))
    }

    pub fn entry() -> EntryPoint {
        EntryPoint {
            module: RUNNER_MODULE.into(),
            attr: "main".into(),
            origin: None,
        }
    }

    pub fn output(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}-tests.wasm"))
    }

    /// The app's manifest with what the tests need on top: pytest, and the `test` extra when the
    /// project declares one.
    pub fn manifest(&self, mut manifest: Manifest) -> Manifest {
        let origin = Origin::command_line("pywasm test", self.runner.name());
        let deps = &mut manifest.deps;
        let lists_pytest = deps
            .dependencies
            .iter()
            .chain(deps.optional.get("test").into_iter().flatten())
            .any(|d| requirement_name(&d.value) == "pytest");
        if self.runner == TestRunner::Pytest && !lists_pytest {
            deps.dependencies.push(Located {
                value: "pytest".into(),
                origin: origin.clone(),
            });
        }
        if deps.optional.contains_key("test") && !deps.extras.iter().any(|e| e.value == "test") {
            deps.extras.push(Located {
                value: "test".into(),
                origin: origin.clone(),
            });
        }
        // pytest imports its own plugins by computed names.
        if self.runner == TestRunner::Pytest {
            for pattern in ["_pytest.*", "pytest.*"] {
                manifest.settings.include.push(Located {
                    value: pattern.into(),
                    origin: origin.clone(),
                });
            }
        }
        manifest
    }

    /// The app's source roots plus the tests and the runner, each where the runner looks.
    pub fn extend_sources(&self, sources: &mut Vec<SourceRoot>) {
        let tests: Vec<SourceRoot> = self
            .paths
            .iter()
            .filter(|p| !collect::covers(sources, p))
            .map(|p| SourceRoot {
                path: p.clone(),
                kind: SourceKind::Named,
                origin: None,
            })
            .collect();
        sources.extend(tests);
        // pytest reads its settings from the rootdir, which is /app in the module.
        if self.runner == TestRunner::Pytest {
            for name in PYTEST_CONFIG_FILES {
                let path = self.project_dir.join(name);
                if path.is_file() && !collect::covers(sources, &path) {
                    sources.push(SourceRoot {
                        path,
                        kind: SourceKind::Listed,
                        origin: None,
                    });
                }
            }
        }
        sources.push(SourceRoot {
            path: self.runner_file(),
            kind: SourceKind::Listed,
            origin: None,
        });
    }
}

fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

fn requirement_name(requirement: &str) -> String {
    requirement
        .split(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// What the runner reports: its exit status and each test's outcome.
#[derive(Debug, Deserialize)]
struct Report {
    exit: i32,
    tests: BTreeMap<String, String>,
}

/// Builds the test module, runs it, and with `compare` runs natively too. Returns the exit
/// status to leave with: the module's run's, as pytest's; with `compare`, 1 as well when any
/// test's outcome differs from native CPython's.
pub fn test(options: &TestOptions, shell: &Shell) -> Result<i32> {
    let manifest = Manifest::load(&options.build.project_dir)?;
    let tests = TestBuild::prepare(&manifest)?;
    let mut build_options = options.build.clone();
    build_options.tests = Some(tests.clone());
    let built = pipeline::build(&build_options, shell)?;

    let report_dir = tempfile::Builder::new()
        .prefix("pywasm-test-")
        .tempdir()
        .context("failed to create a directory for the test report")?;
    shell.status(
        "Testing",
        &format!("with {} on {}", tests.runner.name(), options.on.name()),
    );
    let code = run_module(&built.output, options, report_dir.path(), shell)?;
    if !options.compare {
        return Ok(code);
    }
    let module = read_report(&report_dir.path().join("module.json"), "the module")?;
    shell.status("Comparing", "with native CPython on the same sources");
    let pins: Vec<String> = built
        .contents
        .dists
        .iter()
        // The stdlib's C modules for WASI (zlib, sqlite3) are native CPython's own.
        .filter(|d| !d.name.starts_with("pywasm-stdlib-"))
        .map(|d| format!("{}=={}", d.name, d.version))
        .collect();
    let native = run_native(
        (&manifest, &tests, &built.python),
        &pins,
        options,
        report_dir.path(),
        shell,
    )?;
    let mut differences = differences(&module, &native);
    let differing_tests = differences.len();
    if module.exit != native.exit {
        differences.push(format!(
            "exit status: {} natively, {} in the module",
            native.exit, module.exit
        ));
    }
    if differences.is_empty() {
        shell.status(
            "Compared",
            &format!(
                "{}: every outcome is native CPython's",
                count(module.tests.len(), "test")
            ),
        );
        return Ok(code);
    }
    let mut text = format!(
        "{} of {} end differently in the module than under native CPython:",
        differing_tests,
        count(module.tests.len().max(native.tests.len()), "test")
    );
    for line in &differences {
        text.push_str("\n  ");
        text.push_str(line);
    }
    shell.warn(&text);
    Ok(if code == 0 { 1 } else { code })
}

fn run_module(wasm: &Path, options: &TestOptions, report: &Path, shell: &Shell) -> Result<i32> {
    let env = vec![(
        "PYWASM_TEST_REPORT".to_string(),
        format!("{REPORT_GUEST_DIR}/module.json"),
    )];
    let dirs = vec![(report.to_path_buf(), REPORT_GUEST_DIR.to_string())];
    match options.on {
        TestHost::Wasmtime => {
            let run_options = run::RunOptions {
                module: wasm.to_path_buf(),
                args: options.args.clone(),
                dirs,
                env,
                ..Default::default()
            };
            let home = match &options.build.home {
                Some(home) => home.clone(),
                None => crate::sdk::SdkHome::from_env()?,
            };
            let ending = run::run(&run_options, Some(home.cache("cwasm")))?;
            if let Some(message) = ending.message() {
                shell.warn(&message);
            }
            Ok(ending.exit_code())
        }
        TestHost::Node => {
            let node = node(shell)?;
            let host = report.join("run_node.mjs");
            fs_err::write(&host, NODE_HOST)?;
            let mut cmd = Command::new(node);
            cmd.arg("--no-warnings")
                .arg(&host)
                .arg(wasm)
                .arg(serde_json::to_string(&BTreeMap::from([(
                    REPORT_GUEST_DIR,
                    report,
                )]))?)
                .arg(serde_json::to_string(&BTreeMap::from_iter(env))?)
                .args(&options.args);
            process::run_inherited(shell, "run the tests in node", &mut cmd)
        }
    }
}

/// The major version in what `node --version` prints (`v20.19.2` is 20); 0 when unreadable.
pub fn node_major(version: &str) -> u32 {
    version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// `node` from PATH, checked to be new enough for preview1 modules.
fn node(shell: &Shell) -> Result<PathBuf> {
    let node = PathBuf::from("node");
    let output = process::run(
        shell,
        "ask node for its version",
        Command::new(&node).arg("--version"),
    )
    .context("`pywasm test --on node` needs node 20 or newer on PATH")?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if node_major(&version) < MIN_NODE {
        bail!(
            Diagnostic::new(format!(
                "node {version} is too old for WASI preview1 modules"
            ))
            .help(format!("install node {MIN_NODE} or newer"))
        );
    }
    Ok(node)
}

/// The same runner under native CPython of the module's version: the app's sources and the
/// tests on `sys.path`, the locked versions of the dependencies installed for this host (native
/// wheels). That CPython is the SDK's own native build where it has one (versions built from
/// source, rarely on PATH), else the one pip runs on.
fn run_native(
    (manifest, tests, python): (&Manifest, &TestBuild, &PythonUsed),
    pins: &[String],
    options: &TestOptions,
    report: &Path,
    shell: &Shell,
) -> Result<Report> {
    let pip = Pip::find_any(&python.minor, python.native.as_deref(), shell)?;
    let interpreter = match &python.native {
        Some(native) if pip.python_version != python.minor => native.clone(),
        _ => {
            if pip.python_version != python.minor {
                shell.warn(&format!(
                    "comparing with Python {} (`{}`): the module runs Python {}",
                    pip.python_version,
                    pip.python().display(),
                    python.version
                ));
            }
            pip.python().to_path_buf()
        }
    };
    let site = tests.dir.join(format!("native-site-{}", python.minor));
    let stamp = site.join(".pywasm-pins");
    let wanted = pins.join("\n");
    if fs_err::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        if site.exists() {
            fs_err::remove_dir_all(&site)?;
        }
        fs_err::create_dir_all(&site)?;
        if !pins.is_empty() {
            pip.install_native(shell, &site, pins)?;
        }
        fs_err::write(&stamp, &wanted)?;
    }
    let mut path: Vec<PathBuf> = collect::source_roots(manifest)?
        .into_iter()
        .map(|r| r.path)
        .collect();
    path.push(tests.dir.join("runner"));
    path.push(site);
    let report_file = report.join("native.json");
    let mut cmd = Command::new(interpreter);
    // -S: nothing from the host's site-packages, only what the module has too.
    cmd.args(["-I", "-S", "-c"])
        .arg(format!(
            "import sys; sys.path[0:0] = {}; import {RUNNER_MODULE}; sys.exit({RUNNER_MODULE}.main())",
            serde_json::to_string(&path)?
        ))
        .args(&options.args)
        .env("PYWASM_TEST_APP_DIR", &manifest.dir)
        .env("PYWASM_TEST_REPORT", &report_file);
    process::run_inherited(shell, "run the tests under native CPython", &mut cmd)?;
    read_report(&report_file, "native CPython")
}

fn read_report(path: &Path, who: &str) -> Result<Report> {
    let text = fs_err::read_to_string(path)
        .with_context(|| format!("the test run in {who} ended before writing its report"))?;
    serde_json::from_str(&text).with_context(|| format!("the report of {who} is not valid"))
}

/// One line per test whose outcome differs: `tests/test_a.py::test_x: passed natively, failed
/// in the module`.
fn differences(module: &Report, native: &Report) -> Vec<String> {
    let mut ids: Vec<&String> = module.tests.keys().chain(native.tests.keys()).collect();
    ids.sort();
    ids.dedup();
    let missing = "not run".to_string();
    ids.into_iter()
        .filter_map(|id| {
            let here = module.tests.get(id).unwrap_or(&missing);
            let there = native.tests.get(id).unwrap_or(&missing);
            (here != there).then(|| format!("{id}: {there} natively, {here} in the module"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_versions_read_as_their_major() {
        assert_eq!(node_major("v20.19.2\n"), 20);
        assert_eq!(node_major("v18.0.0"), 18);
        assert_eq!(node_major("nonsense"), 0);
    }
}
