//! The binary's contract with users and scripts: exit codes, `error:` lines, where outputs go.

use std::path::Path;
use std::process::{Command, Output};

fn pywasm(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pywasm"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run pywasm")
}

/// `pywasm build --offline -q PROJECT -o OUTPUT [EXTRA...]`, which must succeed.
fn build_quietly(project: &str, output: &Path, extra: &[&str]) -> std::path::PathBuf {
    let output_arg = output.display().to_string();
    let mut args = vec!["build", "--offline", "-q", project, "-o", &output_arg];
    args.extend_from_slice(extra);
    let out = pywasm(&args, repo());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    output.to_path_buf()
}

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn bad_manifest_is_an_error_line_with_its_location_and_a_failure_status() {
    let out = pywasm(
        &["build", "--offline", "tests/fixtures/bad_unknown_key"],
        repo(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains("bad_unknown_key/pyproject.toml:7:1"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn missing_project_directory_fails_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = pywasm(&["build", "--offline"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no `pyproject.toml` in `.`"), "{stderr}");
}

#[test]
fn builds_the_hello_example_to_the_requested_output() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("out/hello.wasm");
    let out = pywasm(
        &[
            "build",
            "--offline",
            "-q",
            "--list",
            "examples/hello",
            "-o",
            &output.display().to_string(),
        ],
        repo(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "-q printed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `--list` goes to stdout even with -q: it is what was asked for.
    let listing = String::from_utf8_lossy(&out.stdout);
    let header: Vec<&str> = listing
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["distribution", "version", "kind", "size"],
        "{listing}"
    );
    assert!(
        listing.contains("(app)") && listing.contains("(stdlib)"),
        "{listing}"
    );
    let bytes = std::fs::read(&output).expect("module written");
    assert_eq!(&bytes[..4], b"\0asm");
    let sums = std::fs::read_to_string(dir.path().join("out/hello.wasm.sha256")).expect("checksum");
    assert!(sums.ends_with("  hello.wasm\n"), "{sums}");
}

#[test]
fn version_names_the_binary() {
    let out = pywasm(&["--version"], repo());
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("pywasm "));
}

#[test]
fn inspect_verifies_modules_and_reports_tampering() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = build_quietly("examples/hello", &dir.path().join("hello.wasm"), &[]);
    let module = output.display().to_string();

    let out = pywasm(&["inspect", "--verify", &module], repo());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("entry        hello.cli:main"), "{stdout}");
    assert!(
        stdout.contains("against the manifest and the module against its .sha256"),
        "{stdout}"
    );

    let out = pywasm(&["inspect", "--json", "--files", &module], repo());
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(json.contains("\"path\": \"/app/hello/cli.py\""), "{json}");

    // One byte changed inside an embedded file.
    let source = std::fs::read(repo().join("examples/hello/src/hello/cli.py")).expect("source");
    let mut bytes = std::fs::read(&output).expect("module");
    let at = bytes
        .windows(40)
        .position(|w| w == &source[..40])
        .expect("the source is embedded verbatim");
    bytes[at + 3] ^= 0x20;
    let tampered = dir.path().join("tampered.wasm");
    std::fs::write(&tampered, &bytes).expect("write");
    let out = pywasm(
        &["inspect", "--verify", &tampered.display().to_string()],
        repo(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("`/app/hello/cli.py` was changed"),
        "{stdout}"
    );
    assert!(
        stderr.contains("does not match its build manifest"),
        "{stderr}"
    );
}

#[test]
fn run_passes_exit_codes_through_and_enforces_limits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let module = build_quietly(
        "tests/fixtures/limits",
        &dir.path().join("limits.wasm"),
        &[],
    );
    let module_arg = module.display().to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["run", module_arg.as_str()];
        all.extend_from_slice(args);
        let out = pywasm(&all, repo());
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, _) = run(&["--env", "GREETING=hi", "--", "env", "x"]);
    assert_eq!((code, stdout.as_str()), (Some(7), "hi ['env', 'x']\n"));

    let (code, _, stderr) = run(&["--timeout", "1s", "--", "loop"]);
    assert_eq!(code, Some(124), "{stderr}");
    assert!(
        stderr.contains("ran longer than the --timeout of 1.00s"),
        "{stderr}"
    );

    let (code, _, stderr) = run(&["--max-memory", "64M", "--", "alloc"]);
    assert_eq!(code, Some(122), "{stderr}");
    assert!(
        stderr.contains("beyond the --max-memory of 64.0 MiB"),
        "{stderr}"
    );

    let (code, _, stderr) = run(&["--fuel", "1000000", "--", "loop"]);
    assert_eq!(code, Some(123), "{stderr}");
    assert!(stderr.contains("--fuel of 1000000"), "{stderr}");

    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("dir");
    let share = format!("{}::/data", data.display());
    let (code, stdout, stderr) = run(&["--dir", &share, "--", "write", "/data/out.txt"]);
    assert_eq!((code, stdout.as_str()), (Some(0), "written\n"), "{stderr}");
    assert!(data.join("out.txt").is_file());
}

#[test]
fn run_takes_components_and_bad_optimize_levels_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let component = build_quietly(
        "examples/hello",
        &dir.path().join("hello.component.wasm"),
        &["--component"],
    );
    let out = pywasm(
        &[
            "run",
            &component.display().to_string(),
            "--",
            "--name",
            "component",
        ],
        repo(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        (out.status.code(), stdout.as_ref()),
        (Some(0), "Hello, component!\n"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = pywasm(&["inspect", &component.display().to_string()], repo());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("optimize = none, stripped, WASI 0.2 component"),
        "{stdout}"
    );

    let out = pywasm(&["build", "--optimize", "fast", "examples/hello"], repo());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("use `size`, `speed` or `none`"), "{stderr}");
}
