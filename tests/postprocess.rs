//! Post-processing, end to end, on `examples/hello` and on `examples/lxml-app` (a project with
//! dependencies and C extensions): wasm-opt (`optimize = "size"`) makes the module smaller than
//! the default (`"none"`) without changing what it prints; `inspect --verify` passes on the optimised module and fails on a copy with one byte
//! changed inside an embedded file; the WASI component prints what the core module prints; and
//! the modules run unchanged, with no preopened directory, in every WASI runtime installed here.
//!
//! Needs the SDK, the wheels (`cargo xtask build-wheel --all`) and the test runtimes
//! (`cargo xtask test-runtimes`); `cargo xtask ci` sets all of them up.

// Test setup helpers panic on failure, like assertions.
#![allow(clippy::unwrap_used)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use pywasm_core::module::postprocess::optimize::Optimize;
use pywasm_core::runner::inspect::{DEFAULT_MAX_SIZE, inspect};
use pywasm_core::{BuildOptions, BuildOutcome};
use pywasm_tests::wasmer::run_wasmer;
use pywasm_tests::{
    Invocation, Project, assert_same_as_native_on, pip_install_target, run_component, run_node,
    run_shim, run_wasmtime, run_wasmtime_cli,
};

/// What a test project is run with, and natively against.
struct Case<'a> {
    project: Project,
    entry: &'a str,
    /// A line of the entry module's source, to find it in the module's bytes.
    embedded_source: PathBuf,
    guest_path: &'a str,
    invocations: Vec<Invocation>,
    online: bool,
}

impl Case<'_> {
    fn build(&self, output: &str, change: impl FnOnce(&mut BuildOptions)) -> BuildOutcome {
        let path = self.project.root.join("dist").join(output);
        self.project
            .build_with(|o| {
                o.offline = !self.online;
                o.output = Some(path);
                change(o);
            })
            .unwrap()
    }
}

fn hello() -> Case<'static> {
    let project = Project::example("hello");
    let embedded_source = project.root.join("src/hello/cli.py");
    Case {
        project,
        entry: "hello.cli:main",
        embedded_source,
        guest_path: "/app/hello/cli.py",
        invocations: vec![
            Invocation::new(&["hello"]),
            Invocation::new(&["hello", "--name", "WebAssembly", "--shout"]),
            Invocation::new(&["hello", "--bogus"]),
        ],
        online: false,
    }
}

fn lxml_app() -> Case<'static> {
    let project = Project::example("lxml-app");
    let embedded_source = project.root.join("src/lxml_app/cli.py");
    Case {
        project,
        entry: "lxml_app.cli:main",
        embedded_source,
        guest_path: "/app/lxml_app/cli.py",
        invocations: vec![Invocation::new(&["lxml-app"])],
        online: true,
    }
}

fn custom_sections(module: &Path) -> Vec<String> {
    let bytes = fs_err::read(module).unwrap();
    wasmparser::Parser::new(0)
        .parse_all(&bytes)
        .filter_map(|p| match p.unwrap() {
            wasmparser::Payload::CustomSection(c) => Some(c.name().to_string()),
            _ => None,
        })
        .collect()
}

/// Optimised vs the default: smaller, stripped, and the same output as native CPython.
fn optimise(case: &Case, native_paths: &[&Path]) -> BuildOutcome {
    let plain = case.build("plain.wasm", |_| {});
    let optimised = case.build("optimised.wasm", |o| {
        o.overrides.optimize = Some(Optimize::Size)
    });
    eprintln!(
        "{}: optimize = \"none\" {} bytes, \"size\" {} bytes",
        case.entry, plain.size, optimised.size
    );
    assert!(
        optimised.size < plain.size,
        "optimised {} >= unoptimised {}",
        optimised.size,
        plain.size
    );
    for built in [&plain, &optimised] {
        let sections = custom_sections(&built.output);
        assert!(
            !sections
                .iter()
                .any(|s| s == "name" || s.starts_with(".debug")),
            "{sections:?}"
        );
        assert!(
            sections.iter().any(|s| s == "pywasm.manifest"),
            "{sections:?}"
        );
    }
    let manifest = inspect(&optimised.output, false, DEFAULT_MAX_SIZE)
        .unwrap()
        .manifest;
    assert_eq!(manifest.output.optimize, "size");
    // `--release` means `optimize = "size"` unless told otherwise (the same bytes: binaryen's
    // output is reproducible and cached), and an explicit level wins over the profile.
    let release = case.build("release.wasm", |o| o.overrides.release = true);
    assert_eq!(release.sha256, optimised.sha256);
    let release_plain = case.build("release-plain.wasm", |o| {
        o.overrides.release = true;
        o.overrides.optimize = Some(Optimize::None);
    });
    assert_eq!(release_plain.sha256, plain.sha256);
    // binaryen works on the pre-initialised snapshot, not on the module linked before it: the
    // bytecode the snapshot holds is missing from the image of both.
    let in_snapshot = |built: &BuildOutcome| {
        let checked = inspect(&built.output, true, DEFAULT_MAX_SIZE)
            .unwrap()
            .verification
            .unwrap();
        assert!(checked.problems.is_empty(), "{:?}", checked.problems);
        checked.files_in_snapshot
    };
    let dropped = in_snapshot(&plain);
    assert!(dropped > 10, "{dropped} files only in the snapshot");
    assert_eq!(in_snapshot(&optimised), dropped);
    for inv in &case.invocations {
        let native = assert_same_as_native_on(&optimised.output, native_paths, case.entry, inv);
        let unoptimised = run_wasmtime(&plain.output, inv).unwrap();
        assert_eq!(
            (unoptimised.code, &unoptimised.stdout),
            (native.code, &native.stdout)
        );
    }
    optimised
}

