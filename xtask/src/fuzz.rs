//! `cargo xtask fuzz [--time 60s] [TARGET...]`: the fuzz targets of `fuzz/` (cargo fuzz on
//! nightly Rust, libFuzzer), each for `--time`, two at a time. Each target's corpus lives in
//! `$PYWASM_HOME/fuzz/corpus/<target>/`, seeded from the checked-in seeds on every run, so it
//! grows from run to run on one machine; each run's executions are added to
//! `$PYWASM_HOME/fuzz/ledger.tsv`, the figures the notes report. A crash fails the run and names
//! the input libFuzzer saved: copy it into `fuzz/regressions/<target>/`, where the stable tests
//! (`pywasm_core::fuzzing`) run it from then on, and fix the reader.
//!
//! The `abi` target calls the exports of `examples/udf` and `examples/file-analyzer`, built here
//! first.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use pywasm_core::Shell;
use pywasm_core::process::run;
use pywasm_core::sdk::SdkHome;

use crate::repo_root;

/// The cargo-fuzz release `cargo xtask fuzz` installs (from crates.io, `--locked`) into
/// `$PYWASM_HOME/tools/`.
const CARGO_FUZZ: &str = "0.13.2";

/// Every target: the readers `pywasm_core::fuzzing::TARGETS` names, and the library ABI.
fn all_targets() -> Vec<String> {
    let readers = pywasm_core::fuzzing::TARGETS.iter().map(|(name, _)| *name);
    readers.chain(["abi"]).map(String::from).collect()
}

#[derive(clap::Args)]
pub struct FuzzArgs {
    /// How long each target runs: `60s`, `10m`, `2h`
    #[arg(long, default_value = "60s", value_parser = pywasm_core::runner::run::parse_duration)]
    pub time: Duration,
    /// How many targets run at once [default: 2, one per core]; CI runs them all at once, each
    /// for `--time` of wall time
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Only build the targets (CI builds them in the background while the tests run)
    #[arg(long)]
    pub build_only: bool,
    /// The targets to run [default: all]
    pub targets: Vec<String>,
}

impl FuzzArgs {
    /// Every target at once for `time`: CI's short form.
    pub fn every_target_at_once(time: Duration) -> FuzzArgs {
        FuzzArgs {
            time,
            jobs: all_targets().len(),
            build_only: false,
            targets: Vec::new(),
        }
    }
}

pub fn fuzz(shell: &Shell, args: &FuzzArgs) -> Result<()> {
    let repo = repo_root();
    let all = all_targets();
    let targets = if args.targets.is_empty() {
        all.clone()
    } else {
        args.targets.clone()
    };
    if let Some(unknown) = targets.iter().find(|t| !all.contains(t)) {
        bail!(
            "there is no fuzz target `{unknown}`; the targets: {}",
            all.join(", ")
        );
    }
    check_locks_agree(&repo)?;
    let home = SdkHome::from_env()?;
    let cargo_fuzz = install_cargo_fuzz(shell, &home)?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo.join("target"), PathBuf::from)
        .join("fuzz");
    let fuzz = Fuzz {
        repo: repo.clone(),
        cargo_fuzz,
        target_dir,
        dir: home.root().join("fuzz"),
        time: args.time,
    };
    let start = Instant::now();
    run(shell, "build the fuzz targets", &mut fuzz.command("build"))?;
    shell.status(
        "Built",
        &format!(
            "the fuzz targets in {}",
            pywasm_core::shell::seconds(start.elapsed())
        ),
    );
    if args.build_only {
        return Ok(());
    }
    let libraries = if targets.iter().any(|t| t == "abi") {
        Some(build_libraries(shell)?)
    } else {
        None
    };
    let env: Vec<(&str, String)> = match &libraries {
        Some((_dir, paths)) => vec![("PYWASM_FUZZ_LIBRARIES", join_paths(paths))],
        None => Vec::new(),
    };
    // libFuzzer runs one input at a time: as many at once as there are cores, unless told.
    let mut results = Vec::new();
    for batch in targets.chunks(args.jobs.max(1)) {
        let runs: Vec<Result<Ran>> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|target| scope.spawn(|| fuzz.run(shell, target, &env)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| bail!("a fuzz run panicked")))
                .collect()
        });
        results.extend(runs);
    }
    let mut failed = Vec::new();
    for result in results {
        match result {
            Ok(ran) => {
                shell.status(
                    "Fuzzed",
                    &format!(
                        "{}: {} executions in {}, corpus {} inputs, no crash",
                        ran.target,
                        ran.executions,
                        pywasm_core::shell::seconds(ran.time),
                        ran.corpus
                    ),
                );
                fuzz.record(&ran)?;
            }
            Err(err) => failed.push(err),
        }
    }
    if let Some(first) = failed.into_iter().next() {
        return Err(first);
    }
    Ok(())
}

