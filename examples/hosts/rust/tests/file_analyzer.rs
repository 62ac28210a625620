//! `examples/file-analyzer` (lxml inside) through this host, as a file-analysis service runs it:
//! one instance, `process` per file. Every file's result or error, and every event it emits
//! through `host.emit`, is what native CPython with lxml gives for the same sources; an error
//! leaves the instance serving the next file.

#![allow(clippy::unwrap_used)]

use std::ffi::OsStr;
use std::process::Command;

use pywasm_tests::library::{Answer, FILE_ANALYZER_SAMPLES, call_natively_with_events};
use pywasm_tests::*;
use serde_json::Value;

#[test]
fn the_file_analyzer_answers_as_native_cpython_does() {
    let project = Project::example("file-analyzer");
    // Online: lxml's WASI wheel is built on this machine, so no lock with its digest is
    // checked in.
    let built = project
        .build_with(|options| options.offline = false)
        .expect("build");
    let samples = project.root.join("samples");
    let names = FILE_ANALYZER_SAMPLES;
    let files: Vec<_> = names.iter().map(|n| samples.join(n)).collect();

    let out = Command::new(env!("CARGO_BIN_EXE_wasmtime-host"))
        .arg(&built.output)
        .args(&files)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), names.len(), "{lines:?}");

    let site = project.root.join("native-site");
    pip_install_target(&site, &[OsStr::new("lxml==6.2.0")]).unwrap();
    let calls: Vec<(&str, Vec<u8>)> = files
        .iter()
        .map(|f| ("process", fs_err::read(f).unwrap()))
        .collect();
    let native = call_natively_with_events(
        &[&project.root.join("src"), &site],
        &[("process", "file_analyzer.analyze:process")],
        &["emit"],
        &calls,
        &project.root,
    )
    .unwrap();

    for ((line, (answer, events)), name) in lines.iter().zip(&native).zip(names) {
        match answer {
            Answer::Ok(bytes) => {
                let expected: Value = serde_json::from_slice(bytes).unwrap();
                assert_eq!(line["result"], expected, "{name}");
            }
            Answer::Raised(first) => {
                let error = line["error"].as_str().unwrap_or_default();
                assert_eq!(error.lines().next(), Some(first.as_str()), "{name}");
            }
        }
        let expected: Vec<Value> = events
            .iter()
            .map(|e| serde_json::from_slice(e).unwrap())
            .collect();
        assert_eq!(line["emitted"], Value::Array(expected), "{name}");
    }
    // The cases the example is for: links found and reported, malformed input as an error.
    assert_eq!(lines[0]["result"]["links"], 6);
    assert_eq!(lines[0]["emitted"].as_array().unwrap().len(), 7);
    assert!(
        lines[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("lxml.etree.XMLSyntaxError: Opening and ending tag mismatch"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[5], lines[0]);
    let pages: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("memory: ")?.strip_suffix(" pages"))
        .unwrap()
        .parse()
        .unwrap();
    eprintln!(
        "examples/file-analyzer: {pages} pages after {} files",
        names.len()
    );
}
