//! `cargo xtask bench`: pywasm's modules measured side by side with the alternatives, on this
//! machine, in one run: size, start-up, peak memory and build time. Writes `bench/results.md`
//! and `bench/chart.png`.
//!
//! The alternatives: CPython's own `python3.x.wasm` from the SDK with the stdlib mounted from
//! the host (how CPython runs on WASI without a bundler), native CPython, and componentize-py
//! (installed from `bench/componentize-py.txt`, pinned by hash) where its wheel installs.

mod calls;
mod componentize;
mod embed;
mod measure;
mod report;
mod rows;
mod targets;
mod versions;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use pywasm_core::Shell;
use pywasm_core::process::run;
use pywasm_core::sdk::pins::Pins;
use pywasm_core::sdk::{self, SdkHome};

pub use measure::{MeasureChild, measure_child, remember_own_path};
use measure::{Run, run_once};
pub use report::Row;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Measured runs per start-up figure (after one warm-up run)
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Where results.md and chart.png go [default: bench/ in the repository]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Check that the bench works, quickly: builds share the caches (no cold or warm build
    /// figures) and componentize-py is left out. Its figures are not results.
    #[arg(long)]
    pub smoke: bool,
}

/// The programs measured and the tools that run them.
struct Tools {
    pywasm: PathBuf,
    wasmtime: PathBuf,
    node: PathBuf,
    run_wasi: PathBuf,
    native: PathBuf,
    native_version: String,
    wasmtime_version: String,
    node_version: String,
    work: tempfile::TempDir,
}

/// Host directories and environment a module is run with.
#[derive(Default)]
struct Guest {
    dirs: Vec<(String, PathBuf)>,
    env: Vec<(&'static str, &'static str)>,
}

/// One project measured: where it is, how it is run, and what it must print.
struct App {
    name: &'static str,
    dir: PathBuf,
    entry: (&'static str, &'static str),
    args: &'static [&'static str],
    /// The file a one-line change goes into for the warm rebuild.
    edit: &'static str,
    /// Whether its cold and warm builds are timed.
    timed_builds: bool,
}

pub fn bench(shell: &Shell, repo: &Path, args: &BenchArgs) -> Result<()> {
    let tools = Tools::prepare(shell, repo, args.smoke)?;
    let apps = [
        App {
            name: "hello",
            dir: repo.join("examples/hello"),
            entry: ("hello.cli", "main"),
            args: &["--name", "bench"],
            edit: "src/hello/cli.py",
            timed_builds: true,
        },
        App {
            name: "lxml-app",
            dir: repo.join("examples/lxml-app"),
            entry: ("lxml_app.cli", "main"),
            args: &[],
            edit: "src/lxml_app/cli.py",
            timed_builds: true,
        },
        // What starting a module costs apart from an app's own work (argparse's, for hello).
        App {
            name: "print-hello",
            dir: repo.join("bench/print-hello"),
            entry: ("print_hello.cli", "main"),
            args: &[],
            edit: "src/print_hello/cli.py",
            timed_builds: false,
        },
    ];
    let mut table = Vec::new();
    for app in &apps {
        let expected = rows::native_output(&tools.native, &tools, app)?;
        let check = |run: &Run| same_as(&expected, run);
        shell.status(
            "Measuring",
            &format!("{} built by pywasm (defaults)", app.name),
        );
        table.push(rows::pywasm_row(
            shell,
            &tools,
            app,
            &[],
            if args.smoke {
                rows::Builds::Shared
            } else if app.timed_builds {
                rows::Builds::ColdAndWarm
            } else {
                rows::Builds::Once
            },
            args.runs,
            &expected,
        )?);
        if app.name == "hello" {
            shell.status("Measuring", "hello built by pywasm with --optimize size");
            table.push(rows::pywasm_row(
                shell,
                &tools,
                app,
                &["--optimize", "size"],
                if args.smoke {
                    rows::Builds::Shared
                } else {
                    rows::Builds::Once
                },
                args.runs,
                &expected,
            )?);
            shell.status(
                "Measuring",
                "hello on CPython's own python.wasm, stdlib mounted",
            );
            table.push(rows::plain_cpython_row(&tools, app, args.runs, &check)?);
            if !args.smoke {
                shell.status("Measuring", "componentize-py");
                table.push(componentize::componentize_py_row(
                    shell, repo, &tools, app, args.runs, &check,
                ));
            }
            shell.status("Measuring", "native CPython");
            table.push(rows::native_print_row(&tools, args.runs)?);
            shell.status("Measuring", "an empty C program");
            table.push(rows::empty_program_row(shell, &tools, args.runs)?);
        }
        table.push(rows::native_app_row(&tools, app, args.runs)?);
    }
    shell.status(
        "Measuring",
        "calls into a live library module (examples/udf)",
    );
    let call_figures = calls::measure(
        shell,
        &tools.pywasm,
        repo,
        tools.work.path(),
        (args.runs * 100).max(200),
        args.runs,
    )?;
    let version_rows = versions::measure(
        shell,
        &tools,
        &[&apps[0], &apps[2]],
        &versions::versions(args.smoke)?,
        (args.runs, (args.runs * 100).max(200)),
    )?;
    let out_dir = args.out.clone().unwrap_or_else(|| repo.join("bench"));
    let environment = report::Environment {
        runs: args.runs,
        wasmtime: tools.wasmtime_version.clone(),
        node: tools.node_version.clone(),
        native: tools.native_version.clone(),
        cpu: cpu_model(),
    };
    report::write(
        &out_dir,
        &table,
        (&call_figures, &version_rows),
        &environment,
    )?;
    shell.status(
        "Wrote",
        &format!(
            "`{}`, `{}` and `{}`",
            out_dir.join("results.md").display(),
            out_dir.join("chart.png").display(),
            out_dir.join("targets.png").display()
        ),
    );
    Ok(())
}

