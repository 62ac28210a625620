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
    // The memory a host must grant: the C stack is the default 1 MiB.
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("memory       ") && l.ends_with(", 1.0 MiB of it the C stack")),
        "{stdout}"
    );
    assert!(
        stdout.contains("against the manifest and the module against its .sha256"),
        "{stdout}"
    );

    let out = pywasm(&["inspect", "--json", "--files", &module], repo());
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(json.contains("\"path\": \"/app/hello/cli.py\""), "{json}");

    // A file past `--max-size` is refused from its size, and one that reports none (a device,
    // a pipe) after reading one byte past the limit.
    for (file, size, text) in [
        (module.as_str(), "1M", "1 MiB"),
        ("/dev/zero", "2M", "2 MiB"),
    ] {
        let out = pywasm(&["inspect", "--max-size", size, file], repo());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        let says = format!("`{file}` is larger than {text}, the most `pywasm inspect` reads");
        assert!(stderr.contains(&says), "{stderr}");
        assert!(
            stderr.contains("help: if it is a module you expect"),
            "{stderr}"
        );
    }

    // One byte changed inside an embedded file.
    // The image stores the source compressed, exactly as `deflated` compresses it.
    let source = std::fs::read(repo().join("examples/hello/src/hello/cli.py")).expect("source");
    let stored = pywasm_core::module::bundle::deflated(&source)
        .expect("deflate")
        .expect("the source compresses");
    let mut bytes = std::fs::read(&output).expect("module");
    let at = bytes
        .windows(40)
        .position(|w| w == &stored[..40])
        .expect("the source is embedded as the image stores it");
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
        // A variable of pywasm's own environment, which the module must not see.
        let out = Command::new(env!("CARGO_BIN_EXE_pywasm"))
            .args(["run", module_arg.as_str()])
            .args(args)
            .env("PYWASM_TEST_SECRET", "host only")
            .current_dir(repo())
            .output()
            .expect("run pywasm");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, _) = run(&["--env", "GREETING=hi", "--", "env", "x"]);
    let sees = "hi ['env', 'x'] ['GREETING']\n";
    assert_eq!((code, stdout.as_str()), (Some(7), sees));

    // Recursion without end (its limit raised out of the way) is held by each limit too.
    let (code, _, stderr) = run(&["--max-memory", "64M", "--", "recurse"]);
    assert_eq!(code, Some(122), "{stderr}");
    let (code, _, stderr) = run(&["--timeout", "1s", "--", "recurse"]);
    assert_eq!(code, Some(124), "{stderr}");
    let (code, _, stderr) = run(&["--fuel", "1000000", "--", "recurse"]);
    assert_eq!(code, Some(123), "{stderr}");
    // A trap (wasm's `unreachable`, which `os.abort()` executes) is 134, saying which trap.
    let (code, _, stderr) = run(&["--", "abort"]);
    assert_eq!(code, Some(134), "{stderr}");
    let trapped = "error: the module trapped: wasm trap: wasm `unreachable` instruction executed\n";
    assert!(stderr.starts_with(trapped), "{stderr}");

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
    assert!(
        stderr.contains("[possible values: size, speed, none]"),
        "{stderr}"
    );
}

