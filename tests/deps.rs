//! Dependencies: real index packages resolved by pip, static WASI extension wheels compiled here
//! with the pinned SDK, and the ways a dependency can be refused. Built modules run in wasmtime
//! and node with no preopens and are compared with native CPython on the same wheels.
//!
//! Needs the SDK (`cargo xtask fetch-sdk`), node 20+, python3.11 with pip, and the package index
//! pip is configured with.

// The helpers below are test setup: a failure there is a failed test, like an assertion.
#![allow(clippy::unwrap_used)]

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use pywasm_core::python::lock::{LOCK_FILE, Lock, Source};
use pywasm_core::python::wheel::{WheelName, WheelWriter};
use pywasm_tests::ext::{self, CModule, Dist};
use pywasm_tests::{
    Invocation, Project, assert_same_as_native_on, default_minor, pip_install_target, run_node,
    run_wasmtime,
};

/// The same wheels the module bundles, installed for native CPython with pip itself.
fn native_site(project: &Project, wheels: &[PathBuf], name: &str, version: &str) -> PathBuf {
    let site = project.root.join("native-site");
    let mut args: Vec<&OsStr> = vec![OsStr::new("--no-deps")];
    args.extend(wheels.iter().map(|w| w.as_os_str()));
    pip_install_target(&site, &args).unwrap();
    let info = site.join(format!("{}-{version}.dist-info", name.replace('-', "_")));
    fs_err::create_dir_all(&info).unwrap();
    fs_err::write(
        info.join("METADATA"),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"),
    )
    .unwrap();
    // What pip would write for the fixture's `[project.entry-points]`.
    fs_err::write(
        info.join("entry_points.txt"),
        "[deps_report.formats]\nplain = report.cli:main\n",
    )
    .unwrap();
    site
}

#[test]
fn index_packages_match_native() {
    let project = Project::fixture("deps_index");
    let resolution = project.lock().expect("pywasm lock");
    let lock = Lock::load(&project.root)
        .unwrap()
        .expect("pywasm.lock written");
    let names: Vec<&str> = lock.packages.iter().map(|p| p.name.as_str()).collect();
    for expected in ["attrs", "Jinja2", "MarkupSafe", "packaging", "tomli"] {
        assert!(
            names.iter().any(|n| n.eq_ignore_ascii_case(expected)),
            "{expected} missing from {names:?}"
        );
    }
    let markupsafe = lock
        .packages
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case("markupsafe"))
        .unwrap();
    assert_eq!(markupsafe.source, Source::Sdist);
    assert!(
        markupsafe
            .sdist_sha256
            .as_ref()
            .is_some_and(|s| s.len() == 64)
    );
    assert!(lock.packages.iter().all(|p| p.sha256.len() == 64));

    // With the lock and a warm cache the build needs no network at all.
    let built = project.build().expect("offline build from the lock");
    let table = built.contents.table();
    assert!(
        table.contains("MarkupSafe") && table.contains("pure (built from sdist)"),
        "{table}"
    );
    // Besides the locked distributions, only stdlib modules pywasm links on its own (zlib).
    let bundled = built
        .contents
        .dists
        .iter()
        .filter(|d| !d.name.starts_with("pywasm-stdlib-"));
    assert_eq!(bundled.count(), lock.packages.len());

    let wheels: Vec<PathBuf> = resolution.dists.iter().map(|d| d.wheel.clone()).collect();
    let site = native_site(&project, &wheels, "deps-report", "1.4.0");
    let src = project.root.join("src");
    let doc = "note = \"<ok> & done\"\n[[items]]\nname = \"eggs\"\nqty = 3\n[[items]]\nname = \"bacon\"\nqty = 1\n";
    let cases = [
        Invocation::new(&["deps-report"]).stdin(doc),
        Invocation::new(&["deps-report"]),
        Invocation::new(&["deps-report", "--fail"]).stdin(doc),
        Invocation::new(&["deps-report"]).stdin("[[items]]\nname = 'x'\nqty = -5\n"),
    ];
    let outcomes: Vec<_> = cases
        .iter()
        .map(|inv| assert_same_as_native_on(&built.output, &[&src, &site], "report.cli:main", inv))
        .collect();
    assert_eq!(
        outcomes.iter().map(|o| o.code).collect::<Vec<_>>(),
        [0, 0, 1, 1]
    );
    let first = &outcomes[0].stdout;
    assert!(first.contains("1. Bacon x1\n2. Eggs x3 (bulk)"), "{first}");
    assert!(first.contains("&lt;ok&gt; &amp; done"), "{first}");
    for pkg in &lock.packages {
        let line = format!("{} {}\n", pkg.name.to_lowercase(), pkg.version);
        assert!(first.contains(&line), "`{line}` not in\n{first}");
    }
    assert!(first.contains("deps-report 1.4.0\n"), "{first}");
    assert!(
        first.contains("[('deps_report.formats', 'plain', 'report.cli:main')]"),
        "{first}"
    );

    // Same lock, same inputs: the same bytes.
    let again = project.build().expect("second build");
    assert_eq!(again.sha256, built.sha256);

    // A cold cache: the sdist is downloaded again, checked against the lock, and rebuilt.
    let home = pywasm_tests::home();
    let _ = fs_err::remove_dir_all(home.cache("wheels").join(&markupsafe.sha256));
    let sdist_sha = markupsafe.sdist_sha256.clone().unwrap();
    for entry in fs_err::read_dir(home.cache("built")).unwrap() {
        let entry = entry.unwrap();
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(&sdist_sha[..24])
        {
            fs_err::remove_dir_all(entry.path()).unwrap();
        }
    }
    let rebuilt = project
        .build_with(|o| o.offline = false)
        .expect("build from the lock with a cold cache");
    let out = run_wasmtime(&rebuilt.output, &cases[0]).unwrap();
    assert_eq!(out.stdout, outcomes[0].stdout);

    // An index file that no longer matches the lock is refused.
    let lock_path = project.root.join(LOCK_FILE);
    let attrs = lock.packages.iter().find(|p| p.name == "attrs").unwrap();
    let text = fs_err::read_to_string(&lock_path).unwrap();
    fs_err::write(&lock_path, text.replace(&attrs.sha256, &"0".repeat(64))).unwrap();
    fs_err::remove_dir_all(project.root.join("dist")).unwrap();
    let text = build_error(&project);
    assert!(text.contains("is stale"), "{text}");
    assert!(text.contains(&attrs.file), "{text}");
    assert!(text.contains(&attrs.sha256), "{text}");
}

