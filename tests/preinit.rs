//! Pre-initialisation: the module starts from a snapshot taken at build time, and everything
//! that must be fresh on each run still is, in every runtime.

use std::time::{SystemTime, UNIX_EPOCH};

use pywasm_core::BuildOutcome;
use pywasm_tests::*;
use serde_json::Value;

fn report(outcome: &Outcome) -> Value {
    assert_eq!(outcome.stderr, "to stderr\n", "stdout: {}", outcome.stdout);
    serde_json::from_str(&outcome.stdout)
        .unwrap_or_else(|e| panic!("not one JSON line ({e}): {}", outcome.stdout))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

fn probe(args: &[&str], value: &str, stdin: &str) -> Invocation {
    let mut argv = vec!["fresh"];
    argv.extend(args);
    Invocation::new(&argv)
        .env("PROBE_VALUE", value)
        .stdin(stdin)
}

#[test]
fn a_preinitialised_module_sees_this_runs_arguments_environment_clocks_and_randomness() {
    let project = Project::fixture("fresh_state");
    let built = project.build().expect("build");
    let data = tempfile::tempdir().expect("temp dir");
    fs_err::write(data.path().join("note.txt"), "from the host").expect("write");

    let first = run_wasmtime(
        &built.output,
        &probe(&["one", "--two"], "first", "input one")
            .dir("/data", data.path())
            .env("PROBE_FILE", "/data/note.txt"),
    )
    .expect("run");
    let second = run_wasmtime(&built.output, &probe(&["three"], "second", "")).expect("run");
    assert_eq!(first.code, 0);
    let (a, b) = (report(&first), report(&second));
    assert_eq!(a["argv"], serde_json::json!(["one", "--two"]));
    assert_eq!(b["argv"], serde_json::json!(["three"]));
    assert_eq!(
        (&a["env"], &a["environb"]),
        (&"first".into(), &"first".into())
    );
    assert_eq!(b["env"], "second");
    assert_eq!(
        (&a["stdin"], &b["stdin"]),
        (&"input one".into(), &"".into())
    );
    assert_eq!(a["file"], "from the host");
    // The directory the build shares the image through is gone before the app's code runs.
    for r in [&a, &b] {
        assert_eq!(
            (&r["build_time_dirs"], &r["dirs_now"]),
            (&serde_json::json!([]), &serde_json::json!([]))
        );
    }
    for r in [&a, &b] {
        let t = r["time"].as_f64().expect("time");
        assert!((t - now()).abs() < 600.0, "time.time() is {t}, not now");
    }
    for key in ["random", "randrange", "urandom", "tempname"] {
        assert_ne!(a[key], b[key], "`{key}` is the same in two runs");
    }
    // The hash secret cannot change after the snapshot (strings cache their hashes), so it is
    // pinned the way PYTHONHASHSEED=0 pins it, and says so.
    assert_eq!(
        (&a["hash"], &a["hash_randomization"]),
        (&b["hash"], &0.into())
    );

    let exit = run_wasmtime(&built.output, &probe(&[], "x", "").env("PROBE_EXIT", "7"));
    assert_eq!(exit.expect("run").code, 7);

    // The same in the other runtimes: node's WASI and the wasmtime CLI.
    let node = run_node(
        &built.output,
        &probe(&["n"], "node", "stdin for node")
            .dir("/data", data.path())
            .env("PROBE_FILE", "/data/note.txt"),
    )
    .expect("node");
    let n = report(&node);
    assert_eq!(
        (&n["argv"], &n["env"], &n["stdin"], &n["file"]),
        (
            &serde_json::json!(["n"]),
            &"node".into(),
            &"stdin for node".into(),
            &"from the host".into()
        )
    );
    assert_ne!(n["random"], a["random"]);
    let cli = run_wasmtime_cli(&built.output, &probe(&["c"], "cli", "")).expect("wasmtime cli");
    let c = report(&cli);
    assert_eq!(
        (&c["argv"], &c["env"]),
        (&serde_json::json!(["c"]), &"cli".into())
    );
    assert_ne!(c["urandom"], a["urandom"]);
}

#[test]
fn without_preinitialisation_the_hash_secret_is_random_per_run() {
    let project = Project::fixture("fresh_state");
    let pyproject = project.root.join("pyproject.toml");
    let text = fs_err::read_to_string(&pyproject).expect("read");
    fs_err::write(
        &pyproject,
        text.replace("[tool.pywasm]\n", "[tool.pywasm]\npreinit = false\n"),
    )
    .expect("write");
    let built = project.build().expect("build");
    let runs: Vec<Value> = (0..2)
        .map(|_| report(&run_wasmtime(&built.output, &probe(&[], "v", "")).expect("run")))
        .collect();
    assert_eq!(runs[0]["hash_randomization"], 1);
    assert_ne!(runs[0]["hash"], runs[1]["hash"]);
    assert_ne!(runs[0]["random"], runs[1]["random"]);
}

#[test]
fn top_level_code_that_prints_or_fails_at_build_time_stops_the_build_with_the_fix() {
    let project = Project::fixture("fresh_state");
    let probe = project.root.join("src/fresh/probe.py");
    let source = fs_err::read_to_string(&probe).expect("read");

    fs_err::write(&probe, format!("{source}\nprint('loaded')\n")).expect("write");
    let err = format!("{:#}", project.build().expect_err("printing at import"));
    assert!(err.contains("printed:\nloaded"), "{err}");
    assert!(err.contains("set `preinit = false`"), "{err}");

    fs_err::write(&probe, format!("{source}\nHOME = os.environ['HOME']\n")).expect("write");
    let err = format!(
        "{:#}",
        project.build().expect_err("reading the environment")
    );
    assert!(err.contains("KeyError: 'HOME'"), "{err}");
    assert!(err.contains("no arguments, environment or files"), "{err}");

    // Not every failure comes from the build-time surroundings: each gets the help that fits.
    fs_err::write(&probe, format!("{source}\nRATIO = 1 / 0\n")).expect("write");
    let err = format!("{:#}", project.build().expect_err("raising at import"));
    assert!(err.contains("ZeroDivisionError"), "{err}");
    assert!(err.contains("set `preinit = false`"), "{err}");
    assert!(!err.contains("nothing may be printed"), "{err}");

    fs_err::write(&probe, format!("{source}\nimport no_such_distribution\n")).expect("write");
    let err = format!(
        "{:#}",
        project.build().expect_err("importing what is not there")
    );
    assert!(
        err.contains("`no_such_distribution` is not in the bundle")
            && err.contains("[project] dependencies"),
        "{err}"
    );
    assert!(!err.contains("nothing may be printed"), "{err}");

    fs_err::write(&probe, format!("{source}\nRATIO = 1 / 0\n")).expect("write");
    // Both run fine without pre-initialisation, where top-level code runs at run time.
    let built = project
        .build_with(|o| o.overrides.preinit = Some(false))
        .expect("build without preinit");
    let run = run_wasmtime(&built.output, &Invocation::new(&["fresh"])).expect("run");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("ZeroDivisionError"), "{}", run.stderr);
}

