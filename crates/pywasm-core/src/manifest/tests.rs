use std::path::Path;

use anyhow::Result;

use super::*;
use crate::module::postprocess::optimize::{Optimize, Profile};
use crate::python::imports::StdlibMode;
use crate::settings::{DEFAULT_STACK_SIZE, DEFAULT_TMP_SIZE};

fn parse(text: &str) -> Result<Manifest> {
    Manifest::parse(Path::new("/p/pyproject.toml"), text)
}

#[test]
fn entry_from_tool_table() {
    let m = parse("[project]\nname = \"hello\"\nversion = \"1.2\"\n[tool.pywasm]\nentry = \"hello.cli:main\"\n").unwrap();
    let ModuleKind::Command(entry) = &m.kind else {
        panic!("a command");
    };
    assert_eq!(
        (entry.module.as_str(), entry.attr.as_str()),
        ("hello.cli", "main")
    );
    assert_eq!(m.version, "1.2");
    assert_eq!(m.output, Path::new("/p/dist/hello.wasm"));
}

#[test]
fn entry_defaults_to_the_single_script() {
    let m = parse("[project]\nname = \"x\"\n[project.scripts]\nx = \"x.app:run\"\n").unwrap();
    assert_eq!(m.kind.display(), "x.app:run");
}

#[test]
fn several_scripts_need_an_explicit_entry() {
    let err = parse("[project]\nname = \"x\"\n[project.scripts]\na = \"x:a\"\nb = \"x:b\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 scripts (`a`, `b`)"), "{err}");
    assert!(err.contains("/p/pyproject.toml:3:1"), "{err}");
}

#[test]
fn stack_size_is_bounded_and_aligned() {
    let head = "[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:main\"\n";
    assert_eq!(parse(head).unwrap().settings.stack_size, DEFAULT_STACK_SIZE);
    let m = parse(&format!("{head}stack-size = \"2 MiB\"\n")).unwrap();
    assert_eq!(m.settings.stack_size, 2 << 20);
    for (value, problem) in [
        ("\"32 KiB\"", "32768 bytes is outside 64 KiB to 64 MiB"),
        ("100004", "100004 bytes is not a multiple of 16"),
    ] {
        let err = parse(&format!("{head}stack-size = {value}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("`stack-size`: {problem}")), "{err}");
        assert!(err.contains("/p/pyproject.toml:5:"), "{err}");
    }
}

#[test]
fn unknown_keys_are_refused_with_their_location() {
    let err = parse("[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:main\"\nentyr = 1\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `entyr`"), "{err}");
    assert!(err.contains("--> /p/pyproject.toml:5:1"), "{err}");
    assert!(err.contains("5 | entyr = 1"), "{err}");
}

#[test]
fn optimize_and_component_are_typed() {
    let m = parse("[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:main\"\noptimize = \"speed\"\ncomponent = true\n")
        .unwrap();
    assert_eq!(
        (m.settings.optimize, m.settings.component),
        (Some(Optimize::Speed), true)
    );
    let m = parse("[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:main\"\nstdlib = \"full\"\ninclude = [\"email.*\"]\nexclude = [\"xml\"]\n")
        .unwrap();
    assert_eq!(m.settings.stdlib, StdlibMode::Full);
    assert_eq!(
        (
            m.settings.include[0].value.as_str(),
            m.settings.include[0].origin.line
        ),
        ("email.*", 6)
    );
    assert_eq!(m.settings.exclude[0].value, "xml");
    let m = parse("[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:main\"\n").unwrap();
    assert_eq!(
        (
            m.settings.optimize,
            m.settings.profile,
            m.settings.component
        ),
        (None, Profile::Dev, false)
    );
    let m = parse(
        "[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:main\"\nprofile = \"release\"\n",
    )
    .unwrap();
    assert_eq!(
        (m.settings.optimize, m.settings.profile),
        (None, Profile::Release)
    );
    let err =
        parse("[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:main\"\noptimize = \"fast\"\n")
            .unwrap_err()
            .to_string();
    assert!(err.contains("unknown variant `fast`"), "{err}");
    assert!(err.contains("--> /p/pyproject.toml:5:"), "{err}");
}

#[test]
fn tmp_size_takes_bytes_or_a_unit() {
    let head = "[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:m\"\n";
    assert_eq!(parse(head).unwrap().settings.tmp_size, DEFAULT_TMP_SIZE);
    let m = parse(&format!("{head}tmp-size = \"4 MiB\"\n")).unwrap();
    assert_eq!(m.settings.tmp_size, 4 << 20);
    assert_eq!(
        parse(&format!("{head}tmp-size = 0\n"))
            .unwrap()
            .settings
            .tmp_size,
        0
    );
    let err = format!(
        "{:#}",
        parse(&format!("{head}tmp-size = \"4 PB\"\n")).unwrap_err()
    );
    assert!(
        err.contains("`tmp-size`: `4 PB` has an unknown unit"),
        "{err}"
    );
    assert!(err.contains("/p/pyproject.toml:5:12"), "{err}");
    assert!(err.contains("tmp-size = \"64 MiB\""), "{err}");
}

#[test]
fn malformed_toml_points_at_the_line() {
    let err = parse("[project]\nname = \"x\nversion = 1\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/p/pyproject.toml:2:"), "{err}");
}

#[test]
fn bad_entry_syntax() {
    let err = parse("[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x.main\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not of the form `module:function`"), "{err}");
    assert!(err.contains("pyproject.toml:4:9"), "{err}");
    let err = parse("[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:1st\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a valid Python function name"), "{err}");
}

#[test]
fn no_entry_at_all() {
    let err = parse("[project]\nname = \"x\"\n").unwrap_err().to_string();
    assert!(err.contains("no entry point"), "{err}");
}

#[test]
fn other_tools_are_left_alone() {
    let m = parse("[project]\nname = \"x\"\n[tool.ruff]\nline-length = 99\n[tool.pywasm]\nentry = \"x:m\"\nsources = [\"lib\"]\noutput = \"out/x.wasm\"\n").unwrap();
    assert_eq!(m.sources.unwrap()[0].value, Path::new("lib"));
    assert_eq!(m.output, Path::new("/p/out/x.wasm"));
}

#[test]
fn dependencies_extras_and_wheels_keep_their_places() {
    let m = parse("[project]\nname = \"x\"\ndependencies = [\"attrs>=23\", \"jinja2\"]\n[project.optional-dependencies]\nTOML_support = [\"tomli\"]\n[project.entry-points.\"x.plugins\"]\na = \"x:a\"\n[tool.pywasm]\nentry = \"x:m\"\nextras = [\"toml-support\"]\nwheels = [\"w/*.whl\"]\nwithout-extensions = [\"MarkupSafe\"]\n").unwrap();
    let deps = &m.deps;
    assert_eq!(deps.dependencies[1].value, "jinja2");
    assert_eq!(deps.dependencies[1].origin.line, 3);
    assert!(deps.optional.contains_key("toml-support"));
    assert_eq!(deps.extras[0].value, "toml-support");
    assert_eq!(deps.wheels[0].origin.line, 11);
    assert_eq!(deps.without_extensions[0].value, "MarkupSafe");
    assert_eq!(m.entry_points["x.plugins"]["a"], "x:a");
}

#[test]
fn extras_compare_normalised() {
    assert_eq!(normalize_extra("Toml_Support"), "toml-support");
    assert_eq!(normalize_extra("a.-_b"), "a-b");
}