#[test]
fn static_extension_wheels_are_linked_and_imported() {
    let project = Project::fixture("ext_app");
    let native = project.root.join("native");
    let wheels = project.root.join("wheels");
    let (speedups_dir, single_dir) = (native.join("speedups"), native.join("single"));
    let speedups = Dist {
        name: "pywasm-fixture-speedups",
        version: "1.0",
        dir: &speedups_dir,
        packages: &["speedups"],
        modules: &[CModule {
            name: "speedups.sub._multi",
            source: "_multi.c",
            init: None,
        }],
    };
    // Its init symbol is renamed, as two `_single` modules in one program would need.
    let single = Dist {
        name: "pywasm-fixture-single",
        version: "1.2",
        dir: &single_dir,
        packages: &["single"],
        modules: &[CModule {
            name: "single._single",
            source: "_single.c",
            init: Some("PyInit_single__single"),
        }],
    };
    ext::wheel(&speedups, &wheels).expect("build the speedups wheel");
    ext::unpacked(&single, &wheels).expect("build the unpacked single wheel");

    let built = project
        .build_with(|o| o.offline = false)
        .expect("build with extension wheels");
    let modules: Vec<(&str, &str)> = built
        .contents
        .extensions
        .iter()
        .filter(|(m, _)| m.name != "zlib")
        .map(|(m, _)| (m.name.as_str(), m.init.as_str()))
        .collect();
    assert_eq!(
        modules,
        [
            ("single._single", "PyInit_single__single"),
            ("speedups.sub._multi", "PyInit__multi")
        ]
    );
    let expected = "\
fib 832040 55
scaled [4.0, 10.0, -12.0]
multi speedups.sub._multi 1.0-wasi built-in
single 42 single._single
error scale() needs a list, not str
state 1 2 3
pywasm-fixture-speedups 1.0
pywasm-fixture-single 1.2
ext-app 2.0.1
builtin True
found built-in
";
    let inv = Invocation::new(&["ext-app"]);
    for (runtime, outcome) in [
        ("wasmtime", run_wasmtime(&built.output, &inv).unwrap()),
        ("node", run_node(&built.output, &inv).unwrap()),
    ] {
        assert_eq!(
            (outcome.code, outcome.stdout.as_str()),
            (3, expected),
            "{runtime} stderr:\n{}",
            outcome.stderr
        );
    }
}