/// A stdlib C module this CPython lacks (zlib, linked from pywasm's own wheel) imported at top
/// level, on a machine where the wheel was never built: the build warns, and the failed start
/// names the module and the command that provides it, not top-level code.
#[test]
fn a_missing_stdlib_c_module_names_itself_and_its_wheel() {
    let project = Project::fixture("fresh_state");
    let probe = project.root.join("src/fresh/probe.py");
    let source = fs_err::read_to_string(&probe).expect("read");
    fs_err::write(&probe, format!("import zlib\n{source}")).expect("write");
    let (_dir, bare) = pywasm_tests::home_without_wheels();
    let err = project
        .build_with(|o| o.home = Some(bare.clone()))
        .expect_err("zlib is not there");
    let err = format!("{err:#}");
    let command = format!("pywasm wheel build zlib --python {}", default_minor());
    assert!(
        err.contains("the stdlib C module `zlib` is not available")
            && err.contains(&command)
            && err.contains("--build-missing"),
        "{err}"
    );
    assert!(!err.contains("nothing may be printed"), "{err}");
}

/// The snapshot keeps the modules imported at build time once: their bytecode is dropped from
/// the embedded image (and reads as absent), `inspect --verify` accounts for it, and importing
/// one again fails with the reason. The stdlib's bytecode has no docstrings unless
/// `docstrings = "keep"`; the app's keep theirs, and `assert` runs either way.
#[test]
fn snapshot_modules_are_stored_once_and_the_stdlib_without_docstrings() {
    let project = Project::fixture("snapshot_footprint");
    let run = |built: &BuildOutcome| -> Value {
        let out = run_wasmtime(&built.output, &Invocation::new(&["footprint"])).expect("run");
        assert_eq!((out.code, out.stderr.as_str()), (0, ""), "{}", out.stdout);
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
    };
    let common = serde_json::json!({
        "app_doc": "The app's own docstrings stay.",
        "module_doc": "What pre-initialisation and docstring stripping leave: printed as one JSON line.",
        "assert": "asserts run",
        "csv_reads": [["a", "b"]],
    });
    let expect = |extra: Value| {
        let mut all = common.clone();
        all.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        all
    };

    let built = project.build().expect("build");
    assert_eq!(
        run(&built),
        expect(serde_json::json!({
            "stdlib_doc": false,
            "csv_doc": false,
            "json_bytecode_listed": false,
            "json_bytecode_exists": false,
            "reload": "ImportError",
        }))
    );
    let verified = pywasm_core::runner::inspect::inspect(
        &built.output,
        true,
        pywasm_core::runner::inspect::DEFAULT_MAX_SIZE,
    )
    .expect("inspect");
    let check = verified.verification.as_ref().expect("verified");
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    assert!(
        check.files_in_snapshot > 20 && check.files_checked > 10,
        "{} dropped, {} checked",
        check.files_in_snapshot,
        check.files_checked
    );
    assert!(
        verified
            .table(false)
            .contains("only the pre-initialised snapshot holds"),
        "{}",
        verified.table(false)
    );
    let node = run_node(&built.output, &Invocation::new(&["footprint"])).expect("node");
    assert_eq!(
        serde_json::from_str::<Value>(&node.stdout).ok(),
        Some(run(&built))
    );

    // Without pre-initialisation nothing is dropped; `docstrings = "keep"` keeps the stdlib's.
    let pyproject = project.root.join("pyproject.toml");
    let text = fs_err::read_to_string(&pyproject).expect("read");
    fs_err::write(&pyproject, format!("{text}docstrings = \"keep\"\n")).expect("write");
    let kept = project
        .build_with(|o| o.overrides.preinit = Some(false))
        .expect("build without preinit");
    assert_eq!(
        run(&kept),
        expect(serde_json::json!({
            "stdlib_doc": true,
            "csv_doc": true,
            "json_bytecode_listed": true,
            "json_bytecode_exists": true,
            "reload": "reloaded",
        }))
    );
    let check = pywasm_core::runner::inspect::inspect(
        &kept.output,
        true,
        pywasm_core::runner::inspect::DEFAULT_MAX_SIZE,
    )
    .expect("inspect");
    assert_eq!(check.verification.expect("verified").files_in_snapshot, 0);
}

