//! One `PYWASM_HOME`, many processes (issue 20): fetches and builds side by side, processes
//! killed with SIGKILL at random points, and a home pywasm may not write to. Each test works in
//! homes of its own, with CPython 3.11 (prebuilt: a download, through pip's cache) so that no
//! test waits for a CPython build from source.
//!
//! The kill points are random; each test prints its seed, and `PYWASM_TEST_SEED=<seed>` replays
//! the same points.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

const PYTHON: &str = "3.11";

fn pywasm(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pywasm"));
    cmd.env("PYWASM_HOME", home).current_dir(repo());
    cmd
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository")
}

fn fetch(home: &Path) -> Command {
    let mut cmd = pywasm(home);
    cmd.args(["fetch-sdk", "--python", PYTHON]);
    cmd
}

fn build(home: &Path, project: &str, output: &Path) -> Command {
    let mut cmd = pywasm(home);
    cmd.args(["build", "--offline", "--python", PYTHON, project, "-o"])
        .arg(output);
    cmd
}

fn spawn(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pywasm")
}

fn succeeded(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{what} failed: {}\n{stderr}",
        out.status
    );
    stderr
}

fn run(cmd: Command, what: &str) -> String {
    let out = spawn(cmd).wait_with_output().expect("wait for pywasm");
    succeeded(&out, what)
}

/// The names in `dir`, sorted; none when it does not exist.
fn names_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// A home whose `sdk/` is `shared`'s and whose caches are its own and empty.
fn home_sharing_sdk(root: &Path, name: &str, shared: &Path) -> PathBuf {
    let home = root.join(name);
    std::fs::create_dir_all(&home).expect("a home");
    std::os::unix::fs::symlink(shared.join("sdk"), home.join("sdk")).expect("link the SDK");
    home
}

/// xorshift64*, seeded from `PYWASM_TEST_SEED` or the clock, printed for replay.
struct Random(u64);

impl Random {
    fn new(test: &str) -> Random {
        let seed = std::env::var("PYWASM_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .expect("a clock after 1970")
                    .as_nanos() as u64
                    | 1
            });
        println!("{test}: PYWASM_TEST_SEED={seed}");
        Random(seed)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
    }
}

/// Starts `cmd`, kills it with SIGKILL after a random part of `span`, and says where it was:
/// the last status line it had printed.
fn kill_at_random(cmd: Command, span: Duration, random: &mut Random) -> String {
    let after = Duration::from_millis(random.below(span.as_millis() as u64));
    let mut child = spawn(cmd);
    let start = Instant::now();
    while start.elapsed() < after {
        if child.try_wait().expect("poll pywasm").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let finished = child.try_wait().expect("poll pywasm").is_some();
    // std's kill is SIGKILL on Unix: the process gets no chance to clean up.
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait for pywasm");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or("(nothing printed)").trim();
    let when = if finished {
        "finished before"
    } else {
        "killed"
    };
    format!("{when} at {} ms: {last}", after.as_millis())
}

/// Four `fetch-sdk`s started at once on an empty home: each component is downloaded and
/// unpacked by one of them, the others wait for its lock and find it made; all four succeed,
/// and nothing is left in `tmp/`.
#[test]
fn four_fetches_at_once_fetch_each_component_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let children: Vec<Child> = (0..4).map(|_| spawn(fetch(&home))).collect();
    let mut log = String::new();
    for child in children {
        let out = child.wait_with_output().expect("wait for pywasm");
        log.push_str(&succeeded(&out, "a concurrent fetch-sdk"));
    }
    let pins = pywasm_core::sdk::pins::Pins::embedded()
        .expect("the pins")
        .with_python(Some(PYTHON))
        .expect("CPython 3.11 is pinned");
    let components = [
        format!("CPython {}", pins.python.version),
        format!("zig {}", pins.toolchain.zig.version),
    ];
    for component in &components {
        let made = log
            .lines()
            .filter(|l| l.trim_start().starts_with("Fetched") && l.contains(component))
            .count();
        assert_eq!(made, 1, "{component} fetched {made} times:\n{log}");
    }
    assert_eq!(names_in(&home.join("tmp")), Vec::<String>::new(), "{log}");
    let again = run(fetch(&home), "a fetch-sdk after the others");
    assert!(!again.contains("Fetched"), "{again}");
}

/// `fetch-sdk` killed four times at random points (downloading, unpacking, recording, preparing
/// the stdlib's bytecode), then run to the end: it succeeds, removes what the killed ones left
/// in `tmp/`, and the SDK it leaves builds a module that runs.
#[test]
fn fetches_killed_at_random_points_leave_nothing_the_next_one_uses() {
    let mut random = Random::new("fetches_killed_at_random_points");
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let mut points = Vec::new();
    for _ in 0..4 {
        points.push(kill_at_random(
            fetch(&home),
            Duration::from_secs(20),
            &mut random,
        ));
    }
    let log = run(fetch(&home), "fetch-sdk after the killed ones");
    let report = format!("kill points:\n{}\nthen:\n{log}", points.join("\n"));
    println!("{report}");
    assert_eq!(
        names_in(&home.join("tmp")),
        Vec::<String>::new(),
        "{report}"
    );
    let again = run(fetch(&home), "a second fetch-sdk");
    assert!(!again.contains("Fetched"), "{again}");
    let output = dir.path().join("hello.wasm");
    run(
        build(&home, "examples/hello", &output),
        "a build on the SDK",
    );
    let out = pywasm(&home)
        .args(["run"])
        .arg(&output)
        .output()
        .expect("pywasm run");
    succeeded(&out, "pywasm run");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Hello"),
        "{report}"
    );
}