/// A pure wheel of `pywasm-fixture-local` whose module prints `value`.
fn local_wheel(dir: &Path, value: &str) -> PathBuf {
    let init = format!("VALUE = {value:?}\n");
    local_wheel_with(dir, &[("fixture_local/__init__.py", init.as_bytes())])
}

/// `pywasm-fixture-local` 1.0 holding `files` (and its METADATA and WHEEL).
fn local_wheel_with(dir: &Path, files: &[(&str, &[u8])]) -> PathBuf {
    let name = WheelName::parse("pywasm_fixture_local-1.0-py3-none-any.whl").unwrap();
    let mut w = WheelWriter::new(name);
    let info = "pywasm_fixture_local-1.0.dist-info";
    for (path, contents) in files {
        w.add(path, contents.to_vec()).unwrap();
    }
    w.add(
        &format!("{info}/METADATA"),
        b"Metadata-Version: 2.1\nName: pywasm-fixture-local\nVersion: 1.0\n".to_vec(),
    )
    .unwrap();
    w.add(
        &format!("{info}/WHEEL"),
        b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec(),
    )
    .unwrap();
    w.write(dir).unwrap()
}

/// Rewrites one member of a zip, keeping every other member (RECORD included) as it was.
fn rewrite_member(wheel: &Path, member: &str, contents: &[u8], rename_to: Option<&str>) {
    let bytes = fs_err::read(wheel).unwrap();
    let mut input = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for i in 0..input.len() {
        let mut file = input.by_index(i).unwrap();
        let name = file.name().to_string();
        let mut data = Vec::new();
        file.read_to_end(&mut data).unwrap();
        if name == member {
            out.start_file(rename_to.unwrap_or(&name), options).unwrap();
            out.write_all(contents).unwrap();
        } else {
            out.start_file(&name, options).unwrap();
            out.write_all(&data).unwrap();
        }
    }
    fs_err::write(wheel, out.finish().unwrap().into_inner()).unwrap();
}

fn build_error(project: &Project) -> String {
    let err = project
        .build_with(|o| o.offline = false)
        .expect_err("the build must fail");
    let text = pywasm_core::shell::render_error(&err);
    let outputs: Vec<_> = fs_err::read_dir(&project.root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() == "dist")
        .collect();
    assert!(
        outputs.is_empty(),
        "a failed build left `dist/` behind:\n{text}"
    );
    text
}

#[test]
fn tampered_and_escaping_wheels_are_refused() {
    let project = Project::fixture("local_wheel");
    let wheels = project.root.join("wheels");
    fs_err::create_dir_all(&wheels).unwrap();
    let wheel = local_wheel(&wheels, "good");

    rewrite_member(
        &wheel,
        "fixture_local/__init__.py",
        b"VALUE = 'evil'\n",
        None,
    );
    let text = build_error(&project);
    assert!(text.contains("does not match its RECORD"), "{text}");
    assert!(text.contains("fixture_local/__init__.py"), "{text}");
    assert!(
        text.contains("pywasm_fixture_local-1.0-py3-none-any.whl"),
        "{text}"
    );

    let wheel = local_wheel(&wheels, "good");
    rewrite_member(
        &wheel,
        "fixture_local/__init__.py",
        b"VALUE = 1\n",
        Some("../../escape.py"),
    );
    let text = build_error(&project);
    assert!(text.contains("../../escape.py"), "{text}");
    assert!(text.contains("traversal"), "{text}");
    assert!(!project.root.join("escape.py").exists());
}

#[test]
fn stale_and_outdated_locks_are_refused() {
    let project = Project::fixture("local_wheel");
    let wheels = project.root.join("wheels");
    fs_err::create_dir_all(&wheels).unwrap();
    local_wheel(&wheels, "first");
    let resolution = project.lock().expect("lock");
    assert_eq!(resolution.dists[0].locked.source, Source::Wheels);
    let built = project.build().expect("locked build");
    let out = run_wasmtime(&built.output, &Invocation::new(&["app"])).unwrap();
    assert_eq!(out.stdout, "first\n");
    fs_err::remove_dir_all(project.root.join("dist")).unwrap();

    local_wheel(&wheels, "second");
    let text = build_error(&project);
    assert!(
        text.contains(&format!(
            "`{}` is stale",
            project.root.join(LOCK_FILE).display()
        )),
        "{text}"
    );
    assert!(
        text.contains("pywasm_fixture_local-1.0-py3-none-any.whl"),
        "{text}"
    );
    assert!(text.contains("run `pywasm lock`"), "{text}");

    let pyproject = project.root.join("pyproject.toml");
    let text = fs_err::read_to_string(&pyproject).unwrap();
    fs_err::write(
        &pyproject,
        text.replace(
            "\"pywasm-fixture-local\"",
            "\"pywasm-fixture-local\", \"tomli\"",
        ),
    )
    .unwrap();
    let text = build_error(&project);
    assert!(
        text.contains("is out of date: dependencies changed: + tomli"),
        "{text}"
    );
}