/// `teardown = "auto"` (the default) ends a run without CPython's teardown when nothing alive
/// needs it, and the output stays the same: the work saved is counted in fuel (wasm
/// instructions), not timed. Objects from the snapshot with a finalizer keep the teardown. The
/// run itself parses no Python.
#[test]
fn a_run_skips_the_teardown_only_when_no_finalizer_needs_it() {
    let project = Project::fixture("exits");
    let quick = project.build().expect("build");
    let fuel = |built: &BuildOutcome| {
        fuel::fuel_used(&built.output, &["exits", "none"], "mode: none\n").expect("fuel")
    };
    let quick_fuel = fuel(&quick);
    project.configure("teardown = \"always\"");
    let full = project.build().expect("build with teardown = \"always\"");
    let full_fuel = fuel(&full);
    // A run parses and compiles no Python of pywasm's own (the resume and the entry's call are
    // compiled at build time) and the exit's check imports nothing: 88,378 units on 2026-12-06,
    // where parsing them at run time took 978,550.
    assert!(
        quick_fuel < 250_000,
        "a run that prints one line takes {quick_fuel} units of fuel"
    );
    assert!(
        quick_fuel * 10 < full_fuel * 8,
        "without the teardown the run takes {quick_fuel} units of fuel, with it {full_fuel}"
    );
    for mode in ["none", "finalizer", "generator", "atexit", "unflushed"] {
        let src = project.root.join("src");
        assert_same_as_native(
            &full.output,
            &src,
            "exits.main:main",
            &Invocation::new(&["exits", mode]),
        );
    }

    let keeper = Project::fixture("exit_finalizer");
    let built = keeper.build().expect("build");
    let native = assert_same_as_native(
        &built.output,
        &keeper.root.join("src"),
        "keeper:main",
        &Invocation::new(&["keeper"]),
    );
    assert_eq!(
        native.stdout,
        "hello\ngoodbye from an object made at import\n"
    );
}

