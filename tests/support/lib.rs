//! Shared machinery of the end-to-end tests: build a project with pywasm, run the module in
//! wasmtime (the crate) and in node's WASI, and run the same sources with native CPython.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use pywasm_core::python::resolve::Resolution;
use pywasm_core::runner::runtime::{Preopen, RunConfig, RunResult, Runtime};
use pywasm_core::sdk::SdkHome;
use pywasm_core::{BuildOptions, BuildOutcome, LockOptions, Shell};

pub mod component;
pub mod ext;
pub mod fuel;
pub mod library;
pub mod wasmer;
pub mod wazero;

/// The wasmtime these hosts are built on, for code outside the workspace that drives them (the
/// ABI fuzz target) without pinning a version of its own.
pub use wasmtime;

/// The repository root: above the package cargo runs now (`CARGO_MANIFEST_DIR` at run time),
/// else above this crate as it was compiled. Checkouts that share a target directory share
/// this crate's build when their sources match, so the compiled-in path may name another
/// checkout, one that may be gone.
pub fn repo() -> PathBuf {
    let compiled = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf();
    std::env::var_os("CARGO_MANIFEST_DIR")
        .and_then(|dir| {
            Path::new(&dir)
                .ancestors()
                .find(|d| d.join("wasi-sdk.toml").is_file() && d.join("Cargo.toml").is_file())
                .map(Path::to_path_buf)
        })
        .unwrap_or(compiled)
}

/// A cargo for nested builds: the one running, without the variables cargo sets for the process
/// it runs (`CARGO_PKG_*`, `CARGO_MANIFEST_*`...). Build scripts watch some of them (ring's
/// watches `CARGO_PKG_NAME`), so a nested cargo that saw them would rebuild what the outer one
/// just built.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(repo());
    without_cargo_run_vars(&mut cmd);
    cmd
}

/// Removes from `cmd`'s environment what cargo set for this process as the package it runs
/// (`CARGO_PKG_*`, `CARGO_MANIFEST_*`, the crate's and binary's names), keeping `CARGO`.
pub fn without_cargo_run_vars(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let set_by_cargo = key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || matches!(
                &*key,
                "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
            );
        if set_by_cargo {
            cmd.env_remove(&*key);
        }
    }
    cmd
}

/// What a program did: the things compared across runtimes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// One invocation: argv (with argv[0]), stdin, and host directories to preopen (guest, host).
#[derive(Clone, Debug, Default)]
pub struct Invocation {
    pub args: Vec<String>,
    pub stdin: String,
    pub dirs: Vec<(String, PathBuf)>,
    /// Whether the module may write to `dirs` (wasmtime; node's preopens always allow it).
    pub writable: bool,
    /// The environment; empty unless set, in every runtime.
    pub env: Vec<(String, String)>,
}

impl Invocation {
    pub fn new(args: &[&str]) -> Self {
        Invocation {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Self::default()
        }
    }
    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = text.to_string();
        self
    }
    pub fn dir(mut self, guest: &str, host: &Path) -> Self {
        self.dirs.push((guest.to_string(), host.to_path_buf()));
        self
    }
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }
    pub fn writable(mut self) -> Self {
        self.writable = true;
        self
    }
}

/// A project copied into a temporary directory, so builds never write into the repository.
/// The directory is kept, and its path printed, when the test fails.
pub struct Project {
    dir: Option<tempfile::TempDir>,
    pub root: PathBuf,
}

impl Project {
    pub fn copy_of(source: &Path) -> Project {
        let dir = tempfile::Builder::new()
            .prefix("pywasm-e2e-")
            .tempdir()
            .expect("temp dir");
        let root = dir.path().join(source.file_name().expect("named fixture"));
        copy_tree(source, &root).expect("copy fixture");
        Project {
            dir: Some(dir),
            root,
        }
    }

    pub fn fixture(name: &str) -> Project {
        Project::copy_of(&repo().join("tests/fixtures").join(name))
    }

    pub fn example(name: &str) -> Project {
        Project::copy_of(&repo().join("examples").join(name))
    }

    pub fn build(&self) -> Result<BuildOutcome> {
        self.build_with(|_| {})
    }

    /// Adds `line` (`key = value`) to the project's `[tool.pywasm]` table, which it adds at
    /// the end when there is none.
    pub fn configure(&self, line: &str) {
        let pyproject = self.root.join("pyproject.toml");
        let mut text = fs_err::read_to_string(&pyproject).expect("read pyproject.toml");
        if !text.contains("[tool.pywasm]\n") {
            text.push_str("\n[tool.pywasm]\n");
        }
        let text = text.replacen("[tool.pywasm]\n", &format!("[tool.pywasm]\n{line}\n"), 1);
        fs_err::write(&pyproject, text).expect("write pyproject.toml");
    }