/// `pywasm init` then `pywasm build` and `pywasm run`: a newcomer's first two commands after the
/// set-up. The scaffold's own test passes under native CPython, and a second `init` refuses.
#[test]
fn init_scaffolds_a_project_that_builds_and_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = pywasm(&["init", "my-app"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Next: cd my-app && pywasm build && pywasm run dist/my-app.wasm"),
        "{stdout}"
    );
    let project = dir.path().join("my-app");
    for file in [
        "pyproject.toml",
        "src/my_app/cli.py",
        "tests/test_cli.py",
        ".gitignore",
    ] {
        assert!(project.join(file).is_file(), "{file}");
    }

    let out = pywasm(&["build", "--offline", "-q"], &project);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = pywasm(&["run", "dist/my-app.wasm", "--", "pywasm"], &project);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, pywasm!\n");
    assert!(out.status.success());

    let unittest = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests"])
        .env("PYTHONPATH", project.join("src"))
        .current_dir(&project)
        .output()
        .expect("run python3");
    assert!(
        unittest.status.success(),
        "{}",
        String::from_utf8_lossy(&unittest.stderr)
    );

    let tested = pywasm(&["test", "--offline", "--compare"], &project);
    let stdout = String::from_utf8_lossy(&tested.stdout);
    let stderr = String::from_utf8_lossy(&tested.stderr);
    assert_eq!(tested.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("Ran 1 test"), "{stdout}");
    assert!(
        stderr.contains("Compared 1 test: every outcome is native CPython's"),
        "{stderr}"
    );

    let again = pywasm(&["init", "my-app"], dir.path());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("already exists"), "{stderr}");
}

#[test]
fn version_names_the_pinned_python_and_toolchains() {
    let out = pywasm(&["--version"], repo());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.starts_with(&format!(
            "pywasm {} (CPython {}, zig ",
            env!("CARGO_PKG_VERSION"),
            pywasm_core::sdk::pins::Pins::embedded()
                .unwrap()
                .python
                .version
        )),
        "{stdout}"
    );
    assert!(stdout.contains("WASI SDK 25.0"), "{stdout}");
}

/// `pywasm wheel list` names every recipe compiled into the binary and what it provides;
/// an unknown recipe is an `error:` naming the known ones, with exit code 1 and nothing built.
#[test]
fn wheel_lists_its_recipes_and_refuses_an_unknown_one() {
    let out = pywasm(&["wheel", "list"], repo());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert!(lines[0].starts_with("recipe "), "{stdout}");
    for (recipe, provides) in [
        ("lxml", "lxml.etree"),
        ("pydantic-core", "pydantic_core._pydantic_core"),
        ("sqlite3", "_sqlite3"),
        ("zlib", "zlib"),
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{recipe} ")) && l.contains(provides)),
            "{recipe}: {stdout}"
        );
    }
    let out = pywasm(&["wheel", "build", "numpy"], repo());
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stderr), @r"
    error: pywasm has no wheel recipe `numpy`
      = help: the recipes are: lxml, pydantic-core, sqlite3, zlib
    ");
}

#[test]
fn doctor_checks_the_sdk_pip_and_a_runtime_and_says_what_to_fix() {
    let out = pywasm(&["doctor"], repo());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "ok   SDK with zig (the default)",
        "ok   pip: ",
        "ok   runtimes: ",
        "ok   CPython from source: ",
    ] {
        assert!(stdout.contains(line), "{line} missing from\n{stdout}");
    }

    let empty = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_pywasm"))
        .arg("doctor")
        .env("PYWASM_HOME", empty.path())
        .output()
        .expect("run pywasm");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL SDK with zig (the default)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("= fix: ") && stdout.contains("fetch-sdk"),
        "{stdout}"
    );
}

