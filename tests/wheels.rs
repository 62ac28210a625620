//! The wheels of pywasm's recipes (`pywasm wheel build`), used the way users use them:
//! `examples/lxml-app` and `examples/pydantic-app` depend on plain `lxml==…` / `pydantic==…`
//! and print what native CPython prints with the same packages; zlib and sqlite3 are linked when
//! a project imports them. Run in wasmtime and node with no preopened directory. On a machine
//! without the wheels, the error names the command, `--build-missing` runs it, and two builds
//! of one wheel at once build it once.
//!
//! Needs the wheels: `cargo xtask build-wheel --all` (CI runs it first; it is cached).

// Test setup helpers panic on failure, like assertions.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use pywasm_core::Shell;
use pywasm_core::recipes::{self, WheelOptions};
use pywasm_core::sdk::pins::Pins;
use pywasm_tests::{
    Invocation, Project, assert_same_as_native, assert_same_as_native_on, default_minor, home,
    home_without_wheels, run_node, run_wasmtime,
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

/// The wheel of `file` in the shared home's index, which CI's `cargo xtask build-wheel --all`
/// made.
fn indexed(file: &str) -> PathBuf {
    let path = home().wheels_index().join(file);
    assert!(path.is_file(), "`{}` is not built", path.display());
    path
}

fn wheel_file(distribution: &str, version: &str) -> String {
    let tag = format!("cp{}", default_minor().replace('.', ""));
    format!("{distribution}-{version}-{tag}-{tag}-wasi_0_0_0_wasm32.whl")
}

/// What the binary does for `pywasm wheel build zlib`, from the recipe compiled into it: in a
/// home without wheels, two builds at once (two threads, each taking the entry's file lock as
/// two processes do) build it once and both return it; the wheel is byte for byte the one CI
/// built; it lands in the index every build offers to pip; a third call finds it fresh.
#[test]
fn wheel_build_makes_the_recipe_wheel_once_for_two_at_a_time_and_reproducibly() {
    let (_dir, bare) = home_without_wheels();
    let pins = Pins::embedded().unwrap();
    let built: Vec<recipes::RecipeWheel> = std::thread::scope(|scope| {
        let builds: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    recipes::build(
                        &Shell::quiet(),
                        &bare,
                        "zlib",
                        &pins,
                        WheelOptions::default(),
                    )
                    .unwrap()
                })
            })
            .collect();
        builds.into_iter().map(|b| b.join().unwrap()).collect()
    });
    // One built it; the other waited for the entry's lock and found it made.
    let mut fresh: Vec<bool> = built.iter().map(|w| w.fresh).collect();
    fresh.sort();
    assert_eq!(fresh, [false, true]);
    assert_eq!(built[0].path, built[1].path);
    let built: Vec<PathBuf> = built.into_iter().map(|w| w.path).collect();
    let entry = built[0].parent().unwrap();
    let entries: Vec<_> = fs_err::read_dir(bare.root().join("wheels"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries.len(), 2, "one entry and the index: {entries:?}");
    let file = wheel_file("pywasm_stdlib_zlib", &pins.sources["zlib"].version);
    let expected = fs_err::read(indexed(&file)).unwrap();
    assert_eq!(
        fs_err::read(&built[0]).unwrap(),
        expected,
        "not reproducible"
    );
    assert_eq!(
        fs_err::read(bare.wheels_index().join(&file)).unwrap(),
        expected
    );
    // Nothing left in the home's work area.
    let tmp: Vec<_> = fs_err::read_dir(bare.tmp_dir()).unwrap().collect();
    assert!(tmp.is_empty(), "{tmp:?}");
    let modified = fs_err::metadata(&built[0]).unwrap().modified().unwrap();
    let again = recipes::build(
        &Shell::quiet(),
        &bare,
        "zlib",
        &pins,
        WheelOptions::default(),
    )
    .unwrap();
    assert!(again.fresh);
    let again = again.path;
    assert_eq!(again, built[0]);
    assert_eq!(
        fs_err::metadata(&again).unwrap().modified().unwrap(),
        modified
    );
    assert_eq!(entry, again.parent().unwrap());
}

/// A project that imports zlib and sqlite3, on a machine without their wheels: `--build-missing`
/// builds both from the recipes and the module matches native CPython.
#[test]
fn build_missing_builds_the_stdlib_wheels_a_project_imports() {
    let (_dir, bare) = home_without_wheels();
    let project = Project::fixture("stdlib_ext");
    let built = project
        .build_with(|o| {
            o.home = Some(bare.clone());
            o.build_missing = true;
        })
        .expect("build with --build-missing");
    assert_eq!(built.contents.extension_names(), ["_sqlite3", "zlib"]);
    let out = assert_same_as_native(
        &built.output,
        &project.root.join("src"),
        "stdext:main",
        &Invocation::new(&["stdext"]),
    );
    assert!(
        out.stdout.contains("zlib round trip: True"),
        "{}",
        out.stdout
    );
    let index = bare.wheels_index();
    for dist in ["pywasm_stdlib_zlib", "pywasm_stdlib_sqlite3"] {
        let found = fs_err::read_dir(&index)
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().starts_with(dist));
        assert!(found, "{dist} is not in `{}`", index.display());
    }
}

