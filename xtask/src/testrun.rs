//! `cargo test --workspace`, with the test binaries run two at a time instead of one after the
//! other. Most of the suites build modules and run them in several runtimes, with long
//! single-threaded stretches (a node or wasmtime CLI run, a build's link, a suite's last slow
//! test) that leave a core idle under cargo's one-binary-at-a-time order. Each binary still runs
//! its own tests on its default number of threads.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use pywasm_core::{Shell, shell};
use serde::Deserialize;

/// How many test binaries run at once: one per core of the machines CI runs on.
const AT_ONCE: usize = 2;

/// The suites that took longest in a cold CI (2026-12-05: deps 311 s, postprocess 300 s,
/// library 255 s, e2e 239 s, real_projects 203 s, test_command 151 s, wheels 147 s, cli 139 s),
/// longest first. They start first, so that no long suite is left to run alone at the end, as
/// deps and postprocess were in cargo's order. Suites not listed follow in cargo's order.
const LONGEST_FIRST: &[&str] = &[
    "deps",
    "postprocess",
    "library",
    "e2e",
    "real_projects",
    "test_command",
    "wheels",
    "cli",
    "preinit",
];

/// A suite that must wait for something (an SDK built in the background) before it runs; it
/// runs after every other suite, so that the others fill the wait.
pub struct Gate {
    /// The test target's name (`versions`).
    pub suite: &'static str,
    pub wait: Box<dyn FnOnce() -> Result<()> + Send>,
}

/// What every suite's summary lines add up to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub passed: u64,
    pub failed: u64,
}

/// What the runner threads share.
#[derive(Default)]
struct State {
    totals: Totals,
    running: Vec<String>,
    errors: Vec<String>,
}

/// One test executable and the package directory cargo would run it in.
#[derive(Clone, Debug)]
struct Suite {
    name: String,
    executable: PathBuf,
    dir: PathBuf,
}

/// The part of cargo's `compiler-artifact` messages this reads.
#[derive(Deserialize)]
struct Artifact {
    reason: String,
    executable: Option<PathBuf>,
    manifest_path: Option<PathBuf>,
    target: Option<Target>,
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

#[derive(Deserialize)]
struct Profile {
    test: bool,
}

/// Builds the workspace's tests (nothing, when CI's background build already did), runs every
/// test binary with at most [`AT_ONCE`] running, printing each one's output whole when it ends,
/// then the doc-tests; returns the totals.
pub fn run(shell: &Shell, cargo: impl Fn() -> Command, gates: Vec<Gate>) -> Result<Totals> {
    let mut list = cargo();
    list.args([
        "test",
        "--workspace",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]);
    let out = pywasm_core::process::run(shell, "list the test binaries", &mut list)?;
    let mut suites = suites(&String::from_utf8_lossy(&out.stdout))?;
    suites.sort_by_key(|suite| longest_first_rank(&suite.name));
    suites.sort_by_key(|suite| gates.iter().any(|g| g.suite == target_of(&suite.name)));
    let gates = Arc::new(Mutex::new(gates));
    let start = Instant::now();
    let queue = Arc::new(Mutex::new(suites.into_iter().collect::<VecDeque<_>>()));
    let state = Arc::new(Mutex::new(State::default()));
    let workers: Vec<_> = (0..AT_ONCE)
        .map(|_| {
            let queue = Arc::clone(&queue);
            let state = Arc::clone(&state);
            let gates = Arc::clone(&gates);
            // A binary that fails to run is recorded and the others still run: every suite's
            // outcome is worth having from one CI run.
            std::thread::spawn(move || {
                loop {
                    // Its own statement: a guard in `while let`'s condition would hold the
                    // queue for the whole run of the binary, one binary at a time.
                    let next = queue.lock().expect("the queue's lock").pop_front();
                    let Some(suite) = next else {
                        break;
                    };
                    state
                        .lock()
                        .expect("the state's lock")
                        .running
                        .push(suite.name.clone());
                    let gate = {
                        let mut gates = gates.lock().expect("the gates' lock");
                        let at = gates.iter().position(|g| g.suite == target_of(&suite.name));
                        at.map(|i| gates.remove(i))
                    };
                    let ran = match gate {
                        Some(gate) => (gate.wait)()
                            .with_context(|| format!("{} could not run", suite.name))
                            .and_then(|()| run_suite(&suite)),
                        None => run_suite(&suite),
                    };
                    let mut state = state.lock().expect("the state's lock");
                    state.running.retain(|name| name != &suite.name);
                    match ran {
                        Ok(ran) => {
                            state.totals.passed += ran.passed;
                            state.totals.failed += ran.failed;
                        }
                        Err(err) => state.errors.push(format!("{err:#}")),
                    }
                }
            })
        })
        .collect();
    // Output comes when a binary ends; a line a minute says what is still running, so that a
    // hang shows before CI's time limit.
    let mut last_notice = Instant::now();
    while workers.iter().any(|w| !w.is_finished()) {
        std::thread::sleep(std::time::Duration::from_millis(200));
        if last_notice.elapsed().as_secs() >= 60 {
            last_notice = Instant::now();
            let running = state.lock().expect("the state's lock").running.join(", ");
            eprintln!("     Waiting for {running}");
        }
    }
    for worker in workers {
        worker
            .join()
            .map_err(|_| anyhow::anyhow!("a test runner thread panicked"))?;
    }
    let mut doc = cargo();
    doc.args(["test", "--workspace", "--doc"]);
    let doc_totals = run_and_count(&mut doc, "the doc-tests")?;
    let state = state.lock().expect("the state's lock");
    shell.status(
        "Finished",
        &format!(
            "the test binaries and doc-tests in {}",
            shell::seconds(start.elapsed())
        ),
    );
    if !state.errors.is_empty() {
        bail!("{}", state.errors.join("\n"));
    }
    let totals = state.totals;
    Ok(Totals {
        passed: totals.passed + doc_totals.passed,
        failed: totals.failed + doc_totals.failed,
    })
}

/// Where a suite named `target (kind)` goes in the run order: its place in [`LONGEST_FIRST`],
/// or after all of them. The sort is stable, so the rest keep cargo's order.
fn longest_first_rank(name: &str) -> usize {
    let target = target_of(name);
    LONGEST_FIRST
        .iter()
        .position(|slow| *slow == target)
        .unwrap_or(LONGEST_FIRST.len())
}

/// `deps` of `deps (test)`.
fn target_of(name: &str) -> &str {
    name.split(" (").next().unwrap_or(name)
}

/// The test executables in cargo's JSON messages, in the order cargo built them.
fn suites(messages: &str) -> Result<Vec<Suite>> {
    let mut out = Vec::new();
    for line in messages.lines().filter(|l| l.starts_with('{')) {
        let artifact: Artifact = serde_json::from_str(line)
            .with_context(|| format!("cargo printed a message this cannot read: {line}"))?;
        let (Some(executable), Some(manifest), Some(target), Some(profile)) = (
            artifact.executable,
            artifact.manifest_path,
            artifact.target,
            artifact.profile,
        ) else {
            continue;
        };
        if artifact.reason != "compiler-artifact" || !profile.test {
            continue;
        }
        let dir = manifest
            .parent()
            .context("a manifest path without a directory")?
            .to_path_buf();
        out.push(Suite {
            name: format!("{} ({})", target.name, target.kind.join(", ")),
            executable,
            dir,
        });
    }
    if out.is_empty() {
        bail!("cargo built no test binary");
    }
    Ok(out)
}

/// Runs one test binary as `cargo test` would (in its package's directory, with
/// `CARGO_MANIFEST_DIR` its own rather than xtask's, and `CARGO` inherited for nested builds)
/// and prints its whole output once it ends.
fn run_suite(suite: &Suite) -> Result<Totals> {
    let mut cmd = Command::new(&suite.executable);
    pywasm_tests::without_cargo_run_vars(&mut cmd)
        .current_dir(&suite.dir)
        .env("CARGO_MANIFEST_DIR", &suite.dir);
    let started = Instant::now();
    let totals = run_and_count(&mut cmd, &suite.name)?;
    eprintln!(
        "    Finished {} in {}",
        suite.name,
        shell::seconds(started.elapsed())
    );
    Ok(totals)
}

/// Runs `cmd`, prints its stdout and stderr together once it ends, and adds up its
/// `test result:` lines. A failure with no failed test counted (a crash, a build error) is an
/// error.
fn run_and_count(cmd: &mut Command, what: &str) -> Result<Totals> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {what}: {cmd:?}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // One block per binary, so that two binaries' lines never interleave.
    print!("\n     Running {what}\n{stdout}{stderr}");
    let totals = count(&stdout);
    if !out.status.success() && totals.failed == 0 {
        bail!("{what} exited with {}", out.status);
    }
    Ok(totals)
}

