//! Library modules (docs/abi.md): Python functions that hosts call many times on one live
//! instance. Every call's result is compared across wasmtime, node, wazero, wasmer and native
//! CPython.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use pywasm_tests::library::{
    Answer, UDF_EXPORTS, WazeroLimits, call_in_wasmtime, call_in_wazero, call_natively,
    call_on_every_host, udf_calls,
};
use pywasm_tests::wasmer::call_in_wasmer;
use pywasm_tests::*;

const EXPORTS: [(&str, &str); 13] = [
    ("add", "scorer:add"),
    ("count", "scorer:count"),
    ("crash", "scorer:crash"),
    ("enrich", "scorer:enrich"),
    ("fail", "scorer:fail"),
    ("hog", "scorer:hog"),
    ("nap", "scorer:nap"),
    ("nothing", "scorer:nothing"),
    ("reverse", "scorer:reverse"),
    ("score", "scorer:score"),
    ("shout", "scorer:shout"),
    ("spin", "scorer:spin"),
    ("summary", "scorer:summary"),
];

/// One call of each way the ABI passes values, an exception between calls that change module
/// state, a host function, and bad input.
fn calls() -> Vec<(&'static str, Vec<u8>)> {
    let b = |s: &str| s.as_bytes().to_vec();
    vec![
        ("score", b(r#"{"name": "a", "value": 2, "tags": ["x"]}"#)),
        ("score", b(r#"{"name": "b", "value": 0.5}"#)),
        ("shout", b("héllo wörld")),
        ("reverse", vec![0, 1, 2, 255, b'a']),
        ("summary", b("[1, 2, 3.5]")),
        ("add", b("[1, 2]")),
        ("add", b("[5]")),
        ("count", vec![]),
        ("count", vec![]),
        ("fail", b("bad row")),
        ("count", vec![]),
        ("enrich", b("k1")),
        ("nothing", vec![]),
        ("score", b("not json")),
        ("add", b(r#"{"a": 1}"#)),
        ("shout", vec![]),
    ]
}

fn text(answer: &Answer) -> String {
    match answer {
        Answer::Ok(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Answer::Raised(line) => format!("raised {line}"),
    }
}

/// The library answers every call as native CPython does, in wasmtime, node and wazero (Go),
/// pre-initialised or not; module globals persist and an exception leaves the instance usable.
#[test]
fn every_call_answers_as_natively_on_every_host() {
    let project = Project::fixture("library");
    let calls = calls();
    let native = call_natively(
        &[&project.root.join("src")],
        &EXPORTS,
        &["lookup"],
        &calls,
        &project.root,
    )
    .unwrap();
    let expected: Vec<String> = native.iter().map(text).collect();
    assert_eq!(
        expected,
        [
            r#"{"name":"a","score":3.0,"tags":["x"]}"#,
            r#"{"name":"b","score":0.75,"tags":[]}"#,
            "HÉLLO WÖRLD!",
            "a\u{fffd}\u{2}\u{1}\u{0}",
            r#"{"n":3,"mean":2.1666666666666665}"#,
            "3",
            "15",
            "1",
            "2",
            "raised ValueError: bad row",
            "3",
            r#"{"key":"k1","host":{"len":2,"text":"k1"}}"#,
            "",
            "raised json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
            "raised TypeError: expected a JSON array of 2 arguments",
            "!",
        ]
    );
    for preinit in [true, false] {
        let built = project
            .build_with(|o| o.overrides.preinit = Some(preinit))
            .expect("build");
        let (hosts, printed) = call_on_every_host(&built.output, &calls, &project.root).unwrap();
        for (host, answers) in hosts {
            assert_eq!(answers, native, "{host}, preinit = {preinit}");
        }
        assert_eq!(printed, "called for its side effect\n");
    }
}

/// The module is a WASI reactor with exactly the ABI's exports and the declared host import.
#[test]
fn a_library_exports_the_abi_and_no_start() {
    let project = Project::fixture("library");
    let built = project.build().expect("build");
    let bytes = fs_err::read(&built.output).unwrap();
    let mut exports = Vec::new();
    let mut imports = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        match payload.unwrap() {
            wasmparser::Payload::ExportSection(reader) => {
                for export in reader {
                    exports.push(export.unwrap().name.to_string());
                }
            }
            wasmparser::Payload::ImportSection(reader) => {
                for import in reader {
                    let import = import.unwrap();
                    if import.module != "wasi_snapshot_preview1" {
                        imports.push(format!("{}.{}", import.module, import.name));
                    }
                }
            }
            _ => {}
        }
    }
    exports.sort();
    let mut expected: Vec<String> = [
        "_initialize",
        "memory",
        "pywasm_alloc",
        "pywasm_error",
        "pywasm_free",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(EXPORTS.iter().map(|(name, _)| name.to_string()))
    .collect();
    expected.sort();
    assert_eq!(exports, expected);
    assert_eq!(imports, ["env.lookup"]);

    // The build manifest records the ABI, for `pywasm inspect` and for hosts that check.
    let manifest = pywasm_core::runner::inspect::inspect(
        &built.output,
        true,
        pywasm_core::runner::inspect::DEFAULT_MAX_SIZE,
    )
    .unwrap()
    .manifest;
    let library = manifest.library.expect("a library");
    assert_eq!(library.abi, pywasm_core::module::library::ABI_VERSION);
    assert_eq!(library.exports.len(), EXPORTS.len());
    assert_eq!(
        library.imports,
        [("env.lookup".to_string(), "lookup".to_string())]
    );
}

/// Each mistake in `[tool.pywasm.exports]` and `[tool.pywasm.imports]` is one located error, and
/// no module is written.
#[test]
fn bad_exports_are_located_errors_and_write_nothing() {
    let cases: [(&str, &str, &[&str]); 10] = [
        (
            "[tool.pywasm.exports]\nbad = \"scorer.nope:f\"\n",
            "",
            &["module `scorer.nope` not found", "pyproject.toml:"],
        ),
        (
            "[tool.pywasm.exports]\nbad = \"scorer:nope\"\n",
            "",
            &["function `nope` is not defined", "pyproject.toml:"],
        ),
        (
            "[tool.pywasm.exports]\nbad = \"scorer:_calls\"\n",
            "",
            &[
                "export `bad` (`scorer:_calls`): `_calls` is a int, not a function",
                "pyproject.toml:",
            ],
        ),
        (
            "[tool.pywasm.exports]\nbad = \"scorer:weird\"\n",
            "",
            &[
                "parameter `value` is annotated `complex`",
                "pyproject.toml:",
                "docs/abi.md",
            ],
        ),
        (
            "[tool.pywasm.exports]\nmemory = \"scorer:count\"\n",
            "",
            &[
                "`memory` is a name the module's ABI uses itself",
                "pyproject.toml:",
            ],
        ),
        (
            "[tool.pywasm.exports]\ncount = \"scorer:count\"\n",
            "[tool.pywasm.imports]\ncount = \"env\"\n",
            &[
                "`count` is both an export and a host import",
                "pyproject.toml:",
            ],
        ),
        (
            "[tool.pywasm]\ncomponent = true\n[tool.pywasm.exports]\nscore = \"scorer:score\"\n",
            "",
            &[
                "export `score`: the return value is annotated `dict`, which has no WIT type",
                "pyproject.toml:",
                "docs/abi.md",
            ],
        ),
        (
            "[tool.pywasm]\ncomponent = true\npreinit = false\n[tool.pywasm.exports]\nsummary = \"scorer:summary\"\nscore = \"scorer:score\"\n",
            "",
            &["the return value is annotated `dict`", "pyproject.toml:"],
        ),
        (
            "[tool.pywasm]\ncomponent = true\n[tool.pywasm.exports]\nrow_2 = \"scorer:count\"\n",
            "",
            &["the export name `row_2` has no WIT name", "pyproject.toml:"],
        ),
        (
            "[tool.pywasm]\ncomponent = true\n[tool.pywasm.exports]\nMemory = \"scorer:count\"\n",
            "",
            &[
                "`Memory` is a name a component's core module uses itself",
                "pyproject.toml:",
            ],
        ),
    ];
    for (exports, imports, expected) in cases {
        let project = Project::fixture("library");
        let pyproject = project.root.join("pyproject.toml");
        let head = "[project]\nname = \"scorer\"\nversion = \"0.1.0\"\n\n";
        fs_err::write(&pyproject, format!("{head}{exports}{imports}")).unwrap();
        let err = format!("{:#}", project.build().expect_err(exports));
        for part in expected {
            assert!(
                err.contains(part),
                "{exports}: `{part}` missing from:\n{err}"
            );
        }
        assert!(
            err.lines().count() < 25,
            "{exports}: not one screen:\n{err}"
        );
        assert!(!project.root.join("dist/scorer.wasm").exists(), "{exports}");
    }
}

/// Running out of memory (a host cap of 64 MiB here, in wasmtime and in wasmer) raises
/// MemoryError in the call and leaves the instance usable; a trap (here `os.abort()`) ends the
/// call with an error naming it.
#[test]
fn memory_exhaustion_raises_and_a_trap_ends_the_call() {
    let project = Project::fixture("library");
    let built = project.build().expect("build");
    let calls = vec![
        ("count", vec![]),
        ("hog", b"200000000".to_vec()),
        ("count", vec![]),
    ];
    let expected = [
        Answer::Ok(b"1".to_vec()),
        Answer::Raised("MemoryError".into()),
        Answer::Ok(b"2".to_vec()),
    ];
    let (answers, _) = call_in_wasmtime(&built.output, &calls, Some(64 << 20)).unwrap();
    assert_eq!(answers, expected, "wasmtime");
    let (answers, pages) =
        call_in_wasmer(&built.output, &calls, Some(1024), &project.root).unwrap();
    assert_eq!(answers, expected, "wasmer");
    assert!(pages <= 1024, "{pages} pages");
    let calls = vec![("count", vec![]), ("crash", vec![])];
    let err = format!(
        "{:#}",
        call_in_wasmtime(&built.output, &calls, None).unwrap_err()
    );
    assert!(err.contains("calling `crash` trapped"), "{err}");
    let err = format!(
        "{:#}",
        call_in_wasmer(&built.output, &calls, None, &project.root).unwrap_err()
    );
    assert!(err.contains("calling `crash` trapped"), "{err}");
}

/// A call past the host's time limit (wazero's, as a database engine sets it) is stopped, and
/// the host gets an error naming the deadline instead of waiting for the call to end.
#[test]
fn a_time_limit_stops_a_runaway_call_in_wazero() {
    let project = Project::fixture("library");
    let built = project.build().expect("build");
    // Two minutes of computing: without the limit the call returns, and the test fails.
    let calls = vec![("count", vec![]), ("spin", b"120".to_vec())];
    let limits = WazeroLimits {
        timeout: Some(Duration::from_secs(1)),
        ..WazeroLimits::default()
    };
    let err = call_in_wazero(&built.output, &calls, limits, &project.root).unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("calling spin: module closed with context deadline exceeded"),
        "{err}"
    );
}

/// `time.sleep` inside a call waits as long as asked in wasmtime, node and wazero (absolute
/// clock waits are made relative by the module's runtime; node would otherwise wait for decades).
#[test]
fn sleeps_in_a_call_last_as_asked_on_every_host() {
    let project = Project::fixture("library");
    let built = project.build().expect("build");
    let calls = vec![("nap", b"0.3".to_vec())];
    let (hosts, _) = call_on_every_host(&built.output, &calls, &project.root).unwrap();
    for (host, answers) in hosts {
        let Answer::Ok(bytes) = &answers[0] else {
            panic!("{host}: {answers:?}");
        };
        let seconds: f64 = String::from_utf8_lossy(bytes).parse().unwrap();
        assert!(
            (0.29..30.0).contains(&seconds),
            "{host} slept {seconds} s for 0.3 s"
        );
    }
}

/// `examples/udf`, a row scorer with a host lookup (the one `cargo xtask bench` times), scores
/// rows as native CPython does in wasmtime, node and wazero; in wazero under the database
/// engine's cap of 256 pages (16 MiB), after a thousand rows.
#[test]
fn the_udf_example_scores_rows_as_natively_on_every_host() {
    let project = Project::example("udf");
    let built = project.build().expect("build");
    let rows = [
        r#"{"id": 1, "name": "widget", "amount": 12.5, "tags": ["priority"]}"#,
        r#"{"id": 2, "name": "gadget", "amount": 3}"#,
        r#"{"id": 3, "name": "", "amount": -1.25, "tags": []}"#,
    ];
    let calls = udf_calls(&rows);
    let exports = UDF_EXPORTS;
    let native = call_natively(
        &[&project.root.join("src")],
        &exports,
        &["lookup"],
        &calls,
        &project.root,
    )
    .unwrap();
    assert_eq!(
        native[0],
        Answer::Ok(br#"{"id":1,"score":112.5,"tags":1}"#.to_vec())
    );
    let (hosts, _) = call_on_every_host(&built.output, &calls, &project.root).unwrap();
    for (host, answers) in hosts {
        assert_eq!(answers, native, "{host}");
    }

    let many: Vec<(&str, Vec<u8>)> = (0..1000)
        .map(|i| {
            let row =
                format!(r#"{{"id": {i}, "name": "row {i}", "amount": {i}.5, "tags": ["a"]}}"#);
            ("score", row.into_bytes())
        })
        .collect();
    let (answers, pages) = call_in_wazero(
        &built.output,
        &many,
        WazeroLimits {
            max_pages: Some(256),
            ..WazeroLimits::default()
        },
        &project.root,
    )
    .unwrap();
    assert!(
        answers.iter().all(|a| matches!(a, Answer::Ok(_))),
        "{answers:?}"
    );
    assert!(pages <= 256, "{pages} pages");
    eprintln!("examples/udf: {pages} pages after 1000 rows under wazero");
    // The same cap in wasmer, as a service on wasmer 6 sets it.
    let (answers, pages) = call_in_wasmer(&built.output, &many, Some(256), &project.root).unwrap();
    assert!(
        answers.iter().all(|a| matches!(a, Answer::Ok(_))),
        "{answers:?}"
    );
    assert!(pages <= 256, "{pages} pages");
    eprintln!("examples/udf: {pages} pages after 1000 rows under wasmer");
}

/// A library built as a component: every WIT type pywasm derives from annotations, called with
/// typed values from wasmtime on one instance, answers as the same functions do natively;
/// state persists, an exception is the call's `err` and leaves the instance usable; the world
/// is what `pywasm wit` prints. Pre-initialised or not.
#[test]
fn typed_components_answer_as_natively() {
    use pywasm_tests::component::{
        TypedCalls, call_component, call_component_in_node, numbers_as_f64,
    };
    use serde_json::json;

    let project = Project::fixture("typed_library");
    let typed = TypedCalls::of_fixture(&project.root).unwrap();
    let calls = &typed.calls;
    let native = typed
        .natively(&native_python().unwrap(), &project.root)
        .unwrap();
    assert_eq!(native[3], json!({"err": "ValueError: bad row"}));
    assert_eq!(native[4], json!({"ok": 3}));

    for preinit in [true, false] {
        let built = project
            .build_with(|o| o.overrides.preinit = Some(preinit))
            .expect("build");
        assert!(wasmparser::Parser::is_component(
            &fs_err::read(&built.output).unwrap()
        ));
        let answers = call_component(&built.output, calls).unwrap();
        assert_eq!(answers.len(), native.len());
        for ((call, answer), expected) in calls.iter().zip(&answers).zip(&native) {
            assert_eq!(answer, expected, "{call:?}, preinit {preinit}");
        }
        assert!(
            built
                .wit
                .as_deref()
                .unwrap()
                .contains("export toggle: func(%flags: list<bool>)")
        );
        // An int the WIT type cannot hold is the call's error, not a wrong number.
        let overflow =
            call_component(&built.output, &[("maybe-double", json!([i64::MAX]))]).unwrap();
        let err = overflow[0]["err"].as_str().unwrap_or_default();
        assert!(err.starts_with("OverflowError: "), "{overflow:?}");
        if preinit {
            // node 20 through jco, on the same instance for every call.
            let answers = call_component_in_node(&built.output, calls, &project.root).unwrap();
            assert_eq!(answers.len(), native.len());
            for ((call, answer), expected) in calls.iter().zip(&answers).zip(&native) {
                assert_eq!(
                    numbers_as_f64(answer),
                    numbers_as_f64(expected),
                    "{call:?} in node"
                );
            }
        }
    }
}

/// What the host hands over (strings, lists, a parameter block) and what a result owns are
/// freed: a few hundred calls moving 64 KiB each, some refused before the function runs, stay
/// under a memory cap that a leak would pass many times over.
#[test]
fn typed_calls_free_what_they_are_given() {
    use pywasm_tests::component::call_component_capped;
    use serde_json::json;

    let project = Project::fixture("typed_library");
    let built = project.build().expect("build");
    let big = "ü".repeat(32 * 1024);
    let bytes: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let mut calls = Vec::new();
    for i in 0..300 {
        let x = if i % 3 == 0 { 13.0 } else { 1.0 };
        calls.push(("describe-point", json!([{"x": x, "y": 0.0}, big])));
        calls.push(("invert", json!([bytes])));
        let mut wide: Vec<serde_json::Value> = (0..15).map(|k| json!(k)).collect();
        wide.push(json!(0.5));
        wide.push(json!(big));
        calls.push(("sum17", serde_json::Value::Array(wide)));
    }
    // 900 calls moving about 128 KiB each would leak over 100 MiB.
    let answers = call_component_capped(&built.output, &calls, Some(48 << 20)).unwrap();
    assert_eq!(answers.len(), calls.len());
    for (i, answer) in answers.iter().enumerate() {
        // Past the cap, malloc fails and the call answers MemoryError.
        if i % 9 == 0 {
            assert_eq!(
                answer,
                &json!({"err": "ValueError: unlucky point"}),
                "call {i}"
            );
        } else {
            assert!(answer.get("ok").is_some(), "call {i}: {answer}");
        }
    }
}

/// `pywasm wit` is for libraries: on a command it says so before building anything.
#[test]
fn the_world_of_a_command_is_an_error() {
    let project = Project::example("hello");
    let err = format!("{:#}", project.wit().expect_err("a command has no world"));
    assert!(err.contains("is a command"), "{err}");
    assert!(err.contains("[tool.pywasm.exports]"), "{err}");
    assert!(!project.root.join("dist").exists());
}
