//! `pywasm`: a thin command-line front over `pywasm-core`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pywasm_core::runner::testing::{TestHost, TestOptions};
use pywasm_core::sdk::pins::{Pins, ToolchainKind};
use pywasm_core::sdk::{self, FetchOptions, SdkHome};
use pywasm_core::shell::{MessageFormat, Shell, Verbosity};
use pywasm_core::{BuildOptions, LockOptions, build, lock};

#[derive(Parser)]
#[command(
    name = "pywasm",
    version,
    about = "Compile a Python project into one self-contained WebAssembly module"
)]
struct Cli {
    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Also print every command pywasm runs.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// `human` (status lines on stderr) or `json` (one JSON object per event on stdout).
    #[arg(
        long,
        global = true,
        value_name = "FORMAT",
        default_value = "human",
        value_enum
    )]
    message_format: MessageFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct BuildArgs {
    #[command(flatten)]
    options: BuildOptions,
    /// After building, list what went into the module: distributions, extension modules,
    /// sizes.
    #[arg(long)]
    list: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Check the SDK cache, pip and a WASI runtime, and say what to fix.
    Doctor,
    /// Create a new project in DIR (default: the current directory) that builds and runs at
    /// once: pyproject.toml, a src-layout package with an entry function, a test, a .gitignore.
    Init {
        dir: Option<PathBuf>,
        /// The project's name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Build the project in DIR (default: the current directory) into a .wasm module.
    Build(BuildArgs),
    /// Print the WIT world of the library project in DIR (default: the current directory): its
    /// exports typed from their annotations and its host functions, as `--component` builds it.
    Wit {
        dir: Option<PathBuf>,
        /// Write the world to FILE instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Do not download a missing SDK; fail and say how to get it.
        #[arg(long)]
        offline: bool,
    },
    /// Show what a module built by pywasm contains (its embedded build manifest).
    Inspect {
        module: PathBuf,
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
        /// Also list every embedded file with its sha256.
        #[arg(long)]
        files: bool,
        /// Re-hash the embedded files against the manifest and the module against its .sha256;
        /// exit with 1 on any difference.
        #[arg(long)]
        verify: bool,
        /// Refuse a file larger than this (default 1G): `64M`, `4G`.
        #[arg(long, value_name = "SIZE", value_parser = pywasm_core::size::parse_size,
              default_value_t = pywasm_core::runner::inspect::DEFAULT_MAX_SIZE, hide_default_value = true)]
        max_size: u64,
    },
    /// Run a module in an embedded wasmtime, with the terminal's stdio and optional limits.
    /// Exit codes: the module's own; 124 past --timeout, 123 out of --fuel, 122 past
    /// --max-memory, 134 on a trap.
    Run {
        module: PathBuf,
        /// Arguments for the module (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
        /// Share a host directory: `HOST` or `HOST::GUEST` (read and write).
        #[arg(long = "dir", value_name = "HOST[::GUEST]")]
        dirs: Vec<String>,
        /// An environment variable for the module: `KEY=VALUE`.
        #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
        env: Vec<(String, String)>,
        /// Most memory the module may use, e.g. 256M or 2G.
        #[arg(long, value_parser = pywasm_core::size::parse_size)]
        max_memory: Option<u64>,
        /// Stop the module after this long, e.g. 500ms, 10s, 2m.
        #[arg(long, value_parser = pywasm_core::runner::run::parse_duration)]
        timeout: Option<std::time::Duration>,
        /// Stop the module after this many units of wasmtime fuel (about one per instruction).
        #[arg(long)]
        fuel: Option<u64>,
    },
    /// Run the project's tests (pytest or unittest, from `[tool.pywasm] test-paths`, default
    /// `tests/`) inside a module built like the app. Exits as pytest does: 0 all passed, 1 some
    /// failed, 5 no tests collected.
    Test {
        dir: Option<PathBuf>,
        /// The host to run the module on: `wasmtime` (embedded) or `node` (from PATH).
        #[arg(long, value_name = "HOST", default_value = "wasmtime", value_enum)]
        on: TestHost,
        /// Also run the tests under native CPython and list every test whose outcome differs
        /// (then exit with 1 if any does).
        #[arg(long)]
        compare: bool,
        /// Do not download a missing SDK; fail and say how to get it.
        #[arg(long)]
        offline: bool,
        /// Arguments for pytest (or unittest's runner), after `--`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Resolve the dependencies of the project in DIR with pip and write `pywasm.lock`.
    Lock(LockOptions),
    /// Build the static WASI wheels of pywasm's recipes (lxml, pydantic-core, zlib, sqlite3)
    /// into the cache, where every build finds them.
    #[command(subcommand)]
    Wheel(WheelCommand),
    /// Download, verify and unpack the pinned SDK into the cache (PYWASM_HOME); CPython
    /// versions pinned as release tarballs are built (about five minutes each on two cores).
    FetchSdk {
        /// The C toolchain (default: as pinned in wasi-sdk.toml).
        #[arg(long, value_enum)]
        toolchain: Option<ToolchainKind>,
        /// The CPython versions, e.g. `--python 3.13 --python 3.14` (default: the pins' default).
        #[arg(long, value_name = "VERSION")]
        python: Vec<String>,
        /// Fetch again even when the cache is complete.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum WheelCommand {
    /// Build the wheels of RECIPE... (or `--all`) for the default CPython or each `--python`;
    /// unchanged recipes come from the cache.
    Build {
        #[arg(value_name = "RECIPE", required_unless_present = "all")]
        recipes: Vec<String>,
        /// Every recipe.
        #[arg(long, conflicts_with = "recipes")]
        all: bool,
        /// The CPython versions, e.g. `--python 3.13 --python 3.14` (default: the pins' default).
        #[arg(long, value_name = "VERSION")]
        python: Vec<String>,
        /// Build again even when the cache has the wheel.
        #[arg(long)]
        force: bool,
        /// When run as root, install the Debian packages the recipes need with apt-get.
        #[arg(long)]
        install_host_packages: bool,
    },
    /// List the recipes, what each provides, and the CPython versions it is built for here.
    List,
}

fn main() -> ExitCode {
    let cli = parse_cli();
    let verbosity = match (cli.quiet, cli.verbose) {
        (true, _) => Verbosity::Quiet,
        (_, true) => Verbosity::Verbose,
        _ => Verbosity::Normal,
    };
    let shell = Shell::with_format(verbosity, cli.message_format);
    if let Command::Run {
        module,
        args,
        dirs,
        env,
        max_memory,
        timeout,
        fuel,
    } = cli.command
    {
        let options = pywasm_core::runner::run::RunOptions {
            module,
            args,
            dirs: dirs.iter().map(|d| split_dir(d)).collect(),
            env,
            max_memory,
            timeout,
            fuel,
        };
        return run_module(&options);
    }
    if let Command::Test {
        dir,
        on,
        compare,
        offline,
        args,
    } = cli.command
    {
        let options = TestOptions {
            build: BuildOptions {
                project_dir: dir.unwrap_or_else(|| PathBuf::from(".")),
                offline,
                ..BuildOptions::default()
            },
            on,
            compare,
            args,
        };
        return match pywasm_core::runner::testing::test(&options, &shell) {
            Ok(code) => ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1)),
            Err(err) => {
                shell.error(&err);
                // pytest's "usage error": the tests could not be run at all.
                ExitCode::from(4)
            }
        };
    }
    match run(cli.command, &shell) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            shell.error(&err);
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, shell: &Shell) -> anyhow::Result<()> {
    match command {
        Command::Build(BuildArgs { options, list }) => {
            let outcome = build(&options, shell)?;
            if list && shell.format() == MessageFormat::Human {
                print_stdout(&outcome.contents.table())?;
            }
            Ok(())
        }
        Command::Wit {
            dir,
            output,
            offline,
        } => {
            let options = BuildOptions {
                project_dir: dir.unwrap_or_else(|| PathBuf::from(".")),
                offline,
                ..BuildOptions::default()
            };
            let world = pywasm_core::module::wit::world(&options, shell)?;
            match output {
                Some(path) => pywasm_core::fsutil::atomic_write(&path, world.as_bytes()),
                None => print_stdout(&world),
            }
        }
        Command::Inspect {
            module,
            json,
            files,
            verify,
            max_size,
        } => {
            let report = pywasm_core::runner::inspect::inspect(&module, verify, max_size)?;
            if json {
                print_stdout(&format!("{}\n", report.to_json()?))?;
            } else {
                print_stdout(&report.table(files))?;
            }
            if !report.verified() {
                anyhow::bail!("`{}` does not match its build manifest", module.display());
            }
            Ok(())
        }
        Command::Run { .. } | Command::Test { .. } => {
            unreachable!("handled in main, which owns the exit code")
        }
        Command::Lock(options) => lock(&options, shell).map(drop),
        Command::Wheel(WheelCommand::Build {
            recipes,
            all,
            python,
            force,
            install_host_packages,
        }) => {
            let names: Vec<String> = if all {
                pywasm_core::recipes::names()
                    .into_iter()
                    .map(String::from)
                    .collect()
            } else {
                recipes
            };
            let versions = Pins::embedded()?.each_python(&python)?;
            let options = pywasm_core::recipes::WheelOptions {
                force,
                install_host_packages,
            };
            let home = SdkHome::from_env()?;
            let wheels = pywasm_core::recipes::build_all(shell, &home, &names, &versions, options)?;
            let lines: String = wheels
                .iter()
                .map(|w| format!("{}\n", w.display()))
                .collect();
            print_stdout(&lines)
        }
        Command::Wheel(WheelCommand::List) => {
            let home = SdkHome::from_env()?;
            print_stdout(&pywasm_core::recipes::table(&home)?)
        }
        Command::Doctor => {
            let pins = Pins::embedded()?;
            let home = SdkHome::from_env()?;
            let report = pywasm_core::sdk::doctor::diagnose(&pins, &home);
            print_stdout(&report.text())?;
            if report.failed() {
                anyhow::bail!("some checks failed; see the fixes above");
            }
            Ok(())
        }
        Command::Init { dir, name } => {
            let options = pywasm_core::init::InitOptions {
                dir: dir.unwrap_or_else(|| PathBuf::from(".")),
                name,
            };
            let created = pywasm_core::init::init(&options, shell)?;
            let cd = match &options.dir {
                d if d == std::path::Path::new(".") => String::new(),
                d => format!("cd {} && ", d.display()),
            };
            if shell.format() == MessageFormat::Json {
                return Ok(());
            }
            print_stdout(&format!(
                "Next: {cd}pywasm build && pywasm run dist/{}.wasm\n",
                created.name
            ))
        }
        Command::FetchSdk {
            toolchain,
            python,
            force,
        } => {
            let home = SdkHome::from_env()?;
            let opts = FetchOptions { force, toolchain };
            sdk::prepare::fetch_each(&Pins::embedded()?, &python, &home, shell, &opts)?;
            Ok(())
        }
    }
}

