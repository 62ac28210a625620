//! The wheels `cargo xtask build-wheel` makes, used the way users use them: `examples/lxml-app`
//! and `examples/pydantic-app` depend on plain `lxml==…` / `pydantic==…` and print what native
//! CPython prints with the same packages; zlib and sqlite3 are linked when a project imports
//! them. Run in wasmtime and node with no preopened directory.
//!
//! Needs the wheels: `cargo xtask build-wheel --all` (CI runs it first; it is cached).

// Test setup helpers panic on failure, like assertions.
#![allow(clippy::unwrap_used)]

use pywasm_tests::{
    Invocation, Project, assert_same_as_native_on, default_minor, run_node, run_wasmtime,
};

#[test]
fn lxml_example_matches_native() {
    let project = Project::example("lxml-app");
    let built = project
        .build_with(|o| o.offline = false)
        .expect("build examples/lxml-app (needs `cargo xtask build-wheel lxml`)");
    let names = built.contents.extension_names();
    for module in ["lxml.etree", "lxml.objectify", "lxml._elementpath", "zlib"] {
        assert!(names.contains(&module), "{module} not linked: {names:?}");
    }
    let site = project.native_site(&default_minor(), &["lxml==6.2.0"]);
    let src = project.root.join("src");
    let out = assert_same_as_native_on(
        &built.output,
        &[&src, &site],
        "lxml_app.cli:main",
        &Invocation::new(&["lxml-app"]),
    );
    assert_eq!(out.code, 2);
    // Read by libxml2 itself, with C file I/O: the schema's include and isoschematron's XSL.
    assert!(out.stdout.contains("schema valid: True"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("schematron failures: ['A book should cost less than 70.']"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("most expensive: 72 EUR"),
        "{}",
        out.stdout
    );
}

#[test]
fn pydantic_example_matches_native() {
    let project = Project::example("pydantic-app");
    let built = project
        .build_with(|o| o.offline = false)
        .expect("build examples/pydantic-app (needs `cargo xtask build-wheel pydantic-core`)");
    assert!(
        built
            .contents
            .extensions
            .iter()
            .any(|(m, _)| m.name == "pydantic_core._pydantic_core"),
        "pydantic_core not linked"
    );
    let site = project.native_site(&default_minor(), &["pydantic==2.14.3"]);
    let src = project.root.join("src");
    let bad = r#"{"id": "nope", "customer": {"name": "x", "email": "bad", "address": {"street": "s", "city": "c", "postcode": "??"}}, "placed": "2024-13-01", "lines": []}"#;
    let dup = r#"{"id": "0f8fad5b-d9cb-469f-a165-70867728950e", "customer": {"name": "bo", "email": "b@x.io", "address": {"street": "s", "city": "c", "postcode": "AB123"}}, "placed": "2024-01-02", "lines": [{"sku": "AA-001", "qty": 1, "unit_price": "1"}, {"sku": "AA-001", "qty": 2, "unit_price": "1"}]}"#;
    let cases = [
        Invocation::new(&["pydantic-app"]),
        Invocation::new(&["pydantic-app"]).stdin(bad),
        Invocation::new(&["pydantic-app"]).stdin(dup),
        Invocation::new(&["pydantic-app"]).stdin("{not json"),
    ];
    let codes: Vec<i32> = cases
        .iter()
        .map(|inv| {
            assert_same_as_native_on(&built.output, &[&src, &site], "pydantic_app.cli:main", inv)
                .code
        })
        .collect();
    assert_eq!(codes, [0, 1, 1, 1]);
}

#[test]
fn zlib_and_sqlite3_are_linked_when_imported() {
    let project = Project::fixture("stdlib_ext");
    let built = project
        .build()
        .expect("build (needs `cargo xtask build-wheel zlib sqlite3`)");
    let names = built.contents.extension_names();
    assert_eq!(names, ["_sqlite3", "zlib"]);
    let src = project.root.join("src");
    let db_dir = tempfile::tempdir().unwrap();
    let out = assert_same_as_native_on(
        &built.output,
        &[&src],
        "stdext:main",
        &Invocation::new(&["stdext"]),
    );
    assert!(
        out.stdout.contains("zlib round trip: True"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("('ada', 9.5)"), "{}", out.stdout);
    // A database file on a preopened host directory.
    let inv = Invocation::new(&["stdext", "/data/t.db"])
        .dir("/data", db_dir.path())
        .writable();
    for run in [run_wasmtime, run_node] {
        let got = run(&built.output, &inv).unwrap();
        assert_eq!(got.code, 0, "{}", got.stderr);
    }
    assert!(db_dir.path().join("t.db").is_file());
    let again = run_wasmtime(&built.output, &inv).unwrap();
    assert!(again.stdout.contains("rows on disk: 3"), "{}", again.stdout);

    // Without an import of either, neither is linked.
    let plain = Project::example("hello").build().unwrap();
    let linked = plain.contents.extension_names();
    assert!(!linked.contains(&"_sqlite3"), "{linked:?}");
}

/// pydantic-core is built with panic=abort: no WebAssembly exception-handling encoding runs on
/// both node 20 and wasmtime 48, so a Rust panic traps instead of raising `PanicException`. The
/// panic message still reaches stderr, and the host sees a failure, never a hang or a success.
#[test]
fn a_rust_panic_in_pydantic_core_traps_with_its_message() {
    let project = Project::fixture("pydantic_panic");
    let built = project
        .build_with(|o| o.offline = false)
        .expect("build (needs `cargo xtask build-wheel pydantic-core`)");
    let ok = Invocation::new(&["panic", "--no-panic"]);
    assert_eq!(
        run_wasmtime(&built.output, &ok).unwrap().stdout,
        "validated 0f8fad5b-d9cb-469f-a165-70867728950e\n"
    );
    let inv = Invocation::new(&["panic"]);
    let err = run_wasmtime(&built.output, &inv).expect_err("wasmtime must trap");
    let text = format!("{err:#}");
    assert!(
        text.contains("trapped") && text.contains("entered unreachable code"),
        "{text}"
    );
    let node = run_node(&built.output, &inv).unwrap();
    assert_eq!(node.code, 1, "{}", node.stderr);
    assert!(
        node.stderr.contains("entered unreachable code"),
        "{}",
        node.stderr
    );
    assert!(
        node.stderr.contains("RuntimeError: unreachable"),
        "{}",
        node.stderr
    );
}