    /// What `pywasm wit` prints for the project.
    pub fn wit(&self) -> Result<String> {
        pywasm_core::module::wit::world(&build_options(&self.root), &Shell::quiet())
    }

    /// Builds with options changed from the tests' defaults (offline, quiet, the shared home).
    pub fn build_with(&self, change: impl FnOnce(&mut BuildOptions)) -> Result<BuildOutcome> {
        let mut options = build_options(&self.root);
        change(&mut options);
        pywasm_core::build(&options, &Shell::quiet())
    }

    /// `pywasm test --compare` in the project, on wasmtime: the exit status it leaves with (0
    /// when the suite passes and every test ends as under native CPython).
    pub fn test_compared(&self) -> Result<i32> {
        use pywasm_core::runner::testing::{TestHost, TestOptions, test};
        let options = TestOptions {
            build: build_options(&self.root),
            on: TestHost::Wasmtime,
            compare: true,
            args: Vec::new(),
        };
        test(&options, &Shell::quiet())
    }

    /// `requirements` installed with pip into `native-site-<minor>` in the project: the
    /// packages native CPython `minor` imports when a module is compared with it.
    pub fn native_site(&self, minor: &str, requirements: &[&str]) -> PathBuf {
        let site = self.root.join(format!("native-site-{minor}"));
        let args: Vec<&OsStr> = requirements.iter().map(OsStr::new).collect();
        pip_install_target_for(minor, &site, &args).expect("pip install for native CPython");
        site
    }

    /// `pywasm lock` in the project.
    pub fn lock(&self) -> Result<Resolution> {
        let options = LockOptions {
            project_dir: self.root.clone(),
            home: Some(home()),
            ..LockOptions::default()
        };
        pywasm_core::lock(&options, &Shell::quiet())
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            eprintln!("kept the failed test's project at {}", dir.keep().display());
        }
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs_err::create_dir_all(to)?;
    for entry in fs_err::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            if entry.file_name() != "dist" && entry.file_name() != "__pycache__" {
                copy_tree(&entry.path(), &target)?;
            }
        } else {
            fs_err::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Builds with the SDK that `cargo xtask fetch-sdk` installed; never downloads.
pub fn build_dir(dir: &Path) -> Result<BuildOutcome> {
    pywasm_core::build(&build_options(dir), &Shell::quiet())
}

fn build_options(dir: &Path) -> BuildOptions {
    BuildOptions {
        project_dir: dir.to_path_buf(),
        offline: true,
        home: Some(home()),
        ..BuildOptions::default()
    }
}

pub fn home() -> SdkHome {
    SdkHome::from_env().expect("PYWASM_HOME or a user cache directory")
}

/// A home with the shared one's SDK, caches and pinned sources (linked) and none of its
/// wheels: a machine where `pywasm wheel build` never ran. Dropping the directory removes it.
pub fn home_without_wheels() -> (tempfile::TempDir, SdkHome) {
    let bare = tempfile::Builder::new()
        .prefix("pywasm-home-")
        .tempdir()
        .expect("temp dir");
    let real = home();
    for dir in ["sdk", "cache", "sources"] {
        let from = real.root().join(dir);
        fs_err::create_dir_all(&from).expect("create a directory of the shared home");
        std::os::unix::fs::symlink(&from, bare.path().join(dir)).expect("link");
    }
    let home = SdkHome::at(bare.path());
    (bare, home)
}

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(Some(home().cache("test-cwasm"))).expect("wasmtime engine"))
}

/// Runs the module in wasmtime, the crate.
pub fn run_wasmtime(wasm: &Path, inv: &Invocation) -> Result<Outcome> {
    let module = runtime().load(wasm)?;
    Ok(outcome(runtime().run(&module, &run_config(inv))?))
}

fn outcome(result: RunResult) -> Outcome {
    Outcome {
        code: result.exit_code,
        stdout: utf8(result.stdout),
        stderr: utf8(result.stderr),
    }
}

fn run_config(inv: &Invocation) -> RunConfig {
    RunConfig {
        args: inv.args.clone(),
        stdin: inv.stdin.as_bytes().to_vec(),
        env: inv.env.clone(),
        preopens: inv
            .dirs
            .iter()
            .map(|(guest, host)| Preopen {
                host: host.clone(),
                guest: guest.clone(),
                writable: inv.writable,
            })
            .collect(),
    }
}

