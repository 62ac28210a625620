//! `cargo xtask bench`: pywasm's modules measured side by side with the alternatives, on this
//! machine, in one run: size, start-up, peak memory and build time. Writes `bench/results.md`
//! and `bench/chart.png`.
//!
//! The alternatives: CPython's own `python3.11.wasm` from the SDK with the stdlib mounted from
//! the host (how CPython runs on WASI without a bundler), native CPython, and componentize-py
//! (installed from `bench/componentize-py.txt`, pinned by hash) where its wheel installs.

mod calls;
mod measure;
mod report;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use pywasm_core::Shell;
use pywasm_core::pins::Pins;
use pywasm_core::process::run;
use pywasm_core::sdk::{self, SdkHome};

pub use measure::{MeasureChild, measure_child, remember_own_path};
use measure::{Run, repeat, run_once};
pub use report::Row;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Measured runs per start-up figure (after one warm-up run)
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Where results.md and chart.png go [default: bench/ in the repository]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
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
    dirs: Vec<(&'static str, PathBuf)>,
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
}

pub fn bench(shell: &Shell, repo: &Path, args: &BenchArgs) -> Result<()> {
    let tools = Tools::prepare(shell, repo)?;
    let apps = [
        App {
            name: "hello",
            dir: repo.join("examples/hello"),
            entry: ("hello.cli", "main"),
            args: &["--name", "bench"],
            edit: "src/hello/cli.py",
        },
        App {
            name: "lxml-app",
            dir: repo.join("examples/lxml-app"),
            entry: ("lxml_app.cli", "main"),
            args: &[],
            edit: "src/lxml_app/cli.py",
        },
    ];
    let mut rows = Vec::new();
    for app in &apps {
        let expected = native_output(&tools, app)?;
        let check = |run: &Run| -> Result<()> {
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
        };
        shell.status(
            "Measuring",
            &format!("{} built by pywasm (defaults)", app.name),
        );
        rows.push(pywasm_row(
            shell,
            &tools,
            app,
            &[],
            true,
            args.runs,
            &check,
        )?);
        if app.name == "hello" {
            shell.status(
                "Measuring",
                "hello built by pywasm with --no-preinit --optimize size",
            );
            rows.push(pywasm_row(
                shell,
                &tools,
                app,
                &["--no-preinit", "--optimize", "size"],
                false,
                args.runs,
                &check,
            )?);
            shell.status(
                "Measuring",
                "hello on CPython's python3.11.wasm, stdlib mounted",
            );
            rows.push(plain_cpython_row(&tools, app, args.runs, &check)?);
            shell.status("Measuring", "componentize-py");
            rows.push(componentize_py_row(
                shell, repo, &tools, app, args.runs, &check,
            ));
            shell.status("Measuring", "native CPython");
            rows.push(native_print_row(&tools, args.runs)?);
            shell.status("Measuring", "an empty C program");
            rows.push(empty_program_row(shell, &tools, args.runs)?);
        }
        rows.push(native_app_row(&tools, app, args.runs)?);
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
    )?;
    let out_dir = args.out.clone().unwrap_or_else(|| repo.join("bench"));
    let environment = report::Environment {
        runs: args.runs,
        wasmtime: tools.wasmtime_version.clone(),
        node: tools.node_version.clone(),
        native: tools.native_version.clone(),
        cpu: cpu_model(),
    };
    report::write(&out_dir, &rows, &call_figures, &environment)?;
    shell.status(
        "Wrote",
        &format!(
            "`{}` and `{}`",
            out_dir.join("results.md").display(),
            out_dir.join("chart.png").display()
        ),
    );
    Ok(())
}

