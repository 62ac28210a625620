//! `cargo xtask`: development tasks for this repository.
//!
//! - `cargo xtask fetch-sdk [--toolchain zig|wasi-sdk] [--force] [--pins <file>]`: download,
//!   verify and unpack the pinned SDK into `PYWASM_HOME`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use pywasm_core::Shell;
use pywasm_core::pins::{Pins, ToolchainKind};
use pywasm_core::sdk::{self, FetchOptions, SdkHome};
use pywasm_core::shell::Verbosity;

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
}

#[derive(clap::Args)]
struct FetchSdk {
    /// The toolchain to fetch besides CPython [default: the pins' default]
    #[arg(long, value_enum)]
    toolchain: Option<Toolchain>,
    /// Fetch and unpack again even what is already there and intact
    #[arg(long)]
    force: bool,
    /// The pins file [default: the repository's `wasi-sdk.toml`]
    #[arg(long, value_name = "FILE")]
    pins: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Toolchain {
    Zig,
    WasiSdk,
}

impl From<Toolchain> for ToolchainKind {
    fn from(t: Toolchain) -> Self {
        match t {
            Toolchain::Zig => ToolchainKind::Zig,
            Toolchain::WasiSdk => ToolchainKind::WasiSdk,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let shell = Shell::new(Verbosity::Normal);
    let result = match cli.task {
        Task::FetchSdk(args) => fetch_sdk(&shell, &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report(&err);
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
        toolchain: args.toolchain.map(Into::into),
    };
    let got = sdk::fetch(&pins, &home, shell, &opts)?;
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

/// The repository's `wasi-sdk.toml`, found from this crate's own directory so the command works
/// from any working directory.
fn default_pins() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("wasi-sdk.toml")
}

fn report(err: &anyhow::Error) {
    eprintln!("error: {err}");
    let mut causes = err.chain().skip(1).peekable();
    if causes.peek().is_some() {
        eprintln!("\nCaused by:");
        for cause in causes {
            eprintln!("    {cause}");
        }
    }
}