struct Fuzz {
    repo: PathBuf,
    cargo_fuzz: PathBuf,
    target_dir: PathBuf,
    /// `$PYWASM_HOME/fuzz`: the corpora, crash artifacts, logs and the ledger.
    dir: PathBuf,
    time: Duration,
}

struct Ran {
    target: String,
    executions: u64,
    time: Duration,
    corpus: usize,
}

impl Fuzz {
    /// `cargo fuzz SUBCOMMAND` on nightly, optimised, with debug assertions (integer overflow
    /// panics) and no sanitizer: the code under test is safe Rust, where AddressSanitizer finds
    /// nothing a panic would not, and builds and runs several times slower.
    fn command(&self, subcommand: &str) -> Command {
        let mut cmd = Command::new(&self.cargo_fuzz);
        cmd.args([
            "fuzz",
            subcommand,
            "--release",
            "--debug-assertions",
            "--sanitizer",
            "none",
        ])
        .arg("--target-dir")
        .arg(&self.target_dir)
        .arg("--fuzz-dir")
        .arg(self.repo.join("fuzz"))
        .env("RUSTUP_TOOLCHAIN", "nightly")
        // CI lints its own builds through clippy's driver (ci.rs); not this nightly one.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .current_dir(&self.repo);
        cmd
    }

    fn run(&self, shell: &Shell, target: &str, env: &[(&str, String)]) -> Result<Ran> {
        let corpus = self.dir.join("corpus").join(target);
        let artifacts = self.dir.join("artifacts").join(target);
        fs_err::create_dir_all(&corpus)?;
        fs_err::create_dir_all(&artifacts)?;
        for seed in pywasm_core::fuzzing::seed_files(&self.repo, target)? {
            let bytes = fs_err::read(&seed)?;
            let name = pywasm_core::fsutil::sha256_hex(&bytes);
            fs_err::write(corpus.join(&name[..16]), bytes)?;
        }
        let log = self.dir.join(format!("{target}.log"));
        let secs = self.time.as_secs().max(1);
        let mut cmd = self.command("run");
        cmd.arg(target)
            .arg(&corpus)
            .arg("--")
            .arg(format!("-max_total_time={secs}"))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .args(["-print_final_stats=1", "-timeout=30", "-rss_limit_mb=4096"])
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .stdout(std::process::Stdio::null())
            .stderr(fs_err::File::create(&log)?.into_parts().0);
        shell.status(
            "Fuzzing",
            &format!("{target} for {secs}s (log: `{}`)", log.display()),
        );
        let start = Instant::now();
        let status = cmd
            .status()
            .with_context(|| format!("failed to run `{}`", self.cargo_fuzz.display()))?;
        let time = start.elapsed();
        let text = fs_err::read_to_string(&log).unwrap_or_default();
        if !status.success() {
            let saved = text
                .lines()
                .filter_map(|l| l.split_once("Test unit written to "))
                .map(|(_, path)| path.trim().to_owned())
                .next_back();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "the fuzz target `{target}` failed ({status}){}\n{}\nhelp: copy the input into \
                 `fuzz/regressions/{target}/`, fix the reader, and check that \
                 `cargo test -p pywasm-core fuzzing` passes",
                saved
                    .map(|p| format!("; the input is `{p}`"))
                    .unwrap_or_default(),
                tail.join("\n")
            );
        }
        let executions = stat(&text, "stat::number_of_executed_units:")
            .with_context(|| format!("no execution count in `{}`", log.display()))?;
        let corpus = fs_err::read_dir(&corpus)?.count();
        Ok(Ran {
            target: target.to_owned(),
            executions,
            time,
            corpus,
        })
    }

    /// Adds a run to the ledger: date, target, seconds, executions.
    fn record(&self, ran: &Ran) -> Result<()> {
        use std::io::Write as _;
        let ledger = self.dir.join("ledger.tsv");
        let mut file = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&ledger)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        writeln!(
            file,
            "{now}\t{}\t{}\t{}",
            ran.target,
            ran.time.as_secs(),
            ran.executions
        )?;
        Ok(())
    }
}