/// Runs the module in node's WASI with no preopened directory unless the invocation adds some.
pub fn run_node(wasm: &Path, inv: &Invocation) -> Result<Outcome> {
    let preopens: Vec<String> = inv
        .dirs
        .iter()
        .map(|(guest, host)| format!("{:?}: {:?}", guest, host.display().to_string()))
        .collect();
    let mut cmd = Command::new(node()?);
    cmd.arg("--no-warnings")
        .arg(repo().join("tests/support/run-wasi.mjs"))
        .arg(wasm)
        .args(&inv.args)
        .env("PYWASM_PREOPENS", format!("{{{}}}", preopens.join(", ")))
        .env("PYWASM_ENV", json_object(&inv.env));
    spawn(cmd, &inv.stdin)
}

/// Runs the module under the pure-JavaScript WASI of `@bjorn3/browser_wasi_shim` (what
/// browsers use) in node, with no preopened directory.
pub fn run_shim(wasm: &Path, inv: &Invocation) -> Result<Outcome> {
    assert!(inv.dirs.is_empty(), "the shim runner preopens nothing");
    let js = repo().join("tests/support/js");
    if !js.join("node_modules/@bjorn3/browser_wasi_shim").is_dir() {
        bail!(
            "the JavaScript WASI runtimes are not installed\n  = help: run `cargo xtask test-runtimes`"
        );
    }
    let mut cmd = Command::new(node()?);
    cmd.arg("--no-warnings")
        .arg(js.join("run-shim.mjs"))
        .arg(wasm)
        .args(&inv.args);
    spawn(cmd, &inv.stdin)
}

