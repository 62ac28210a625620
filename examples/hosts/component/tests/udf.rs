//! `examples/udf` built as a component and called through the typed bindings `bindgen!`
//! generates from its checked-in world: every row's score, the echo and the no-op are what
//! native CPython gives for the same functions; the checked-in world is what `pywasm wit`
//! prints for the project, so a change to the annotations cannot go unnoticed.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use pywasm_tests::library::{Answer, call_natively};
use pywasm_tests::*;
use serde_json::{Value, json};

#[test]
fn the_udf_component_answers_as_native_cpython_does() {
    let project = Project::example("udf");
    let world = project.wit().unwrap();
    let checked_in = fs_err::read_to_string(repo().join("examples/udf/wit/udf.wit")).unwrap();
    assert_eq!(
        world, checked_in,
        "examples/udf/wit/udf.wit is stale: run `pywasm wit examples/udf -o examples/udf/wit/udf.wit`"
    );

    let built = project
        .build_with(|options| options.overrides.component = Some(true))
        .expect("build");
    let rows = [
        json!({"id": 1, "name": "widget", "amount": 12.5, "tags": ["priority"]}),
        json!({"id": 2, "name": "gadget", "amount": 3}),
        json!({"id": 3, "name": "", "amount": -1.25, "tags": []}),
        json!({"id": -7, "name": "ünïcode ✓", "amount": 1e300, "tags": ["a", "b"]}),
    ];
    let mut calls: Vec<Value> = rows.iter().map(|r| json!(["score", r])).collect();
    calls.push(json!(["echo", "ünïcode ✓"]));
    calls.push(json!(["noop"]));
    calls.push(json!(["echo", ""]));
    let file = project.root.join("calls.json");
    fs_err::write(&file, Value::Array(calls.clone()).to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_component-host"))
        .arg(&built.output)
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let answers: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();

    // Natively through the core ABI's Python side: the same functions, JSON out.
    let native_calls: Vec<(&str, Vec<u8>)> = calls
        .iter()
        .map(|c| {
            let name = c[0].as_str().unwrap();
            let argument = match &c[1] {
                Value::Null => Vec::new(),
                Value::String(text) => text.as_bytes().to_vec(),
                row => row.to_string().into_bytes(),
            };
            (name, argument)
        })
        .collect();
    let native = call_natively(
        &[&project.root.join("src")],
        &[
            ("echo", "udf.rows:echo"),
            ("noop", "udf.rows:noop"),
            ("score", "udf.rows:score"),
        ],
        &["lookup"],
        &native_calls,
        &project.root,
    )
    .unwrap();
    assert_eq!(answers.len(), native.len(), "{answers:?}");
    for ((call, answer), expected) in calls.iter().zip(&answers).zip(&native) {
        let Answer::Ok(bytes) = expected else {
            panic!("{call}: native raised {expected:?}");
        };
        let expected = match call[0].as_str().unwrap() {
            "echo" => json!(String::from_utf8_lossy(bytes)),
            "noop" => Value::Null,
            _ => serde_json::from_slice(bytes).unwrap(),
        };
        assert_eq!(answer, &json!({"ok": expected}), "{call}");
    }
}