/// `--message-format json`: every stdout line is one JSON object; stages start and finish in
/// pairs; the artifact event names the module with its size and sha256; nothing goes to stderr;
/// a failure is an `error` event and status 1.
#[test]
fn json_messages_parse_line_by_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("hello.wasm");
    let output_arg = output.display().to_string();
    let out = pywasm(
        &[
            "build",
            "--offline",
            "--message-format",
            "json",
            "examples/hello",
            "-o",
            &output_arg,
        ],
        repo(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let stages = |reason: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["reason"] == reason)
            .map(|e| e["stage"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(stages("stage-started"), stages("stage-finished"));
    assert!(stages("stage-finished").contains(&"Linked".to_string()));
    let artifact = events
        .iter()
        .find(|e| e["reason"] == "artifact")
        .expect("an artifact event");
    let bytes = std::fs::read(&output).expect("module");
    assert_eq!(artifact["path"], output_arg);
    assert_eq!(artifact["size"], bytes.len() as u64);
    let sums = std::fs::read_to_string(dir.path().join("hello.wasm.sha256")).expect("sums");
    assert_eq!(artifact["sha256"].as_str(), sums.split_whitespace().next());

    let out = pywasm(
        &[
            "build",
            "--offline",
            "--message-format",
            "json",
            "tests/fixtures/bad_toml",
        ],
        repo(),
    );
    assert_eq!(out.status.code(), Some(1));
    let last: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .expect("a line"),
    )
    .expect("json");
    assert_eq!(last["reason"], "error");
    assert!(
        last["message"]
            .as_str()
            .unwrap_or_default()
            .contains("pyproject.toml"),
        "{last}"
    );
}

/// A dependency bundled as its pure-Python fallback gets one warning line, which names the
/// package, what is lost and the key that forbids it (the fallback itself: tests/real_projects.rs).
#[test]
fn a_pure_fallback_is_one_warning_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let project = dir.path().join("fallbacks");
    copy_tree(&repo().join("tests/fixtures/fallbacks"), &project);
    let project_arg = project.display().to_string();
    let out = pywasm(&["lock", "--message-format", "json", &project_arg], repo());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let warnings: Vec<String> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|e| e["reason"] == "warning")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    for (warning, name) in warnings.iter().zip(["MarkupSafe", "PyYAML"]) {
        assert!(
            warning
                .to_lowercase()
                .starts_with(&format!("`{}` ", name.to_lowercase()))
                && warning.contains("pure-Python fallback")
                && warning.contains("slower")
                && warning.contains("require-extensions"),
            "{warning}"
        );
    }
}

/// A rebuild after an edit to the app's Python compiles no C, though each build has a new work
/// directory: every object comes from the cache. Pre-initialised (the default), the module links
/// no image, so the linked module and its compiled code come from the cache too; without, only
/// the image is assembled again and linked.
#[test]
fn a_rebuild_after_an_app_edit_compiles_no_c() {
    let dir = tempfile::tempdir().expect("temp dir");
    let project = dir.path().join("hello");
    copy_tree(&repo().join("examples/hello"), &project);
    let project_arg = project.display().to_string();
    // Each edit is new to the shared cache: an edit an earlier run made would find its snapshot
    // there, and the rebuild would never reach the pre-initialisation this test is about.
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    let build_after = |edit: &str, flags: &[&str]| -> String {
        let cli = project.join("src/hello/cli.py");
        let mut text = std::fs::read_to_string(&cli).expect("read cli.py");
        text.push_str(&format!("{edit}_RUN = {unique}\n"));
        std::fs::write(&cli, text).expect("edit cli.py");
        let mut args = vec!["build", "--offline", "-v", &project_arg];
        args.extend(flags);
        let out = pywasm(&args, repo());
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        let run = pywasm(
            &[
                "run",
                &project.join("dist/hello.wasm").display().to_string(),
            ],
            repo(),
        );
        assert_eq!(
            String::from_utf8_lossy(&run.stdout),
            "Hello, world!\n",
            "{stderr}"
        );
        stderr
    };
    let compiled = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains(" -c "))
            .map(String::from)
            .collect()
    };

    build_after("\n_FIRST_EDIT = 1\n", &[]);
    let again = build_after("\n_SECOND_EDIT = 2\n", &[]);
    assert_eq!(compiled(&again), Vec::<String>::new(), "{again}");
    assert!(
        !again.contains("linked.wasm"),
        "the module was linked:\n{again}"
    );
    assert!(
        again.contains("the linked module's compiled code came from the cache"),
        "{again}"
    );

    build_after("\n_THIRD_EDIT = 3\n", &["--no-preinit"]);
    let again = build_after("\n_FOURTH_EDIT = 4\n", &["--no-preinit"]);
    let compiled = compiled(&again);
    assert_eq!(compiled.len(), 1, "{again}");
    assert!(compiled[0].contains(" -c image.S "), "{again}");
    assert!(
        again.contains("linked.wasm"),
        "the module was not linked:\n{again}"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