/// Packs every `sdist-src/<name>-<version>/` of the project into `vendor/<name>-<version>.tar.gz`.
fn pack_sdists(project: &Project) {
    let vendor = project.root.join("vendor");
    fs_err::create_dir_all(&vendor).unwrap();
    for entry in fs_err::read_dir(project.root.join("sdist-src")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let status = Command::new("tar")
            .arg("-czf")
            .arg(vendor.join(format!("{name}.tar.gz")))
            .arg("-C")
            .arg(project.root.join("sdist-src"))
            .arg(&name)
            .status()
            .unwrap();
        assert!(status.success(), "tar failed for {name}");
    }
}

#[test]
fn sdists_are_built_when_pure_and_refused_with_native_code() {
    let project = Project::fixture("local_sdists");
    pack_sdists(&project);
    let built = project
        .build_with(|o| o.offline = false)
        .expect("build with a pure sdist");
    let dist = &built.contents.dists[0];
    assert_eq!(
        (dist.name.as_str(), dist.source),
        ("pywasm-fixture-puresdist", Source::Sdist)
    );
    for run in [run_wasmtime, run_node] {
        let out = run(&built.output, &Invocation::new(&["app"])).unwrap();
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "pure from source 1.0\n"),
            "{}",
            out.stderr
        );
    }
    fs_err::remove_dir_all(project.root.join("dist")).unwrap();

    let pyproject = project.root.join("pyproject.toml");
    let text = fs_err::read_to_string(&pyproject).unwrap();
    let text = text.replace(
        "\"pywasm-fixture-puresdist\"",
        "\"pywasm-fixture-puresdist\", \"pywasm-fixture-csdist\"",
    );
    fs_err::write(&pyproject, text).unwrap();
    let text = build_error(&project);
    assert!(
        text.contains("`pywasm-fixture-csdist` 2.0 needs native code and has no WASI build"),
        "{text}"
    );
    assert!(text.contains("pyproject.toml:4:45"), "{text}");
    // With a C compiler on the host the build shows the native file; without one, the failure.
    assert!(
        text.contains(
            "only a source distribution, and building it produces native code (`csdist/_speed."
        ) || text.contains("failed to build a wheel from `pywasm_fixture_csdist-2.0.tar.gz`"),
        "{text}"
    );
}

#[test]
fn native_only_dependencies_are_named() {
    // A local wheel with native code for this very host: pip would install it natively.
    let project = Project::fixture("native_local");
    let wheels = project.root.join("wheels");
    fs_err::create_dir_all(&wheels).unwrap();
    let arch = std::env::consts::ARCH;
    // For the default version, which pip resolves for.
    let cp = format!("cp{}", default_minor().replace('.', ""));
    let name = WheelName::parse(&format!(
        "pywasm_fixture_native-1.0-{cp}-{cp}-manylinux_2_17_{arch}.whl"
    ))
    .unwrap();
    let mut w = WheelWriter::new(name);
    let info = "pywasm_fixture_native-1.0.dist-info";
    w.add(
        "fixture_native/__init__.py",
        b"from ._core import *\n".to_vec(),
    )
    .unwrap();
    w.add(
        &format!(
            "fixture_native/_core.cpython-{}-x86_64-linux-gnu.so",
            &cp[2..]
        ),
        b"\x7fELF".to_vec(),
    )
    .unwrap();
    w.add(
        &format!("{info}/METADATA"),
        b"Metadata-Version: 2.1\nName: pywasm-fixture-native\nVersion: 1.0\n".to_vec(),
    )
    .unwrap();
    w.add(
        &format!("{info}/WHEEL"),
        b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\n".to_vec(),
    )
    .unwrap();
    w.write(&wheels).unwrap();
    let text = build_error(&project);
    assert!(
        text.contains("`pywasm-fixture-native` 1.0 needs native code and has no WASI build"),
        "{text}"
    );
    assert!(text.contains("pyproject.toml:5:5"), "{text}");
    assert!(text.contains("without-extensions"), "{text}");
    assert!(text.contains("WASI extension wheels"), "{text}");

    // A real one from the index.
    let project = Project::fixture("native_index");
    let text = build_error(&project);
    assert!(
        text.contains("`ujson` 5.10.0 needs native code and has no WASI build"),
        "{text}"
    );
    assert!(text.contains("pyproject.toml:5:17"), "{text}");
}