/// Projects without dependencies, so that builds are offline.
const PROJECTS: [&str; 4] = [
    "examples/hello",
    "tests/fixtures/python_version",
    "tests/fixtures/deep_recursion",
    "tests/fixtures/stdlib_tour",
];

/// Each project built alone, one after the other, on a home with empty caches: what the builds
/// side by side must give byte for byte.
fn reference_modules(root: &Path, shared: &Path) -> Vec<Vec<u8>> {
    let home = home_sharing_sdk(root, "reference", shared);
    PROJECTS
        .iter()
        .enumerate()
        .map(|(i, project)| {
            let output = root.join(format!("reference-{i}.wasm"));
            run(build(&home, project, &output), project);
            std::fs::read(&output).expect("the reference module")
        })
        .collect()
}

/// On one home with empty caches, eight builds at once (the four projects, and four more of
/// the first), then builds killed at random points on another: every module is the one the
/// project gives built alone, and a killed build leaves nothing the next one uses.
#[test]
fn builds_side_by_side_and_killed_give_the_modules_built_alone() {
    let mut random = Random::new("builds_side_by_side_and_killed");
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let fetched = root.join("fetched");
    run(fetch(&fetched), "fetch-sdk");
    let reference = reference_modules(root, &fetched);

    let shared = home_sharing_sdk(root, "shared", &fetched);
    // The four projects, then four more builds of the first.
    let jobs: Vec<(usize, PathBuf)> = (0..8)
        .map(|i| {
            let project = if i < PROJECTS.len() { i } else { 0 };
            (project, root.join(format!("shared-{i}.wasm")))
        })
        .collect();
    let children: Vec<Child> = jobs
        .iter()
        .map(|(project, output)| spawn(build(&shared, PROJECTS[*project], output)))
        .collect();
    for (child, (project, output)) in children.into_iter().zip(&jobs) {
        let out = child.wait_with_output().expect("wait for pywasm");
        succeeded(&out, PROJECTS[*project]);
        assert!(
            std::fs::read(output).expect("the module") == reference[*project],
            "{} built beside others differs from the one built alone",
            PROJECTS[*project]
        );
    }

    let killed = home_sharing_sdk(root, "killed", &fetched);
    let output = root.join("killed.wasm");
    let mut points = Vec::new();
    for _ in 0..4 {
        let cmd = build(&killed, PROJECTS[2], &output);
        points.push(kill_at_random(cmd, Duration::from_secs(8), &mut random));
    }
    let log = run(
        build(&killed, PROJECTS[2], &output),
        "a build after killed ones",
    );
    let report = format!("kill points:\n{}\nthen:\n{log}", points.join("\n"));
    println!("{report}");
    assert!(
        std::fs::read(&output).expect("the module") == reference[2],
        "the build after killed ones differs from the one built alone\n{report}"
    );
    assert_eq!(
        names_in(&killed.join("tmp")),
        Vec::<String>::new(),
        "{report}"
    );
}

/// A read-only file system mounted for the test (as root, who may write anywhere else) or a
/// directory without write permission (as anyone else); unmounted when dropped.
struct ReadOnlyDir {
    path: PathBuf,
    mounted: bool,
    _dir: tempfile::TempDir,
}

impl ReadOnlyDir {
    fn new() -> ReadOnlyDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("read-only");
        std::fs::create_dir(&path).expect("a directory");
        let uid = Command::new("id").arg("-u").output().expect("id -u");
        let mounted = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        if mounted {
            let status = Command::new("mount")
                .args(["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs"])
                .arg(&path)
                .status()
                .expect("mount");
            assert!(status.success(), "mounting a read-only tmpfs failed");
        } else {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o555)).expect("chmod");
        }
        ReadOnlyDir {
            path,
            mounted,
            _dir: dir,
        }
    }
}

impl Drop for ReadOnlyDir {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.path).status();
        } else {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o755));
        }
    }
}

/// A home pywasm cannot write to is one error that names it and the variable to set, for a
/// build and for `fetch-sdk`, before any work.
#[test]
fn a_home_pywasm_cannot_write_to_is_one_error_naming_it() {
    let ro = ReadOnlyDir::new();
    let home = ro.path.join("pywasm");
    for (what, mut cmd) in [
        ("build", {
            let mut cmd = pywasm(&home);
            cmd.args(["build", "--offline", "examples/hello", "-o", "/dev/null"]);
            cmd
        }),
        ("fetch-sdk", fetch(&home)),
    ] {
        let out = cmd.output().expect("run pywasm");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
        // The reason is the file system's (root) or the permissions' (anyone else).
        let shown = stderr
            .replace(&ro.path.display().to_string(), "[READ-ONLY]")
            .replace("Read-only file system (os error 30)", "[NOT WRITABLE]")
            .replace("Permission denied (os error 13)", "[NOT WRITABLE]");
        insta::assert_snapshot!(format!("read_only_home_{}", what.replace('-', "_")), shown);
    }
}