/// `dependencies = ["lxml==…"]` on a machine where lxml's wheel was never built: one error that
/// names the distribution and the exact command, and says `--build-missing` runs it. With it,
/// the recipe's wheel is made (here found in the wheel cache, as a second machine sharing it
/// would; building lxml from scratch takes about ten minutes, and the test above builds a recipe
/// from scratch) and the same project builds and matches native CPython. A lock made where the
/// wheel exists gives the same error on a machine without it; `pywasm build --build-missing`
/// builds from the lock there, and `pywasm lock --build-missing` on a third one locks the same
/// hash.
#[test]
fn a_dependency_with_a_recipe_names_the_command_and_build_missing_runs_it() {
    let (_dir, bare) = home_without_wheels();
    let project = Project::example("lxml-app");
    let err = project
        .build_with(|o| {
            o.home = Some(bare.clone());
            o.offline = false;
        })
        .expect_err("lxml's wheel is not built in this home");
    let text = format!("{err:#}");
    let command = format!("pywasm wheel build lxml --python {}", default_minor());
    assert!(
        text.contains("`lxml`") && text.contains(&command) && text.contains("--build-missing"),
        "{text}"
    );
    assert!(
        text.contains("pyproject.toml:5:"),
        "points at the requirement: {text}"
    );
    assert!(
        recipes::MissingWheels::find(&err).is_some_and(|m| m.recipes == ["lxml"]),
        "{text}"
    );
    let lxml = &Pins::embedded().unwrap().sources["lxml"].version;
    let file = wheel_file("lxml", lxml);
    copy_lxml_entry(&bare, &file);
    let built = project
        .build_with(|o| {
            o.home = Some(bare.clone());
            o.offline = false;
            o.build_missing = true;
        })
        .expect("build with --build-missing");
    assert!(
        built.contents.extension_names().contains(&"lxml.etree"),
        "{:?}",
        built.contents.extension_names()
    );
    assert!(bare.wheels_index().join(&file).is_file());
    let site = project.native_site(&default_minor(), &[&format!("lxml=={lxml}")]);
    let out = assert_same_as_native_on(
        &built.output,
        &[&project.root.join("src"), &site],
        "lxml_app.cli:main",
        &Invocation::new(&["lxml-app"]),
    );
    assert!(out.stdout.contains("schema valid: True"), "{}", out.stdout);

    // The project's lock, made on the machine with the wheel, pins it as pywasm's built wheel.
    let locked = project.lock().expect("pywasm lock");
    let pinned = locked
        .dists
        .iter()
        .find(|d| d.locked.file == file)
        .expect("lxml is locked")
        .locked
        .sha256
        .clone();
    let (_dir2, bare2) = home_without_wheels();
    let err = project
        .build_with(|o| o.home = Some(bare2.clone()))
        .expect_err("the lock pins a wheel this home lacks");
    let text = format!("{err:#}");
    assert!(
        text.contains(&format!("pins `{file}` from pywasm's built wheels"))
            && text.contains(&command),
        "{text}"
    );
    copy_lxml_entry(&bare2, &file);
    let again = project
        .build_with(|o| {
            o.home = Some(bare2.clone());
            o.build_missing = true;
        })
        .expect("build --build-missing with the lock");
    assert_eq!(again.sha256, built.sha256, "the same module from the lock");
    let (_dir3, bare3) = home_without_wheels();
    copy_lxml_entry(&bare3, &file);
    let options = pywasm_core::LockOptions {
        project_dir: project.root.clone(),
        home: Some(bare3.clone()),
        build_missing: true,
        ..pywasm_core::LockOptions::default()
    };
    let relocked =
        pywasm_core::lock(&options, &Shell::quiet()).expect("pywasm lock --build-missing");
    assert!(
        relocked
            .dists
            .iter()
            .any(|d| d.locked.file == file && d.locked.sha256 == pinned),
        "{:?}",
        relocked.dists
    );
}

/// Puts the shared home's cache entry of lxml's wheel (as `pywasm wheel build lxml` left it)
/// into `home`'s wheel cache, without adding it to `home`'s index. The entry of the current
/// recipe: its wheel is the one in the index (an older recipe's entry may hold a wheel of the
/// same name).
fn copy_lxml_entry(home: &pywasm_core::sdk::SdkHome, file: &str) {
    let current = fs_err::read(indexed(file)).unwrap();
    let entry = fs_err::read_dir(pywasm_tests::home().root().join("wheels"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|dir| fs_err::read(dir.join(file)).is_ok_and(|bytes| bytes == current))
        .expect("the shared home has lxml's wheel");
    let name = entry.file_name().unwrap();
    copy_dir(&entry, &home.root().join("wheels").join(name));
}

fn copy_dir(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs_err::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A requirement the recipe's version does not satisfy, on a machine where that wheel is
/// built: the error says the requirements rule it out, and `--build-missing` has nothing to
/// build.
#[test]
fn a_requirement_the_recipe_does_not_meet_is_named_not_rebuilt() {
    let project = Project::example("lxml-app");
    let pyproject = project.root.join("pyproject.toml");
    let text = fs_err::read_to_string(&pyproject).unwrap();
    let lxml = &Pins::embedded().unwrap().sources["lxml"].version;
    fs_err::write(
        &pyproject,
        text.replace(&format!("\"lxml=={lxml}\""), "\"lxml<6\""),
    )
    .unwrap();
    let err = project
        .build_with(|o| {
            o.offline = false;
            o.build_missing = true;
        })
        .expect_err("no WASI build of lxml<6");
    let text = format!("{err:#}");
    assert!(
        text.contains(&format!(
            "pywasm's recipe `lxml` builds {lxml}, which is built here, and the requirements \
             rule it out"
        )),
        "{text}"
    );
    assert!(recipes::MissingWheels::find(&err).is_none(), "{text}");
}