/// A dependency's top-level package that nothing imports is left out of the module, with the
/// same error as a left-out stdlib module; `include` puts it back.
#[test]
fn unused_packages_of_dependencies_are_left_out() {
    let project = Project::fixture("local_wheel");
    let wheels = project.root.join("wheels");
    fs_err::create_dir_all(&wheels).unwrap();
    let info = "pywasm_fixture_local-1.0.dist-info";
    local_wheel_with(
        &wheels,
        &[
            ("fixture_local/__init__.py", b"VALUE = 'used'\n"),
            ("fixture_unused/__init__.py", b"VALUE = 'unused'\n"),
        ],
    );
    fs_err::write(
        project.root.join("src/app/__init__.py"),
        "import importlib\nimport sys\n\n\ndef main():\n    import fixture_local\n    print(fixture_local.VALUE)\n    for name in sys.argv[1:]:\n        try:\n            print(importlib.import_module(name).VALUE)\n        except ImportError as e:\n            print(e)\n            return 3\n",
    )
    .unwrap();

    project.lock().expect("lock");
    let built = project.build().expect("build");
    let files: Vec<String> = pywasm_core::runner::inspect::inspect(
        &built.output,
        true,
        pywasm_core::runner::inspect::DEFAULT_MAX_SIZE,
    )
    .unwrap()
    .manifest
    .files
    .into_iter()
    .map(|f| f.path)
    .collect();
    let site = format!("/usr/local/lib/python{}/site-packages", default_minor());
    assert!(files.contains(&format!("{site}/fixture_local/__init__.py")));
    assert!(
        !files.iter().any(|f| f.contains("fixture_unused")),
        "{files:?}"
    );
    assert!(files.contains(&format!("{site}/{info}/METADATA")));
    let run = run_wasmtime(&built.output, &Invocation::new(&["app", "fixture_unused"])).unwrap();
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .starts_with("used\nNo module named 'fixture_unused': pywasm left"),
        "{}",
        run.stdout
    );

    let pyproject = project.root.join("pyproject.toml");
    let text = fs_err::read_to_string(&pyproject).unwrap();
    fs_err::write(
        &pyproject,
        text.replace(
            "[tool.pywasm]\n",
            "[tool.pywasm]\ninclude = [\"fixture_unused\"]\n",
        ),
    )
    .unwrap();
    project.lock().expect("lock");
    let built = project.build().expect("build with include");
    let run = run_wasmtime(&built.output, &Invocation::new(&["app", "fixture_unused"])).unwrap();
    assert_eq!((run.code, run.stdout.as_str()), (0, "used\nunused\n"));
}

/// A wheel holding a zip bomb (4 MiB of zeros in a few KiB) stops the build at the ratio,
/// naming the wheel, the member and the setting; raising the setting lets a genuine one through.
#[test]
fn a_zip_bomb_wheel_stops_the_build_and_wheel_limits_let_a_genuine_one_through() {
    let project = Project::fixture("local_wheel");
    let wheels = project.root.join("wheels");
    fs_err::create_dir_all(&wheels).unwrap();
    let init = b"VALUE = 'zeros'\n";
    let zeros = vec![0u8; 4 << 20];
    local_wheel_with(
        &wheels,
        &[
            ("fixture_local/__init__.py", init),
            ("fixture_local/zeros.bin", &zeros),
        ],
    );
    let text = build_error(&project);
    assert!(
        text.contains(
            "wheel `pywasm_fixture_local-1.0-py3-none-any.whl`: its member \
             `fixture_local/zeros.bin` unpacks to more than 100 times its compressed size (`ratio`)"
        ),
        "{text}"
    );
    assert!(text.contains("wheel-limits = { ratio = ... }"), "{text}");
    let pyproject = project.root.join("pyproject.toml");
    let mut text = fs_err::read_to_string(&pyproject).unwrap();
    text += "wheel-limits = { ratio = 10000 }\n";
    fs_err::write(&pyproject, text).unwrap();
    let built = project.build_with(|o| o.offline = false).expect("build");
    let out = run_wasmtime(&built.output, &Invocation::new(&["app"])).unwrap();
    assert_eq!(out.stdout, "zeros\n");
}
