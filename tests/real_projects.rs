//! What real projects do and used to break: wait for time to pass, load modules by names given
//! as strings, depend on packages that ship only native wheels, write scratch files. Modules run
//! in wasmtime, the wasmtime CLI and node, and are compared with native CPython on the same
//! sources.

#![allow(clippy::unwrap_used)]

use std::ffi::OsStr;
use std::path::Path;

use pywasm_core::python::lock::{LOCK_FILE, Lock, Source};

use pywasm_tests::*;
use serde_json::Value;

/// Asserts that the module prints what native CPython prints running the project's sources
/// with `pins` installed by pip (with their C speedups, where they have them).
fn same_as_native(project: &Project, wasm: &Path, pins: &[&str], entry: &str) -> Outcome {
    let site = project.root.join("native-site");
    let args: Vec<&OsStr> = pins.iter().map(OsStr::new).collect();
    pip_install_target(&site, &args).unwrap();
    let src = project.root.join("src");
    assert_same_as_native_on(wasm, &[&src, &site], entry, &Invocation::new(&["app"]))
}

/// Asserts that the module exits with 0 and prints `expected` on every host.
fn prints_on_every_host(wasm: &Path, inv: &Invocation, expected: &str) {
    for (runtime, got) in on_every_host(wasm, inv) {
        assert_eq!(
            (got.code, got.stdout.as_str()),
            (0, expected),
            "{runtime} {:?}: {}",
            inv.args,
            got.stderr
        );
    }
}