/// The training run (`preinit-train`, on by default) has the modules the entry function imports
/// imported into the snapshot: the run does the same, with a fraction of the work (in fuel, not
/// timed). When the run cannot teach anything (it runs past its time limit) or what it found
/// prints when imported at build time, the build goes on without it and the module is the same.
#[test]
fn the_training_run_moves_lazy_imports_into_the_snapshot() {
    let project = Project::fixture("lazy_imports");
    let src = project.root.join("src");
    let same = |built: &BuildOutcome, args: &[&str]| {
        let mut argv = vec!["lazy"];
        argv.extend(args);
        let inv = Invocation::new(&argv).env("LAZY_GREETING", "hi");
        assert_same_as_native(&built.output, &src, "lazy:main", &inv)
    };
    let sum = "{\"total\": \"0.3\", \"greeting\": \"unset\"}\n";
    let fuel = |built: &BuildOutcome| fuel::fuel_used(&built.output, &["lazy"], sum).expect("fuel");

    let trained = project.build().expect("build");
    assert_eq!(
        same(&trained, &[]).stdout,
        "{\"total\": \"0.3\", \"greeting\": \"hi\"}\n"
    );
    same(&trained, &["zen"]);
    let trained_fuel = fuel(&trained);

    project.configure("preinit-train = false");
    let untrained = project.build().expect("build without training");
    let untrained_fuel = fuel(&untrained);
    assert!(
        trained_fuel * 2 < untrained_fuel,
        "trained, the run takes {trained_fuel} units of fuel, untrained {untrained_fuel}"
    );

    for args in ["[\"zen\"]", "[\"forever\"]"] {
        let project = Project::fixture("lazy_imports");
        project.configure(&format!("preinit-train-args = {args}"));
        let built = project
            .build()
            .unwrap_or_else(|e| panic!("build with preinit-train-args = {args}: {e:#}"));
        let src = project.root.join("src");
        for mode in [&[][..], &["zen"][..]] {
            let mut argv = vec!["lazy"];
            argv.extend(mode);
            assert_same_as_native(&built.output, &src, "lazy:main", &Invocation::new(&argv));
        }
    }
}