/// The command line, with `--version` naming the pinned CPython and toolchains this binary
/// builds with.
fn parse_cli() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let pins = Pins::embedded()
        .map(|p| p.summary())
        .unwrap_or_else(|e| format!("unreadable pins: {e}"));
    // clap takes a 'static version; this string lives as long as the process anyway.
    let version: &'static str = Box::leak(format!("{} ({pins})", pywasm_core::VERSION).into());
    let matches = Cli::command().version(version).get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Writes what the user asked for to stdout. A closed pipe (`pywasm inspect app.wasm | head`)
/// is not an error.
fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// `pywasm run`: the module's exit code, or the limit's, becomes ours.
fn run_module(options: &pywasm_core::runner::run::RunOptions) -> ExitCode {
    let cache = SdkHome::from_env().ok().map(|home| home.cache("cwasm"));
    match pywasm_core::runner::run::run(options, cache) {
        Ok(ending) => {
            if let Some(message) = ending.message() {
                eprintln!("error: {message}");
            }
            ExitCode::from(u8::try_from(ending.exit_code() & 0xff).unwrap_or(1))
        }
        Err(err) => {
            eprintln!("{}", pywasm_core::shell::render_error(&err));
            ExitCode::FAILURE
        }
    }
}

/// `HOST` (shared at the same path) or `HOST::GUEST`.
fn split_dir(spec: &str) -> (PathBuf, String) {
    match spec.split_once("::") {
        Some((host, guest)) => (PathBuf::from(host), guest.to_string()),
        None => (PathBuf::from(spec), spec.to_string()),
    }
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}