/// Runs the module in wasmtime, the wasmtime CLI and node, with no preopened directory.
fn on_every_host(wasm: &Path, inv: &Invocation) -> [(&'static str, Outcome); 3] {
    [
        ("wasmtime", run_wasmtime(wasm, inv).expect("wasmtime")),
        (
            "wasmtime CLI",
            run_wasmtime_cli(wasm, inv).expect("wasmtime CLI"),
        ),
        ("node", run_node(wasm, inv).expect("node")),
    ]
}

/// Every single-threaded way to wait (`time.sleep`, `select`, a selector, a queue's and an
/// event's timeout) waits as long as asked, in wasmtime, the wasmtime CLI and node. node's WASI
/// ignores the absolute-time flag that CPython's sleeps use; the module's runtime turns such
/// waits into relative ones, or node would wait for decades.
#[test]
fn waits_last_as_long_as_asked_on_every_host() {
    let project = Project::fixture("sleeper");
    let built = project.build().expect("build");
    let inv = Invocation::new(&["sleeper", "0.3"]);
    for (runtime, got) in on_every_host(&built.output, &inv) {
        assert_eq!(got.code, 0, "{runtime}: {}", got.stderr);
        let waits: Value = serde_json::from_str(&got.stdout).expect("one JSON line");
        let waits = waits.as_object().expect("an object");
        assert_eq!(waits.len(), 5, "{runtime}: {waits:?}");
        for (name, seconds) in waits {
            let seconds = seconds.as_f64().expect("seconds");
            // Never shorter than asked (less the clock's rounding); a lost wait or a wait until
            // some far deadline is what this catches, not the host's scheduling.
            assert!(
                (0.29..30.0).contains(&seconds),
                "{runtime}: `{name}` waited {seconds} s for 0.3 s"
            );
        }
    }
}

/// Each form of loading a module by a literal name (`importlib.util.find_spec`,
/// `importlib.import_module`, `__import__`, `pkgutil.resolve_name` with and without a colon)
/// keeps the module in the bundle, as native CPython runs it.
#[test]
fn modules_named_by_literals_in_loader_calls_are_kept() {
    let project = Project::fixture("literal_imports");
    let built = project.build().expect("build");
    let src = project.root.join("src");
    let native = assert_same_as_native(
        &built.output,
        &src,
        "literal_imports:main",
        &Invocation::new(&["literal-imports"]),
    );
    assert_eq!(native.code, 0, "{}", native.stderr);
    assert!(native.stdout.contains("resolve_name dotted: 'a b'"));
}

/// Markdown loads `html.parser` through `find_spec`; its raw HTML blocks render as natively.
#[test]
fn markdown_finds_its_html_parser() {
    let project = Project::fixture("markdown_app");
    project.lock().expect("pywasm lock");
    let built = project.build().expect("build");
    let native = same_as_native(&project, &built.output, &["markdown==3.7"], "md_app:main");
    assert!(
        native
            .stdout
            .contains("<p>Raw <b>HTML</b> passes through</p>"),
        "{}",
        native.stdout
    );
}

/// MarkupSafe (Jinja2's) and PyYAML ship only native wheels besides their sdists. With no extra
/// key, each is built without a C compiler into its pure-Python fallback, recorded as such in the
/// lock, and the module prints what native CPython (with their C speedups) prints;
/// `require-extensions` turns the fallback into an error naming the package.
#[test]
fn native_only_packages_fall_back_to_pure_python() {
    let project = Project::fixture("fallbacks");
    project.lock().expect("pywasm lock");
    let lock = Lock::load(&project.root).unwrap().expect("pywasm.lock");
    for name in ["markupsafe", "pyyaml"] {
        let pkg = lock
            .packages
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .unwrap_or_else(|| panic!("{name} is not locked"));
        assert_eq!(
            (pkg.source, pkg.pure_fallback),
            (Source::Sdist, true),
            "{name}"
        );
    }
    let jinja = lock.packages.iter().find(|p| p.name == "jinja2").unwrap();
    assert!(!jinja.pure_fallback);

    let built = project.build().expect("build from the lock");
    let pins = ["jinja2==3.1.6", "markupsafe==3.0.4", "pyyaml==6.0.4"];
    let native = same_as_native(&project, &built.output, &pins, "fallbacks:main");
    assert!(
        native.stdout.contains("&lt;b&gt;haddock&lt;/b&gt;"),
        "{}",
        native.stdout
    );

    let pyproject = project.root.join("pyproject.toml");
    let text = fs_err::read_to_string(&pyproject).unwrap();
    fs_err::write(
        &pyproject,
        format!("{text}require-extensions = [\"PyYAML\"]\n"),
    )
    .unwrap();
    fs_err::remove_file(project.root.join(LOCK_FILE)).unwrap();
    let err = format!(
        "{:#}",
        project.lock().expect_err("PyYAML must keep its C code")
    );
    assert!(
        err.to_lowercase()
            .contains("`pyyaml` 6.0.4 needs native code")
            && err.contains("`[tool.pywasm] require-extensions` rules out"),
        "{err}"
    );
}

/// What a WASI preview1 module cannot do, each with the exact exception the README's "Platform
/// limits" names, the same in wasmtime, the wasmtime CLI and node.
#[test]
fn platform_limits_raise_what_the_readme_says() {
    let project = Project::fixture("platform_limits");
    let built = project.build().expect("build");
    let expected = platform_limits_output(&default_minor());
    let inv = Invocation::new(&["platform-limits"]);
    prints_on_every_host(&built.output, &inv, &expected);
}

/// Recursion far past the limit, in Python and through C (repr, json, pickle, copy, re,
/// comparisons, key functions), raises RecursionError as natively on every host, with the
/// default 1 MiB C stack; recursion within the limit works. The stack sits at the bottom of
/// linear memory, so an overflow would trap rather than overwrite the heap.
#[test]
fn deep_recursion_raises_instead_of_overflowing_the_stack() {
    let project = Project::fixture("deep_recursion");
    let built = project.build().expect("build");
    let module = fs_err::read(&built.output).unwrap();
    let layout = pywasm_core::module::describe::memory_layout(&module)
        .unwrap()
        .unwrap();
    assert_eq!(
        layout.stack_top,
        pywasm_core::settings::DEFAULT_STACK_SIZE,
        "the stack is not the first thing in linear memory"
    );
    let inv = Invocation::new(&["deep-recursion"]);
    let native = run_native(&project.root.join("src"), "deep_recursion:main", &inv).unwrap();
    assert_eq!(native.code, 0, "{}", native.stderr);
    assert_eq!(native.stdout.matches("RecursionError").count(), 10);
    prints_on_every_host(&built.output, &inv, &native.stdout);
}

/// Scratch files written and read back through tempfile, shutil and os (an unlinked file kept
/// open, appends, truncation, renames over files and of directories, hard links, the errors of
/// each misuse) behave as on a real `/tmp`, in every host, with no preopened directory.
#[test]
fn scratch_files_in_tmp_behave_as_natively_on_every_host() {
    let project = Project::fixture("scratch");
    let built = project.build().expect("build");
    let inv = Invocation::new(&["scratch", "roundtrip"]);
    let native = run_native(&project.root.join("src"), "scratch:main", &inv).unwrap();
    assert_eq!(native.code, 0, "{}", native.stderr);
    assert!(
        native.stdout.contains("hard link: 2 True"),
        "{}",
        native.stdout
    );
    prints_on_every_host(&built.output, &inv, &native.stdout);
}

/// `tempfile` picks the in-memory `/tmp`; it holds what `tmp-size` says (1 MiB in the fixture),
/// a write past that fails with ENOSPC and removing a file gives the space back; symbolic links
/// are refused as the README says. A directory the host mounts at `/tmp` takes its place.
#[test]
fn tmp_is_bounded_and_a_host_mount_takes_its_place() {
    let project = Project::fixture("scratch");
    let built = project.build().expect("build");
    let checks = [
        (
            "where",
            "/tmp\nPermissionError: [Errno 63] Operation not permitted: '/tmp' -> '/tmp/link'\n",
        ),
        (
            "fill",
            "OSError: [Errno 51] No space left on device after 1048576 bytes\n\
             space is back: 1048576\n",
        ),
        ("host", "['from-module.txt']\n"),
    ];
    for (arg, expected) in checks {
        prints_on_every_host(&built.output, &Invocation::new(&["scratch", arg]), expected);
    }
    for (runtime, run) in [
        ("wasmtime", run_wasmtime as fn(&Path, &Invocation) -> _),
        ("wasmtime CLI", run_wasmtime_cli),
        ("node", run_node),
    ] {
        let host_tmp = project
            .root
            .join(format!("host-tmp-{}", runtime.replace(' ', "-")));
        fs_err::create_dir_all(&host_tmp).unwrap();
        fs_err::write(host_tmp.join("already-here.txt"), "").unwrap();
        let inv = Invocation::new(&["scratch", "host"])
            .dir("/tmp", &host_tmp)
            .writable();
        let got = run(&built.output, &inv).expect(runtime);
        assert_eq!(
            (got.code, got.stdout.as_str()),
            (0, "['already-here.txt', 'from-module.txt']\n"),
            "{runtime}: {}",
            got.stderr
        );
        let written = fs_err::read_to_string(host_tmp.join("from-module.txt")).unwrap();
        assert_eq!(written, "written by the module\n", "{runtime}");
    }
}