/// `--verify` passes on the module and fails, naming the file, on a copy with one byte changed
/// inside an embedded file.
fn verify(case: &Case, module: &Path) {
    let checked = inspect(module, true, DEFAULT_MAX_SIZE)
        .unwrap()
        .verification
        .unwrap();
    assert!(checked.problems.is_empty(), "{:?}", checked.problems);
    assert!(checked.checksum_checked && checked.files_checked > 50);

    // The image stores the source compressed, exactly as `deflated` compresses it.
    let source = fs_err::read(&case.embedded_source).unwrap();
    let stored = pywasm_core::module::bundle::deflated(&source)
        .unwrap()
        .expect("the source compresses");
    let mut bytes = fs_err::read(module).unwrap();
    let at = bytes
        .windows(40)
        .position(|w| w == &stored[..40])
        .expect("the source is embedded as the image stores it");
    bytes[at + 5] ^= 0x01;
    let tampered = module.with_extension("tampered.wasm");
    fs_err::write(&tampered, &bytes).unwrap();
    let checked = inspect(&tampered, true, DEFAULT_MAX_SIZE)
        .unwrap()
        .verification
        .unwrap();
    let changed = format!("`{}` was changed", case.guest_path);
    assert!(
        checked.problems.iter().any(|p| p.contains(&changed)),
        "{:?}",
        checked.problems
    );
}

/// The component prints what the core module prints and exits with the same code, in wasmtime
/// the crate and the CLI (`wasi:cli/exit.exit-with-code` carries codes other than 0 and 1).
fn component(case: &Case, core: &Path) {
    let component = case.build("component.wasm", |o| o.overrides.component = Some(true));
    assert!(wasmparser::Parser::is_component(
        &fs_err::read(&component.output).unwrap()
    ));
    let checked = inspect(&component.output, true, DEFAULT_MAX_SIZE).unwrap();
    assert!(checked.manifest.output.component_adapter.is_some());
    assert!(checked.verification.unwrap().problems.is_empty());
    for inv in &case.invocations {
        let expected = run_wasmtime(core, inv).unwrap();
        for (runtime, got) in [
            (
                "wasmtime (crate)",
                run_component(&component.output, inv).unwrap(),
            ),
            (
                "wasmtime (CLI)",
                run_wasmtime_cli(&component.output, inv).unwrap(),
            ),
        ] {
            assert_eq!(
                (got.code, &got.stdout),
                (expected.code, &expected.stdout),
                "component under {runtime}, {:?}\nstderr:\n{}",
                inv.args,
                got.stderr
            );
        }
    }
}

/// Every WASI runtime that installs here, with no preopened directory: wasmtime (crate and CLI),
/// node's `node:wasi`, the pure-JavaScript `browser_wasi_shim`, and wasmer 6 (through
/// `examples/hosts/wasmer`).
fn portable(case: &Case, module: &Path) {
    for inv in &case.invocations {
        let reference = run_wasmtime(module, inv).unwrap();
        let runs = [
            ("wasmtime CLI", run_wasmtime_cli(module, inv).unwrap()),
            ("node:wasi", run_node(module, inv).unwrap()),
            ("browser_wasi_shim", run_shim(module, inv).unwrap()),
            ("wasmer", run_wasmer(module, inv).unwrap()),
        ];
        for (runtime, got) in runs {
            assert_eq!(
                (got.code, &got.stdout),
                (reference.code, &reference.stdout),
                "{runtime} differs from wasmtime for {:?}\nstderr:\n{}",
                inv.args,
                got.stderr
            );
        }
    }
}

#[test]
fn hello_is_optimised_verified_wrapped_and_portable() {
    let case = hello();
    let src = case.project.root.join("src");
    let optimised = optimise(&case, &[&src]);
    verify(&case, &optimised.output);
    component(&case, &optimised.output);
    portable(&case, &optimised.output);

    // `--debug` keeps the name section.
    let debug = case.build("debug.wasm", |o| o.debug = true);
    assert!(custom_sections(&debug.output).iter().any(|s| s == "name"));
}

#[test]
fn lxml_app_is_optimised_verified_wrapped_and_portable() {
    let case = lxml_app();
    let site = case.project.root.join("native-site");
    pip_install_target(&site, &[OsStr::new("lxml==6.2.0")]).unwrap();
    let src = case.project.root.join("src");
    let optimised = optimise(&case, &[&src, &site]);
    verify(&case, &optimised.output);
    component(&case, &optimised.output);
    portable(&case, &optimised.output);
}

/// `sys.exit(4)` ends a component with 4; `component-exit-codes = false` keeps to WASI 0.2 hosts
/// older than 0.2.12, where any failure ends with 1.
#[test]
fn components_keep_exit_codes_unless_told_not_to() {
    let project = Project::fixture("exits");
    let inv = Invocation::new(&["exits", "exit"]);
    let with_codes = project
        .build_with(|o| o.overrides.component = Some(true))
        .expect("build");
    let got = run_component(&with_codes.output, &inv).unwrap();
    assert_eq!(
        (got.code, got.stdout.as_str()),
        (4, "mode: exit\n"),
        "{}",
        got.stderr
    );

    let pyproject = project.root.join("pyproject.toml");
    let text = fs_err::read_to_string(&pyproject).unwrap();
    fs_err::write(&pyproject, format!("{text}component-exit-codes = false\n")).unwrap();
    let without = project
        .build_with(|o| o.overrides.component = Some(true))
        .expect("build");
    let got = run_component(&without.output, &inv).unwrap();
    assert_eq!(
        (got.code, got.stdout.as_str()),
        (1, "mode: exit\n"),
        "{}",
        got.stderr
    );
}
