//! componentize-py, measured beside pywasm: installed from its pinned wheel
//! (`bench/componentize-py.txt`), given the app and the `wasi:cli/command` world of the
//! wasmtime-wasi this workspace builds.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use pywasm_core::Shell;
use pywasm_core::process::run;

use super::measure::Run;
use super::rows::{native_copy, wasmtime_starts};
use super::{App, Row, Tools, first_line, gzip_size};

/// componentize-py from its pinned wheel; a row saying why when it cannot be installed or built.
pub(super) fn componentize_py_row(
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
        super::launcher(
            include_str!("launchers/componentize_app.py"),
            &[
                ("module", app.entry.0),
                ("function", app.entry.1),
                ("name", app.name),
            ],
        ),
    )?;
    let output = project.join("app.wasm");
    let started = Instant::now();
    run(
        shell,
        "build with componentize-py",
        Command::new(&tools.native)
            .args(["-c", include_str!("launchers/componentize_py_cli.py")])
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

/// The source directory of the wasmtime-wasi this workspace builds, as `cargo metadata` says.
fn wasmtime_wasi_dir() -> Result<PathBuf> {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()));
    cmd.args(["metadata", "--format-version", "1"])
        .current_dir(crate::repo_root());
    let out = run(&Shell::quiet(), "read the dependency graph", &mut cmd)?;
    let metadata: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("cargo metadata printed no JSON")?;
    let manifest = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "wasmtime-wasi")
        .and_then(|p| p["manifest_path"].as_str())
        .context("wasmtime-wasi is not in the dependency graph")?;
    Path::new(manifest)
        .parent()
        .map(Path::to_path_buf)
        .context("wasmtime-wasi's manifest has no directory")
}

/// The `wasi:cli` WIT packages of the wasmtime-wasi this workspace builds, laid out the way
/// componentize-py reads them, and a world that is exactly `wasi:cli/command`.
fn wasi_cli_wit(work: &Path) -> Result<PathBuf> {
    let deps = wasmtime_wasi_dir()?.join("src/p2/wit/deps");
    let wit = work.join("wit");
    let mut version = None;
    for entry in fs_err::read_dir(&deps)? {
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