/// The wasmtime command-line tool that `cargo xtask test-runtimes` installs, after checking its
/// version.
pub fn wasmtime_cli() -> Result<PathBuf> {
    static CLI: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    CLI.get_or_init(|| {
        let path = home()
            .root()
            .join("tools/test-runtimes/wasmtime-cli/wasmtime_cli/wasmtime");
        let out = Command::new(&path).arg("--version").output().map_err(|e| {
            format!(
                "cannot run `{}`: {e}\n  = help: run `cargo xtask test-runtimes`",
                path.display()
            )
        })?;
        let version = String::from_utf8_lossy(&out.stdout).into_owned();
        if !version.starts_with("wasmtime 48.") {
            return Err(format!(
                "`{}` is `{}`, not wasmtime 48",
                path.display(),
                version.trim()
            ));
        }
        Ok(path)
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

/// Runs a module or component with the wasmtime command-line tool, with no preopened directory
/// unless the invocation adds some.
pub fn run_wasmtime_cli(wasm: &Path, inv: &Invocation) -> Result<Outcome> {
    let mut cmd = Command::new(wasmtime_cli()?);
    cmd.arg("run");
    for (key, value) in &inv.env {
        cmd.arg("--env").arg(format!("{key}={value}"));
    }
    for (guest, host) in &inv.dirs {
        cmd.arg("--dir").arg(format!("{}::{guest}", host.display()));
    }
    if let Some(argv0) = inv.args.first() {
        cmd.arg("--argv0").arg(argv0);
    }
    cmd.arg(wasm).args(inv.args.iter().skip(1));
    spawn(cmd, &inv.stdin)
}

/// Runs a WASI 0.2 command component in wasmtime, the crate.
pub fn run_component(wasm: &Path, inv: &Invocation) -> Result<Outcome> {
    let component = runtime().load_component(wasm)?;
    Ok(outcome(
        runtime().run_component(&component, &run_config(inv))?,
    ))
}

/// Runs the same sources with native CPython 3.11, the way a console script would: argv[0] as
/// given, the entry's return value as the exit status.
pub fn run_native(source_root: &Path, entry: &str, inv: &Invocation) -> Result<Outcome> {
    run_native_on(&[source_root], entry, inv)
}

/// Like [`run_native`], with several directories in front of `sys.path`, in order (sources,
/// then a `--target` directory holding the same wheels as the module).
pub fn run_native_on(paths: &[&Path], entry: &str, inv: &Invocation) -> Result<Outcome> {
    run_python_on(&native_python()?, paths, entry, inv)
}

/// [`run_native_on`] with the given native CPython.
pub fn run_python_on(
    python: &Path,
    paths: &[&Path],
    entry: &str,
    inv: &Invocation,
) -> Result<Outcome> {
    let (module, attr) = entry.split_once(':').context("entry is module:function")?;
    let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let script = format!(
        "import sys\nsys.argv = sys.argv[1:]\nsys.path[0:0] = {paths:?}\nimport {module} as m\nsys.exit(m.{attr}())\n"
    );
    let mut cmd = Command::new(python);
    cmd.args(["-I", "-S", "-B", "-c", &script])
        .args(&inv.args)
        .envs(inv.env.iter().map(|(k, v)| (k, v)));
    spawn(cmd, &inv.stdin)
}

/// How long a runtime may take over one run before the test calls it hung: far above any
/// fixture's run, and far below CI's limit, so a hang fails one test instead of the whole run.
const RUN_LIMIT: Duration = Duration::from_secs(240);

pub(crate) fn spawn(mut cmd: Command, stdin: &str) -> Result<Outcome> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("failed to start {cmd:?}"))?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(stdin.as_bytes())?;
    let stdout = drain(child.stdout.take().context("stdout")?);
    let stderr = drain(child.stderr.take().context("stderr")?);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{cmd:?} hung: still running after {RUN_LIMIT:?}, killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let Some(code) = status.code() else {
        bail!("{cmd:?} was killed: {status}")
    };
    Ok(Outcome {
        code,
        stdout: utf8(stdout.join().expect("stdout reader")),
        stderr: utf8(stderr.join().expect("stderr reader")),
    })
}

/// Reads a pipe to its end on a thread of its own, so a child never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// A JSON object of string pairs; `{:?}` quoting is valid JSON for the printable ASCII tests use.
fn json_object(pairs: &[(String, String)]) -> String {
    let fields: Vec<String> = pairs.iter().map(|(k, v)| format!("{k:?}: {v:?}")).collect();
    format!("{{{}}}", fields.join(", "))
}

fn utf8(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

/// node with WASI preview1 (node 20 or later).
pub fn node() -> Result<PathBuf> {
    static NODE: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    NODE.get_or_init(|| {
        let out = Command::new("node")
            .arg("--version")
            .output()
            .map_err(|e| format!("node is required for the end-to-end tests: {e}"))?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if pywasm_core::runner::testing::node_major(&version) < 20 {
            return Err(format!(
                "node 20 or later is required for node:wasi, found `{version}`"
            ));
        }
        Ok(PathBuf::from("node"))
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

/// `pip install --target <site> <args>` with native CPython: the reference a module is compared
/// with gets its packages from the same index, with pip itself.
pub fn pip_install_target(site: &Path, args: &[&OsStr]) -> Result<()> {
    pip_install_target_for(&default_minor(), site, args)
}

/// [`pip_install_target`] with the wheels of CPython `minor` for this host, for the native
/// CPython of that version ([`native_python_for`], which may have no pip of its own) to import:
/// pip runs on the host's CPython ([`host_python`]), told the target version when it differs.
pub fn pip_install_target_for(minor: &str, site: &Path, args: &[&OsStr]) -> Result<()> {
    let (python, host_minor) = host_python()?;
    let mut cmd = Command::new(python);
    cmd.args(["-m", "pip", "install"]);
    if minor != host_minor {
        cmd.args(["--only-binary=:all:", "--python-version", minor]);
    }
    let output = cmd
        .args(["--quiet", "--no-compile", "--no-warn-conflicts"])
        .arg("--target")
        .arg(site)
        .args(args)
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .output()
        .context("failed to run pip")?;
    if !output.status.success() {
        bail!(
            "pip install --target {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// The version of projects that choose none (`[python] default` in the pins).
pub fn default_minor() -> String {
    pywasm_core::sdk::pins::Pins::embedded()
        .expect("the embedded pins parse")
        .default_python
}

/// The host's CPython with pip, which installs native packages for every version: `python3.11`
/// or `python3` on PATH, and its minor version.
pub fn host_python() -> Result<(PathBuf, String)> {
    static PYTHON: OnceLock<std::result::Result<(PathBuf, String), String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            for candidate in ["python3.11", "python3"] {
                let probe = Command::new(candidate)
                    .args([
                        "-c",
                        "import sys, pip; print('%d.%d' % sys.version_info[:2])",
                    ])
                    .output();
                if let Ok(out) = probe
                    && out.status.success()
                {
                    let minor = String::from_utf8_lossy(&out.stdout).trim().to_string();
                    return Ok((PathBuf::from(candidate), minor));
                }
            }
            Err(
                "the end-to-end tests install native packages with pip: put `python3` with pip \
                 on PATH"
                    .to_string(),
            )
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// A native CPython of the same minor version as the one inside the modules a project builds
/// by default ([`default_minor`]).
pub fn native_python() -> Result<PathBuf> {
    native_python_for(&default_minor())
}

/// The native CPython `minor` that the SDK built beside CPython for WASI (`native/`), else a
/// `python3.x` on PATH.
pub fn native_python_for(minor: &str) -> Result<PathBuf> {
    // Locating the SDK checks every file it records (CPython's and zig's), and every native run
    // of a test asks: once per version is enough. A failure is not kept: the SDK may come later.
    static FOUND: OnceLock<Mutex<BTreeMap<String, PathBuf>>> = OnceLock::new();
    let mut found = FOUND
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(python) = found.get(minor) {
        return Ok(python.clone());
    }
    let python = find_native_python(minor)?;
    found.insert(minor.to_string(), python.clone());
    Ok(python)
}

fn find_native_python(minor: &str) -> Result<PathBuf> {
    let pins = pywasm_core::sdk::pins::Pins::embedded()?.with_python(Some(minor))?;
    let sdk = pywasm_core::sdk::locate(&pins, &home(), pins.toolchain.default)?;
    if let Some(python) = sdk.python.native_python() {
        return Ok(python);
    }
    let (host, host_minor) = host_python()?;
    if host_minor == minor {
        return Ok(host);
    }
    bail!(
        "no native CPython {minor}: the SDK of CPython {minor} has no `native/`, and the host's \
         `{}` is {host_minor}",
        host.display()
    )
}

/// What `tests/fixtures/platform_limits` prints on CPython `minor`, the README's "Platform
/// limits" line by line. Only name resolution differs: 3.11's socket module has no
/// `getaddrinfo`; from 3.13 CPython's own one answers numeric addresses and finds no name.
pub fn platform_limits_output(minor: &str) -> String {
    let resolve_name = if minor == "3.11" {
        "AttributeError: module '_socket' has no attribute 'getaddrinfo'"
    } else {
        "gaierror: [Errno 7] getaddrinfo failed"
    };
    format!(
        "\
start_thread: RuntimeError: can't start new thread
run_subprocess: OSError: [Errno 58] wasi does not support processes.
open_socket: OSError: [Errno 58] Not supported
import_network_clients: ok
resolve_name: {resolve_name}
fork: AttributeError: module 'os' has no attribute 'fork'
send_signal: AttributeError: module 'os' has no attribute 'kill'
handle_signal: ok
write_app_file: OSError: [Errno 69] Read-only file system: '/app/platform_limits/new.txt'
write_outside: OSError: [Errno 69] Read-only file system: '/scratch.txt'
use_devnull: ok
chdir_to_cwd: ok
"
    )
}

/// [`platform_limits_output`] in wasmer 6, where wasmer-wasix gives every instance a root
/// directory of its own at `/`: writing outside `/tmp` fails on that directory instead, and
/// `os.listdir("/")` lists it, empty (the embedded files are still read at their paths).
pub fn platform_limits_output_in_wasmer(minor: &str) -> String {
    platform_limits_output(minor)
        .replace(
            "write_outside: OSError: [Errno 69] Read-only file system: '/scratch.txt'",
            "write_outside: NotADirectoryError: [Errno 54] Not a directory: '/scratch.txt'",
        )
        .replace("chdir_to_cwd: ok", "chdir_to_cwd: AssertionError: ")
}

/// Builds nothing; runs `wasm` in wasmtime and node and `entry` natively, and asserts all three
/// agree on stdout and the exit code. Returns the native outcome for further checks.
pub fn assert_same_as_native(
    wasm: &Path,
    source_root: &Path,
    entry: &str,
    inv: &Invocation,
) -> Outcome {
    assert_same_as_native_on(wasm, &[source_root], entry, inv)
}

/// [`assert_same_as_native`] with several native `sys.path` entries.
pub fn assert_same_as_native_on(
    wasm: &Path,
    paths: &[&Path],
    entry: &str,
    inv: &Invocation,
) -> Outcome {
    assert_same_as_python(
        &native_python().expect("native CPython"),
        wasm,
        paths,
        entry,
        inv,
    )
}

/// [`assert_same_as_native_on`] against the given native CPython.
pub fn assert_same_as_python(
    python: &Path,
    wasm: &Path,
    paths: &[&Path],
    entry: &str,
    inv: &Invocation,
) -> Outcome {
    let native = run_python_on(python, paths, entry, inv).expect("native run");
    let wasmtime = run_wasmtime(wasm, inv).expect("wasmtime run");
    let node = run_node(wasm, inv).expect("node run");
    for (runtime, got) in [("wasmtime", &wasmtime), ("node", &node)] {
        assert_eq!(
            (got.code, got.stdout.as_str()),
            (native.code, native.stdout.as_str()),
            "{runtime} differs from native CPython for {:?}\n{runtime} stderr:\n{}\nnative stderr:\n{}",
            inv.args,
            got.stderr,
            native.stderr
        );
    }
    native
}
