//! CPython 3.13 and 3.14, built from their pinned release tarballs (`cargo xtask fetch-sdk
//! --python 3.13 --python 3.14`): the examples and fixtures built with `python = "3.x"` run as
//! the native CPython of the same version does (the one the SDK built beside it), in wasmtime,
//! node and wasmer; library calls also in wazero.

use std::path::Path;

use pywasm_tests::library::{Answer, UDF_EXPORTS, call_natively_in, call_on_every_host, udf_calls};
use pywasm_tests::wasmer::run_wasmer;
use pywasm_tests::{Invocation, Project, assert_same_as_python, native_python_for};

/// The versions besides the default, which the other tests cover fully.
const VERSIONS: [&str; 2] = ["3.13", "3.14"];

fn build_for(project: &Project, minor: &str) -> pywasm_core::BuildOutcome {
    project.configure(&format!("python = \"{minor}\""));
    project
        .build()
        .unwrap_or_else(|e| panic!("build for CPython {minor}: {e:#}"))
}

/// Every runtime prints what native CPython of the same version prints.
fn same_everywhere(python: &Path, wasm: &Path, src: &Path, entry: &str, inv: &Invocation) {
    let native = assert_same_as_python(python, wasm, &[src], entry, inv);
    if inv.stdin.is_empty() {
        let wasmer = run_wasmer(wasm, inv).expect("wasmer run");
        assert_eq!(
            (wasmer.code, wasmer.stdout.as_str()),
            (native.code, native.stdout.as_str()),
            "wasmer differs from native CPython for {:?}\nstderr:\n{}",
            inv.args,
            wasmer.stderr
        );
    }
}

#[test]
fn the_module_runs_the_version_it_was_built_for() {
    for minor in VERSIONS {
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
            out.stdout.starts_with(&format!("version {minor}.")),
            "{}",
            out.stdout
        );
    }
}

#[test]
fn hello_runs_as_native_on_every_version() {
    for minor in VERSIONS {
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
    for minor in VERSIONS {
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
    for minor in VERSIONS {
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