impl Tools {
    fn prepare(shell: &Shell, repo: &Path) -> Result<Tools> {
        crate::runtimes::install(shell, repo)?;
        let home = SdkHome::from_env()?;
        // The CLI as users run it, built the way CI builds it (dependencies optimised).
        let pywasm = crate::build_dev_binary(shell)?;
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

/// Builds `app` with pywasm into a scratch copy; `cold_and_warm` also measures a build with
/// empty caches (the SDK and wheels kept) and a rebuild after a one-line change.
fn pywasm_row(
    shell: &Shell,
    tools: &Tools,
    app: &App,
    flags: &[&str],
    cold_and_warm: bool,
    runs: usize,
    check: &dyn Fn(&Run) -> Result<()>,
) -> Result<Row> {
    let variant = if flags.is_empty() {
        "defaults".to_string()
    } else {
        flags.join(" ")
    };
    let project = tools
        .work
        .path()
        .join(format!("{}-{}", app.name, flags.len()));
    copy_project(&app.dir, &project)?;
    let home = scratch_home(
        tools.work.path(),
        &format!("home-{}-{}", app.name, flags.len()),
    )?;
    // "Cold" means a project's first build on a machine set up with `fetch-sdk`, which also
    // fills the per-SDK caches (stdlib bytecode, the C runtime); that part is not timed.
    run(
        shell,
        "prepare the scratch SDK home",
        Command::new(&tools.pywasm)
            .args(["--quiet", "fetch-sdk"])
            .env("PYWASM_HOME", &home),
    )?;
    let build = || -> Result<Duration> {
        let started = Instant::now();
        run(
            shell,
            &format!("build {}", app.name),
            Command::new(&tools.pywasm)
                .arg("--quiet")
                .arg("build")
                .arg(&project)
                .args(flags)
                .env("PYWASM_HOME", &home),
        )?;
        Ok(started.elapsed())
    };
    let cold = build()?;
    let (build_cold, build_warm) = if cold_and_warm {
        let edited = project.join(app.edit);
        let mut text = fs_err::read_to_string(&edited)?;
        text.push_str("\n_BENCH_EDIT = 1\n");
        fs_err::write(&edited, text)?;
        (Some(cold), Some(build()?))
    } else {
        (None, None)
    };
    let wasm = project.join("dist").join(format!("{}.wasm", app.name));
    let mut row = module_row(
        tools,
        app.name,
        app.args,
        &wasm,
        runs,
        check,
        &Guest::default(),
    )?;
    row.app = app.name.into();
    row.what = format!("pywasm ({variant})");
    row.build_cold = build_cold;
    row.build_warm = build_warm;
    Ok(row)
}

/// Size and start-up of a core module: wasmtime precompiled, wasmtime compiling it, node.
fn module_row(
    tools: &Tools,
    argv0: &str,
    args: &[&str],
    wasm: &Path,
    runs: usize,
    check: &dyn Fn(&Run) -> Result<()>,
    guest: &Guest,
) -> Result<Row> {
    let bytes = fs_err::read(wasm)?;
    let mut options = Vec::new();
    for (at, host) in &guest.dirs {
        options.push("--dir".to_string());
        options.push(format!("{}::{at}", host.display()));
    }
    for (key, value) in &guest.env {
        options.push("--env".to_string());
        options.push(format!("{key}={value}"));
    }
    options.extend(["--argv0".to_string(), argv0.to_string()]);
    let (precompiled, compiling) = wasmtime_starts(tools, wasm, &options, args, runs, check)?;
    let json = |pairs: Vec<(String, String)>| {
        let fields: Vec<String> = pairs.iter().map(|(k, v)| format!("{k:?}: {v:?}")).collect();
        format!("{{{}}}", fields.join(", "))
    };
    let preopens = json(
        guest
            .dirs
            .iter()
            .map(|(at, host)| (at.to_string(), host.display().to_string()))
            .collect(),
    );
    let env = json(
        guest
            .env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    let node = repeat(
        runs.min(10),
        b"",
        || {
            let mut cmd = Command::new(&tools.node);
            cmd.arg("--no-warnings")
                .arg(&tools.run_wasi)
                .arg(wasm)
                .arg(argv0)
                .args(args)
                .env("PYWASM_PREOPENS", &preopens)
                .env("PYWASM_ENV", &env);
            cmd
        },
        check,
    )?;
    Ok(Row {
        size: Some(bytes.len() as u64),
        gzip: Some(gzip_size(&bytes)?),
        wasmtime_precompiled: Some(precompiled),
        wasmtime_compiling: Some(compiling),
        node: Some(node),
        ..Row::default()
    })
}

/// Start-up in the wasmtime CLI, from a `wasmtime compile` output and compiling each time;
/// `options` go before the module, `args` after it.
fn wasmtime_starts(
    tools: &Tools,
    wasm: &Path,
    options: &[String],
    args: &[&str],
    runs: usize,
    check: &dyn Fn(&Run) -> Result<()>,
) -> Result<(measure::Stats, measure::Stats)> {
    let cwasm = tools.precompile(wasm)?;
    let precompiled = repeat(
        runs,
        b"",
        || {
            let mut cmd = tools.wasmtime_run();
            cmd.arg("--allow-precompiled")
                .args(options)
                .arg(&cwasm)
                .args(args);
            cmd
        },
        check,
    )?;
    let compiling = repeat(
        runs.min(5),
        b"",
        || {
            let mut cmd = tools.wasmtime_run();
            cmd.args(["-C", "cache=n"])
                .args(options)
                .arg(wasm)
                .args(args);
            cmd
        },
        check,
    )?;
    Ok((precompiled, compiling))
}

/// CPython's own WASI build running the same sources, the stdlib read from the host.
fn plain_cpython_row(
    tools: &Tools,
    app: &App,
    runs: usize,
    check: &dyn Fn(&Run) -> Result<()>,
) -> Result<Row> {
    let python = installed_sdk()?.python;
    let wasm = tools.work.path().join("python3.11.wasm");
    fs_err::copy(python.python_wasm(), &wasm)?;
    // A copy: python.wasm writes bytecode next to the sources it imports.
    let stdlib = tools.work.path().join("plain-stdlib");
    copy_project(&python.stdlib_dir(), &stdlib)?;
    let src = app.dir.join("src");
    let runner = tools.work.path().join("plain");
    fs_err::create_dir_all(&runner)?;
    // python3.11.wasm takes its arguments after the script: argv[1:] are the app's.
    fs_err::write(
        runner.join("main.py"),
        format!(
            "import sys\nsys.path.insert(0, '/src')\nsys.argv = ['{}'] + sys.argv[1:]\nfrom {} import {} as main\nsys.exit(main())\n",
            app.name, app.entry.0, app.entry.1
        ),
    )?;
    let mut args: Vec<&str> = vec!["/runner/main.py"];
    args.extend(app.args);
    let guest = Guest {
        dirs: vec![
            ("/usr/local/lib/python3.11", stdlib),
            ("/src", src),
            ("/runner", runner),
        ],
        // It was configured with its builder's prefix.
        env: vec![
            ("PYTHONHOME", "/usr/local"),
            ("PYTHONDONTWRITEBYTECODE", "1"),
        ],
    };
    let mut row = module_row(tools, "python", &args, &wasm, runs, check, &guest)?;
    row.app = app.name.into();
    row.what = "CPython 3.11 python.wasm, stdlib mounted".into();
    row.note = Some("the stdlib (not counted in the size) is read from the host".into());
    Ok(row)
}

/// componentize-py from its pinned wheel; a row saying why when it cannot be installed or built.
fn componentize_py_row(
    shell: &Shell,
    repo: &Path,
    tools: &Tools,
    app: &App,
    runs: usize,
    check: &dyn Fn(&Run) -> Result<()>,
) -> Row {
    match componentize_py(shell, repo, tools, app, runs, check) {
        Ok(row) => row,
        Err(err) => Row {
            app: app.name.into(),
            what: "componentize-py".into(),
            note: Some(format!("not measured: {}", first_line(&format!("{err:#}")))),
            ..Row::default()
        },
    }
}

fn componentize_py(
    shell: &Shell,
    repo: &Path,
    tools: &Tools,
    app: &App,
    runs: usize,
    check: &dyn Fn(&Run) -> Result<()>,
) -> Result<Row> {
    let requirements = repo.join("bench/componentize-py.txt");
    let target = tools.work.path().join("componentize-py");
    crate::runtimes::pip_install_pinned(shell, "install componentize-py", &requirements, &target)?;
    let wit = wasi_cli_wit(tools.work.path())?;
    let project = tools.work.path().join("componentize-app");
    fs_err::create_dir_all(&project)?;
    fs_err::write(
        project.join("app.py"),
        format!(
            "import sys\nfrom wit_world import exports\nfrom {} import {} as entry\n# componentize-py leaves out what argparse imports inside functions.\nimport locale, shutil, _colorize\n\n\nclass Run(exports.Run):\n    def run(self) -> None:\n        sys.argv = ['{}'] + sys.argv[1:]\n        entry()\n",
            app.entry.0, app.entry.1, app.name
        ),
    )?;
    let output = project.join("app.wasm");
    let started = Instant::now();
    run(
        shell,
        "build with componentize-py",
        Command::new(&tools.native)
            .args([
                "-c",
                "import sys, componentize_py; sys.argv[0] = 'componentize-py'; sys.exit(componentize_py.script())",
            ])
            .arg("-d")
            .arg(&wit)
            .args(["-w", "bench", "componentize", "app", "-p", "."])
            .arg("-p")
            .arg(native_copy(tools, app).join("src"))
            .arg("-o")
            .arg(&output)
            .current_dir(&project)
            .env("PYTHONPATH", &target),
    )?;
    let build = started.elapsed();
    let bytes = fs_err::read(&output)?;
    let (precompiled, compiling) = wasmtime_starts(tools, &output, &[], app.args, runs, check)?;
    let version = fs_err::read_to_string(&requirements)?
        .lines()
        .find_map(|l| l.strip_prefix("componentize-py=="))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("?")
        .to_string();
    Ok(Row {
        app: app.name.into(),
        what: format!("componentize-py {version}"),
        size: Some(bytes.len() as u64),
        gzip: Some(gzip_size(&bytes)?),
        build_cold: Some(build),
        wasmtime_precompiled: Some(precompiled),
        wasmtime_compiling: Some(compiling),
        note: Some(
            "a WASI 0.2 component (node cannot run it); CPython 3.14; needed `import locale, shutil, _colorize` added: it leaves out argparse's imports inside functions"
                .into(),
        ),
        ..Row::default()
    })
}

/// The `wasi:cli` WIT packages of the wasmtime-wasi this workspace builds, laid out the way
/// componentize-py reads them, and a world that is exactly `wasi:cli/command`.
fn wasi_cli_wit(work: &Path) -> Result<PathBuf> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .current_dir(crate::repo_root())
        .exec()
        .context("cargo metadata failed")?;
    let package = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == "wasmtime-wasi")
        .context("wasmtime-wasi is not in the dependency graph")?;
    let deps = package
        .manifest_path
        .parent()
        .context("wasmtime-wasi's manifest has no directory")?
        .join("src/p2/wit/deps");
    let wit = work.join("wit");
    let mut version = None;
    for entry in fs_err::read_dir(deps.as_std_path())? {
        let path = entry?.path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let text = fs_err::read_to_string(&path)?;
        if stem == "cli" {
            version = text
                .lines()
                .find_map(|l| l.strip_prefix("package wasi:cli@"))
                .map(|v| v.trim_end_matches(';').to_string());
        }
        let dir = wit.join("deps").join(stem);
        fs_err::create_dir_all(&dir)?;
        fs_err::write(dir.join(format!("{stem}.wit")), text)?;
    }
    let version = version.context("no `wasi:cli` package among wasmtime-wasi's WIT files")?;
    fs_err::write(
        wit.join("world.wit"),
        format!(
            "package pywasm:bench;\n\nworld bench {{\n  include wasi:cli/command@{version};\n}}\n"
        ),
    )?;
    Ok(wit)
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

/// Native CPython running `print('hello')`: the yardstick for start-up.
fn native_print_row(tools: &Tools, runs: usize) -> Result<Row> {
    let stats = repeat(
        runs,
        b"",
        || {
            let mut cmd = Command::new(&tools.native);
            cmd.args(["-c", "print('hello')"]);
            cmd
        },
        &|run| {
            if (run.code, run.stdout.as_str()) != (0, "hello\n") {
                bail!(
                    "native CPython exited {} and printed {:?}",
                    run.code,
                    run.stdout
                );
            }
            Ok(())
        },
    )?;
    Ok(Row {
        app: "hello".into(),
        what: format!("native {} `-c \"print('hello')\"`", tools.native_version),
        native: Some(stats),
        ..Row::default()
    })
}

/// Native CPython running the app's own sources (and, for lxml-app, lxml installed natively).
fn native_app_row(tools: &Tools, app: &App, runs: usize) -> Result<Row> {
    let stats = repeat(runs, b"", || native_command(tools, app), &|_| Ok(()))?;
    Ok(Row {
        app: app.name.into(),
        what: format!("native {}, same sources", tools.native_version),
        native: Some(stats),
        ..Row::default()
    })
}

fn native_command(tools: &Tools, app: &App) -> Command {
    let site = tools.work.path().join("native-site");
    let script = format!(
        "import sys\nsys.argv = sys.argv[1:]\nsys.path[0:0] = [{:?}, {:?}]\nfrom {} import {} as main\nsys.exit(main())\n",
        native_copy(tools, app).join("src").display().to_string(),
        site.display().to_string(),
        app.entry.0,
        app.entry.1
    );
    let mut cmd = Command::new(&tools.native);
    cmd.args(["-I", "-c", &script]).arg(app.name).args(app.args);
    cmd
}

/// Where native CPython runs the app from: a copy, since it writes `__pycache__` beside the
/// sources (and should, to start the way an installed app does).
fn native_copy(tools: &Tools, app: &App) -> PathBuf {
    tools.work.path().join(format!("native-{}", app.name))
}

/// What native CPython prints for the app: the reference every module's output is checked
/// against. Dependencies are installed natively the first time.
fn native_output(tools: &Tools, app: &App) -> Result<Run> {
    copy_project(&app.dir, &native_copy(tools, app))?;
    let pyproject = fs_err::read_to_string(app.dir.join("pyproject.toml"))?;
    let deps: toml::Value = toml::from_str(&pyproject)?;
    let requirements: Vec<String> = deps
        .get("project")
        .and_then(|p| p.get("dependencies"))
        .and_then(|d| d.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|d| d.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if !requirements.is_empty() {
        let site = tools.work.path().join("native-site");
        let install = run_once(
            Command::new(&tools.native)
                .args(["-m", "pip", "install", "--quiet", "--target"])
                .arg(&site)
                .args(&requirements),
            b"",
        )?;
        if install.code != 0 {
            bail!(
                "cannot install {} for native CPython:\n{}",
                requirements.join(", "),
                install.stderr
            );
        }
    }
    run_once(&mut native_command(tools, app), b"")
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

/// The runtime's own floor: an empty C program (`puts("")`) built by the SDK's toolchain.
fn empty_program_row(shell: &Shell, tools: &Tools, runs: usize) -> Result<Row> {
    let sdk = installed_sdk()?;
    let dir = tools.work.path().join("empty");
    fs_err::create_dir_all(&dir)?;
    pywasm_core::link::warm_toolchain(&sdk, &dir, shell)?;
    let check = |run: &Run| -> Result<()> {
        if (run.code, run.stdout.as_str()) != (0, "\n") {
            bail!(
                "the empty program exited {} with {:?}",
                run.code,
                run.stdout
            );
        }
        Ok(())
    };
    let mut row = module_row(
        tools,
        "empty",
        &[],
        &dir.join("warm.wasm"),
        runs,
        &check,
        &Guest::default(),
    )?;
    row.app = "(floor)".into();
    row.what = "empty C program, same runtimes".into();
    row.note = Some("what starting any module costs in each runtime".into());
    Ok(row)
}
