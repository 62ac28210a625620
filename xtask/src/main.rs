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
//! - `cargo xtask fuzz [--time 60s] [TARGET...]`: the fuzz targets of `fuzz/`, each for `--time`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use pywasm_core::Shell;
use pywasm_core::process::{run, run_streaming};
use pywasm_core::sdk::pins::{Pins, ToolchainKind};
use pywasm_core::sdk::{self, FetchOptions, SdkHome};
use pywasm_core::shell::{Verbosity, render_error};

mod background;
mod bench;
mod ci;
mod dist;
mod fuzz;
mod package;
mod runtimes;
mod testrun;

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
    /// `pywasm wheel build` for CI and releases: also installs the host packages the recipes
    /// need when run as root
    BuildWheel(BuildWheel),
    /// Install the pinned WASI runtimes the portability tests use (wasmtime CLI, browser_wasi_shim)
    TestRuntimes,
    /// Measure size, start-up, memory and build time against plain CPython on WASI, native
    /// CPython and componentize-py; writes bench/results.md and bench/chart.png
    Bench(bench::BenchArgs),
    /// Build what a release publishes into target/dist: the pywasm binary for this host, every
    /// example's module and checksum, and SHA256SUMS
    Dist(dist::DistArgs),
    /// Run the fuzz targets of fuzz/ (cargo fuzz, nightly Rust) for --time each; a crash fails
    Fuzz(fuzz::FuzzArgs),
    /// (used by `bench`) run a command and write its wall time and peak memory to a file
    #[command(hide = true)]
    MeasureChild(bench::MeasureChild),
}

#[derive(clap::Args)]
struct BuildWheel {
    /// Recipe names (`crates/pywasm-core/recipes/<name>.toml`)
    #[arg(required_unless_present = "all")]
    recipes: Vec<String>,
    /// Every recipe
    #[arg(long, conflicts_with = "recipes")]
    all: bool,
    /// Build again even when the cache has the wheel
    #[arg(long)]
    force: bool,
    /// The CPython versions to build for, e.g. `--python 3.13 --python 3.14` [default: the
    /// pins' default]; a version's SDK is fetched or built first when missing
    #[arg(long, value_name = "VERSION")]
    python: Vec<String>,
}

#[derive(clap::Args)]
struct FetchSdk {
    /// The toolchain to fetch besides CPython [default: the pins' default]
    #[arg(long, value_enum)]
    toolchain: Option<ToolchainKind>,
    /// Fetch and unpack again even what is already there and intact
    #[arg(long)]
    force: bool,
    /// The CPython versions, e.g. `--python 3.13 --python 3.14` [default: the pins' default];
    /// those pinned as release tarballs are built
    #[arg(long, value_name = "VERSION")]
    python: Vec<String>,
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
        Task::Ci => ci::ci(&shell),
        Task::BuildWheel(args) => build_wheels(&shell, &args).map(drop),
        Task::TestRuntimes => runtimes::install(&shell, &repo_root()),
        Task::Bench(args) => bench::bench(&shell, &repo_root(), &args),
        Task::Dist(args) => dist::dist(&shell, &repo_root(), &args),
        Task::Fuzz(args) => fuzz::fuzz(&shell, &args),
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
    let got = sdk::prepare::fetch_each(&pins, &args.python, &home, shell, &opts)?;
    let versions: Vec<&str> = got.iter().map(|s| s.python.version.as_str()).collect();
    let kind = got.first().map(|s| s.toolchain.kind);
    shell.stage_done(
        "Finished",
        &format!(
            "SDK (CPython {}, {}) in `{}`",
            versions.join(", "),
            kind.map_or("", |k| k.name()),
            home.root().display()
        ),
        start.elapsed(),
    );
    Ok(())
}

/// Returns the wheels, in the order the recipes and versions were asked for.
fn build_wheels(shell: &Shell, args: &BuildWheel) -> Result<Vec<PathBuf>> {
    let names: Vec<String> = if args.all {
        pywasm_core::recipes::names()
            .into_iter()
            .map(String::from)
            .collect()
    } else {
        args.recipes.clone()
    };
    let versions = Pins::load(&default_pins())?.each_python(&args.python)?;
    let options = pywasm_core::recipes::WheelOptions {
        force: args.force,
        install_host_packages: true,
    };
    let home = SdkHome::from_env()?;
    pywasm_core::recipes::build_all(shell, &home, &names, &versions, options)
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
        python: Vec::new(),
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

/// Builds the pywasm binary as users get it (the release profile) and returns its path.
fn build_release_binary(shell: &Shell) -> Result<PathBuf> {
    run(
        shell,
        "build pywasm",
        cargo().args(["build", "--quiet", "--release", "--package", "pywasm"]),
    )?;
    Ok(target_dir()
        .join("release")
        .join(format!("pywasm{}", std::env::consts::EXE_SUFFIX)))
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else `target/` in the repository.
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
            python: Vec::new(),
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