/// The sum of the `test result:` lines of a test binary's output.
fn count(output: &str) -> Totals {
    let mut totals = Totals::default();
    for line in output.lines() {
        if let Some(summary) = line.strip_prefix("test result: ") {
            totals.passed += count_before(summary, " passed");
            totals.failed += count_before(summary, " failed");
        }
    }
    totals
}

/// `3` from `ok. 3 passed; 0 failed` and ` passed`.
fn count_before(summary: &str, label: &str) -> u64 {
    summary
        .find(label)
        .and_then(|end| summary[..end].rsplit([' ', '.']).next()?.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn counts_come_from_cargo_summaries() {
        let output = "running 3 tests\n\
            test result: ok. 66 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.04s\n\
            test result: FAILED. 6 passed; 2 failed;\n";
        assert_eq!(
            count(output),
            Totals {
                passed: 72,
                failed: 4
            }
        );
    }

    #[test]
    fn test_binaries_come_from_cargo_messages() {
        let messages = [
            r#"{"reason":"compiler-artifact","package_id":"p","manifest_path":"/w/tests/Cargo.toml","target":{"name":"e2e","kind":["test"]},"profile":{"test":true},"executable":"/t/debug/deps/e2e-1"}"#,
            r#"{"reason":"compiler-artifact","package_id":"p","manifest_path":"/w/crates/pywasm/Cargo.toml","target":{"name":"pywasm","kind":["bin"]},"profile":{"test":false},"executable":"/t/debug/pywasm"}"#,
            r#"{"reason":"compiler-artifact","package_id":"p","manifest_path":"/w/x/Cargo.toml","target":{"name":"anyhow","kind":["lib"]},"profile":{"test":false},"executable":null}"#,
            r#"{"reason":"build-finished","success":true}"#,
            "   Compiling something",
        ]
        .join("\n");
        let found = suites(&messages).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "e2e (test)");
        assert_eq!(found[0].executable, Path::new("/t/debug/deps/e2e-1"));
        assert_eq!(found[0].dir, Path::new("/w/tests"));
        assert!(suites("   Compiling nothing").is_err());
    }

    #[test]
    fn the_longest_suites_run_first() {
        let mut names = [
            "cli (test)",
            "pywasm_core (lib)",
            "deps (test)",
            "udf (test)",
        ];
        names.sort_by_key(|name| longest_first_rank(name));
        assert_eq!(
            names,
            [
                "deps (test)",
                "cli (test)",
                "pywasm_core (lib)",
                "udf (test)"
            ]
        );
    }
}