/// A run's exit code and stdout are native CPython's `expected` ones.
fn same_as(expected: &Run, run: &Run) -> Result<()> {
    if (run.code, &run.stdout) != (expected.code, &expected.stdout) {
        bail!(
            "exit {} and output\n{}{}\nwhere native CPython exits {} with\n{}",
            run.code,
            run.stdout,
            run.stderr,
            expected.code,
            expected.stdout
        );
    }
    Ok(())
}

impl Tools {
    fn prepare(shell: &Shell, repo: &Path, smoke: bool) -> Result<Tools> {
        crate::runtimes::install(shell, repo)?;
        let home = SdkHome::from_env()?;
        // Build times are figures of the binary users run; the smoke run times nothing and
        // takes the dev binary CI has built anyway.
        let pywasm = if smoke {
            crate::build_dev_binary(shell)?
        } else {
            crate::build_release_binary(shell)?
        };
        let wasmtime = home
            .root()
            .join("tools/test-runtimes/wasmtime-cli/wasmtime_cli/wasmtime");
        let version = |cmd: &mut Command, what: &str| -> Result<String> {
            let out = run(shell, what, cmd)?;
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        let wasmtime_version = version(Command::new(&wasmtime).arg("--version"), "wasmtime")?;
        let node_version = version(Command::new("node").arg("--version"), "node")?;
        let native = native_python(shell)?;
        let native_version = version(Command::new(&native).arg("--version"), "native CPython")?;
        Ok(Tools {
            pywasm,
            wasmtime,
            node: PathBuf::from("node"),
            run_wasi: repo.join("tests/support/run-wasi.mjs"),
            native,
            native_version,
            wasmtime_version,
            node_version,
            work: tempfile::Builder::new().prefix("pywasm-bench-").tempdir()?,
        })
    }

    fn wasmtime_run(&self) -> Command {
        let mut cmd = Command::new(&self.wasmtime);
        cmd.arg("run");
        cmd
    }

    /// `wasmtime compile`, for the precompiled start-up figures.
    fn precompile(&self, wasm: &Path) -> Result<PathBuf> {
        let cwasm = wasm.with_extension("cwasm");
        let mut cmd = Command::new(&self.wasmtime);
        cmd.arg("compile").arg(wasm).arg("-o").arg(&cwasm);
        let compiled = run_once(&mut cmd, b"")?;
        if compiled.code != 0 {
            bail!("`wasmtime compile` failed:\n{}", compiled.stderr);
        }
        Ok(cwasm)
    }
}

/// The system's CPython (the yardstick is `/usr/bin/python3`), else the `python3` on
/// PATH resolved through any shim: pyenv's costs tens of milliseconds per start.
fn native_python(shell: &Shell) -> Result<PathBuf> {
    let system = Path::new("/usr/bin/python3");
    if system.is_file() {
        return Ok(system.to_path_buf());
    }
    let out = run(
        shell,
        "find native CPython",
        Command::new("python3").args(["-c", "import sys; print(sys.executable)"]),
    )?;
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// A PYWASM_HOME with the SDK, sources, wheels and tools of the real one and empty caches
/// (`fetch-sdk` then fills the per-SDK ones).
fn scratch_home(work: &Path, name: &str) -> Result<PathBuf> {
    let real = SdkHome::from_env()?;
    let home = work.join(name);
    fs_err::create_dir_all(&home)?;
    for shared in ["sdk", "sources", "wheels", "tools"] {
        let from = real.root().join(shared);
        if from.exists() {
            #[cfg(unix)]
            std::os::unix::fs::symlink(&from, home.join(shared))
                .with_context(|| format!("cannot link `{}`", from.display()))?;
        }
    }
    Ok(home)
}

fn copy_project(from: &Path, to: &Path) -> Result<()> {
    fs_err::create_dir_all(to)?;
    for entry in fs_err::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "dist" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type()?.is_dir() {
            copy_project(&entry.path(), &target)?;
        } else {
            fs_err::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn gzip_size(bytes: &[u8]) -> Result<u64> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?.len() as u64)
}

fn cpu_model() -> String {
    fs_err::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .map(|model| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            format!("{model}, {cores} cores")
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

/// The SDK, as `cargo xtask fetch-sdk` unpacked it.
fn installed_sdk() -> Result<sdk::Sdk> {
    let pins = Pins::load(&crate::default_pins())?;
    let home = SdkHome::from_env()?;
    sdk::locate(&pins, &home, pins.toolchain.default)
        .context("the SDK is not installed: run `cargo xtask fetch-sdk`")
}

/// A launcher from `bench/launchers/` with its `{{key}}`s replaced by `values`; one left
/// unfilled is a bug in the caller.
fn launcher(template: &str, values: &[(&str, &str)]) -> String {
    let filled = values
        .iter()
        .fold(template.to_owned(), |text, (key, value)| {
            text.replace(&format!("{{{{{key}}}}}"), value)
        });
    assert!(
        !filled.contains("{{"),
        "a launcher placeholder is left unfilled:\n{filled}"
    );
    filled
}

#[cfg(test)]
mod tests {
    /// Every launcher, filled as the bench fills it, is Python that compiles.
    #[test]
    fn launchers_fill_into_valid_python() {
        let dir = tempfile::tempdir().expect("temp dir");
        let launchers = [
            (
                "componentize_app.py",
                super::launcher(
                    include_str!("bench/launchers/componentize_app.py"),
                    &[
                        ("module", "hello.cli"),
                        ("function", "main"),
                        ("name", "hello"),
                    ],
                ),
            ),
            (
                "componentize_py_cli.py",
                include_str!("bench/launchers/componentize_py_cli.py").to_owned(),
            ),
            (
                "plain_runner.py",
                super::launcher(
                    include_str!("bench/launchers/plain_runner.py"),
                    &[
                        ("module", "hello.cli"),
                        ("function", "main"),
                        ("name", "hello"),
                    ],
                ),
            ),
            (
                "native_runner.py",
                super::launcher(
                    include_str!("bench/launchers/native_runner.py"),
                    &[
                        ("src", "\"/tmp/a b/src\""),
                        ("site", "\"/tmp/site\""),
                        ("module", "hello.cli"),
                        ("function", "main"),
                    ],
                ),
            ),
        ];
        for (name, text) in launchers {
            let path = dir.path().join(name);
            fs_err::write(&path, text).expect("write");
            let status = std::process::Command::new("python3")
                .args(["-m", "py_compile"])
                .arg(&path)
                .status()
                .expect("run python3");
            assert!(status.success(), "{name} does not compile");
        }
    }

    #[test]
    #[should_panic(expected = "unfilled")]
    fn an_unfilled_placeholder_is_a_bug() {
        super::launcher("from {{module}} import x", &[]);
    }
}
