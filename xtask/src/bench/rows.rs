//! The bench's rows: an app built by pywasm or run another way, each measured the same way.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use pywasm_core::Shell;
use pywasm_core::process::run;
use pywasm_core::sdk::SdkHome;

use super::measure::{self, Run, repeat, run_once};
use super::{
    App, Guest, Row, Tools, copy_project, embed, gzip_size, installed_sdk, same_as, scratch_home,
};

/// How many rebuilds the warm build figure is the median of.
pub(super) const WARM_BUILDS: usize = 3;

/// How a row's module is built.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Builds {
    /// In a scratch home with empty caches (the SDK and wheels kept), then again after each of
    /// `WARM_BUILDS` one-line changes: all timed.
    ColdAndWarm,
    /// Once, in a scratch home, untimed.
    Once,
    /// Once, with the shared caches, untimed: the smoke run, which has no cold figure to take.
    Shared,
}

/// Builds `app` with pywasm into a scratch copy, as `builds` says. The default
/// build is also run in an embedding ([`embed::command`]), checked against `expected`.
pub(super) fn pywasm_row(
    shell: &Shell,
    tools: &Tools,
    app: &App,
    flags: &[&str],
    builds: Builds,
    runs: usize,
    expected: &Run,
) -> Result<Row> {
    let check = |run: &Run| same_as(expected, run);
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
    let home = if builds == Builds::Shared {
        SdkHome::from_env()?.root().to_path_buf()
    } else {
        let home = scratch_home(
            tools.work.path(),
            &format!("home-{}-{}", app.name, flags.len()),
        )?;
        // "Cold" means a project's first build on a machine set up with `fetch-sdk`, which
        // also fills the per-SDK caches (stdlib bytecode, the C runtime); that part is not
        // timed.
        run(
            shell,
            "prepare the scratch SDK home",
            Command::new(&tools.pywasm)
                .args(["--quiet", "fetch-sdk"])
                .env("PYWASM_HOME", &home),
        )?;
        home
    };
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
    let (build_cold, build_warm) = if builds == Builds::ColdAndWarm {
        // The median of a few rebuilds, each after its own one-line change: one rebuild of
        // about a second is at the mercy of whatever else the machine does in that second.
        let edited = project.join(app.edit);
        let mut warm = Vec::new();
        for edit in 0..WARM_BUILDS {
            let mut text = fs_err::read_to_string(&edited)?;
            text.push_str(&format!("\n_BENCH_EDIT_{edit} = {edit}\n"));
            fs_err::write(&edited, text)?;
            warm.push(build()?);
        }
        warm.sort();
        (Some(cold), Some(warm[warm.len() / 2]))
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
        &check,
        &Guest::default(),
    )?;
    row.app = app.name.into();
    row.what = format!("pywasm ({variant})");
    row.build_cold = build_cold;
    row.build_warm = build_warm;
    if flags.is_empty() {
        let mut argv = vec![app.name];
        argv.extend(app.args);
        let embedded = embed::command(&wasm, &argv, runs, expected)?;
        row.embedded = Some(embedded.to_exit);
        row.linear = Some((embedded.initial_pages, embedded.peak_pages));
    }
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
pub(super) fn wasmtime_starts(
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
pub(super) fn plain_cpython_row(
    tools: &Tools,
    app: &App,
    runs: usize,
    check: &dyn Fn(&Run) -> Result<()>,
) -> Result<Row> {
    let python = installed_sdk()?.python;
    let minor = python.minor.clone();
    let wasm = tools.work.path().join(format!("python{minor}.wasm"));
    fs_err::copy(python.python_wasm(), &wasm)?;
    // A copy: python.wasm writes bytecode next to the sources it imports.
    let stdlib = tools.work.path().join("plain-stdlib");
    copy_project(&python.stdlib_dir(), &stdlib)?;
    let src = app.dir.join("src");
    let runner = tools.work.path().join("plain");
    fs_err::create_dir_all(&runner)?;
    // python3.x.wasm takes its arguments after the script: argv[1:] are the app's.
    fs_err::write(
        runner.join("main.py"),
        super::launcher(
            include_str!("launchers/plain_runner.py"),
            &[
                ("name", app.name),
                ("module", app.entry.0),
                ("function", app.entry.1),
            ],
        ),
    )?;
    let mut args: Vec<&str> = vec!["/runner/main.py"];
    args.extend(app.args);
    let guest = Guest {
        dirs: vec![
            (format!("/usr/local/lib/python{minor}"), stdlib),
            ("/src".to_string(), src),
            ("/runner".to_string(), runner),
        ],
        // It was configured with its builder's prefix.
        env: vec![
            ("PYTHONHOME", "/usr/local"),
            ("PYTHONDONTWRITEBYTECODE", "1"),
        ],
    };
    let mut row = module_row(tools, "python", &args, &wasm, runs, check, &guest)?;
    row.app = app.name.into();
    row.what = format!("CPython {minor} python.wasm, stdlib mounted");
    row.note = Some("the stdlib (not counted in the size) is read from the host".into());
    Ok(row)
}

/// Native CPython running `print('hello')`: the yardstick for start-up.
pub(super) fn native_print_row(tools: &Tools, runs: usize) -> Result<Row> {
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
pub(super) fn native_app_row(tools: &Tools, app: &App, runs: usize) -> Result<Row> {
    let stats = repeat(
        runs,
        b"",
        || native_command(&tools.native, tools, app),
        &|_| Ok(()),
    )?;
    Ok(Row {
        app: app.name.into(),
        what: format!("native {}, same sources", tools.native_version),
        native: Some(stats),
        ..Row::default()
    })
}

fn native_command(python: &Path, tools: &Tools, app: &App) -> Command {
    let site = tools.work.path().join("native-site");
    // Python string literals: Rust's debug form of a path string is one.
    let src = format!(
        "{:?}",
        native_copy(tools, app).join("src").display().to_string()
    );
    let site = format!("{:?}", site.display().to_string());
    let script = super::launcher(
        include_str!("launchers/native_runner.py"),
        &[
            ("src", &src),
            ("site", &site),
            ("module", app.entry.0),
            ("function", app.entry.1),
        ],
    );
    let mut cmd = Command::new(python);
    cmd.args(["-I", "-c", &script]).arg(app.name).args(app.args);
    cmd
}

/// Where native CPython runs the app from: a copy, since it writes `__pycache__` beside the
/// sources (and should, to start the way an installed app does).
pub(super) fn native_copy(tools: &Tools, app: &App) -> PathBuf {
    tools.work.path().join(format!("native-{}", app.name))
}

/// What native CPython (`python`) prints for the app: the reference every module's output is
/// checked against. Dependencies are installed natively the first time.
pub(super) fn native_output(python: &Path, tools: &Tools, app: &App) -> Result<Run> {
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
            Command::new(python)
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
    run_once(&mut native_command(python, tools, app), b"")
}

/// The runtime's own floor: an empty C program (`puts("")`) built by the SDK's toolchain.
pub(super) fn empty_program_row(shell: &Shell, tools: &Tools, runs: usize) -> Result<Row> {
    let sdk = installed_sdk()?;
    let dir = tools.work.path().join("empty");
    fs_err::create_dir_all(&dir)?;
    pywasm_core::module::link::warm_toolchain(&sdk, &dir, shell)?;
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