fn stat(log: &str, key: &str) -> Option<u64> {
    log.lines()
        .filter_map(|l| l.strip_prefix(key))
        .filter_map(|v| v.trim().parse().ok())
        .next_back()
}

fn join_paths(paths: &[PathBuf]) -> String {
    let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    paths.join(":")
}

/// The library examples the `abi` target calls, built into a temporary directory.
fn build_libraries(shell: &Shell) -> Result<(tempfile::TempDir, Vec<PathBuf>)> {
    let dir = tempfile::tempdir().context("cannot create a directory for the libraries")?;
    let mut paths = Vec::new();
    for example in ["udf", "file-analyzer"] {
        let output = dir.path().join(format!("{example}.wasm"));
        let options = pywasm_core::BuildOptions {
            project_dir: repo_root().join("examples").join(example),
            output: Some(output.clone()),
            ..pywasm_core::BuildOptions::default()
        };
        pywasm_core::build(&options, &Shell::quiet())
            .with_context(|| format!("failed to build examples/{example} for the abi target"))?;
        shell.status("Built", &format!("examples/{example} for the abi target"));
        paths.push(output);
    }
    Ok((dir, paths))
}

/// `$PYWASM_HOME/tools/cargo-fuzz-<version>/bin/cargo-fuzz`, installed when missing.
fn install_cargo_fuzz(shell: &Shell, home: &SdkHome) -> Result<PathBuf> {
    let root = home
        .root()
        .join("tools")
        .join(format!("cargo-fuzz-{CARGO_FUZZ}"));
    let binary = root.join("bin/cargo-fuzz");
    if !binary.is_file() {
        let staged = home
            .root()
            .join("tools")
            .join(format!(".cargo-fuzz-{}", std::process::id()));
        run(
            shell,
            "install cargo-fuzz",
            Command::new("cargo")
                .args(["install", "cargo-fuzz", "--locked", "--version"])
                .arg(format!("={CARGO_FUZZ}"))
                .arg("--root")
                .arg(&staged),
        )?;
        fs_err::rename(&staged, &root)?;
    }
    let out = run(
        shell,
        "check cargo-fuzz's version",
        Command::new(&binary).args(["fuzz", "--version"]),
    )?;
    let version = String::from_utf8_lossy(&out.stdout);
    if !version.split_whitespace().any(|w| w == CARGO_FUZZ) {
        bail!(
            "`{}` says `{}`, not cargo-fuzz {CARGO_FUZZ}; delete `{}` and run again",
            binary.display(),
            version.trim(),
            root.display()
        );
    }
    Ok(binary)
}

/// The fuzz workspace's lock may give a package the main lock also has only a version the main
/// lock has: the targets then test the code the binary ships.
fn check_locks_agree(repo: &Path) -> Result<()> {
    let versions = |path: &Path| -> Result<std::collections::BTreeMap<String, Vec<String>>> {
        let text = fs_err::read_to_string(path)?;
        let lock: toml::Value =
            toml::from_str(&text).with_context(|| format!("`{}`", path.display()))?;
        let mut map: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for package in lock
            .get("package")
            .and_then(|p| p.as_array())
            .into_iter()
            .flatten()
        {
            let field = |k: &str| package.get(k).and_then(|v| v.as_str()).unwrap_or_default();
            map.entry(field("name").to_owned())
                .or_default()
                .push(field("version").to_owned());
        }
        Ok(map)
    };
    let main = versions(&repo.join("Cargo.lock"))?;
    let fuzz = versions(&repo.join("fuzz/Cargo.lock"))?;
    for (name, fuzz_versions) in &fuzz {
        if let Some(main_versions) = main.get(name)
            && let Some(other) = fuzz_versions.iter().find(|v| !main_versions.contains(v))
        {
            bail!(
                "`fuzz/Cargo.lock` has {name} {other}, `Cargo.lock` has {main_versions:?}\n\
                 help: copy `Cargo.lock` over `fuzz/Cargo.lock` and run \
                 `cargo +nightly metadata --manifest-path fuzz/Cargo.toml --format-version 1 > /dev/null`"
            );
        }
    }
    Ok(())
}
