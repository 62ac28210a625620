use std::path::Path;

use anyhow::Result;

use super::*;
use crate::module::postprocess::optimize::{Optimize, Profile};
use crate::python::imports::StdlibMode;
use crate::settings::{DEFAULT_STACK_SIZE, DEFAULT_TMP_SIZE};

fn parse(text: &str) -> Result<Manifest> {
    Manifest::parse(Path::new("/p/pyproject.toml"), text)
}

/// The error `text` is refused with, as rendered for users.
fn error(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(err) => format!("{err:#}"),
    }
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
    let err = error("[project]\nname = \"x\"\n[project.scripts]\na = \"x:a\"\nb = \"x:b\"\n");
    insta::assert_snapshot!(err, @r#"
    cannot choose an entry point: `[project.scripts]` has 2 scripts (`a`, `b`)
     --> /p/pyproject.toml:3:1
      |
    3 | [project.scripts]
      | ^^^^^^^^^^^^^^^^^
      = help: set `entry = "package.module:function"` under `[tool.pywasm]`
    "#);
}

#[test]
fn stack_size_is_bounded_and_aligned() {
    let head = "[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:main\"\n";
    assert_eq!(parse(head).unwrap().settings.stack_size, DEFAULT_STACK_SIZE);
    let m = parse(&format!("{head}stack-size = \"2 MiB\"\n")).unwrap();
    assert_eq!(m.settings.stack_size, 2 << 20);
    insta::assert_snapshot!(error(&format!("{head}stack-size = \"32 KiB\"\n")), @r#"
    `stack-size`: 32768 bytes is outside 64 KiB to 64 MiB
     --> /p/pyproject.toml:5:14
      |
    5 | stack-size = "32 KiB"
      |              ^^^^^^^^
      = help: for instance `stack-size = "2 MiB"`
    "#);
    insta::assert_snapshot!(error(&format!("{head}stack-size = 100004\n")), @r#"
    `stack-size`: 100004 bytes is not a multiple of 16
     --> /p/pyproject.toml:5:14
      |
    5 | stack-size = 100004
      |              ^^^^^^
      = help: for instance `stack-size = "2 MiB"`
    "#);
}

#[test]
fn unknown_keys_are_refused_with_their_location() {
    let err = error("[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:main\"\nentyr = 1\n");
    insta::assert_snapshot!(err, @r"
    invalid `pyproject.toml`: unknown field `entyr`, expected one of `python`, `entry`, `sources`, `output`, `extras`, `wheels`, `without-extensions`, `require-extensions`, `optimize`, `profile`, `component`, `component-exit-codes`, `stdlib`, `include`, `exclude`, `preinit`, `preinit-imports`, `preinit-train`, `preinit-train-args`, `teardown`, `stdlib-sources`, `docstrings`, `tmp-size`, `stack-size`, `test-paths`, `exports`, `imports`, `wheel-limits`
     --> /p/pyproject.toml:5:1
      |
    5 | entyr = 1
      | ^^^^^
      = help: see the README's configuration section for every `[tool.pywasm]` key
    ");
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
        error("[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:main\"\noptimize = \"fast\"\n");
    insta::assert_snapshot!(err, @r#"
    invalid `pyproject.toml`: unknown variant `fast`, expected one of `size`, `speed`, `none`
     --> /p/pyproject.toml:5:12
      |
    5 | optimize = "fast"
      |            ^^^^^^
      = help: see the README's configuration section for what each key takes
    "#);
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
    insta::assert_snapshot!(error(&format!("{head}tmp-size = \"4 PB\"\n")), @r#"
    `tmp-size`: `4 PB` has an unknown unit; use K, M or G
     --> /p/pyproject.toml:5:12
      |
    5 | tmp-size = "4 PB"
      |            ^^^^^^
      = help: for instance `tmp-size = "64 MiB"`, or `0` for no /tmp
    "#);
}

#[test]
fn malformed_toml_points_at_the_line() {
    insta::assert_snapshot!(error("[project]\nname = \"x\nversion = 1\n"), @r#"
    invalid `pyproject.toml`: invalid basic string, expected `"`
     --> /p/pyproject.toml:2:10
      |
    2 | name = "x
      |          ^
      = help: fix the TOML syntax at this place
    "#);
}

#[test]
fn bad_entry_syntax() {
    let err = error("[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x.main\"\n");
    insta::assert_snapshot!(err, @r#"
    invalid `[tool.pywasm] entry`: `x.main` is not of the form `module:function`
     --> /p/pyproject.toml:4:9
      |
    4 | entry = "x.main"
      |         ^^^^^^^^
      = help: write it as `entry = "package.module:function"`
    "#);
    let err = error("[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:1st\"\n");
    insta::assert_snapshot!(err, @r#"
    invalid `[tool.pywasm] entry`: `1st` in `x:1st` is not a valid Python function name
     --> /p/pyproject.toml:4:9
      |
    4 | entry = "x:1st"
      |         ^^^^^^^
      = help: write it as `entry = "package.module:function"`
    "#);
}

#[test]
fn no_entry_at_all() {
    insta::assert_snapshot!(error("[project]\nname = \"x\"\n"), @r#"
    `/p/pyproject.toml` names no entry point: there is no `[tool.pywasm] entry` and no `[project.scripts]`
      = help: set `entry = "package.module:function"` under `[tool.pywasm]`
    "#);
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

#[test]
fn wheel_limits_default_and_take_each_key() {
    let head = "[project]\nname = \"x\"\n[tool.pywasm]\nentry = \"x:m\"\n";
    let limits = crate::limits::ArchiveLimits::WHEEL;
    assert_eq!(parse(head).unwrap().settings.wheel_limits, limits);
    let text = format!("{head}wheel-limits = {{ member-size = \"1 GiB\", ratio = 500 }}\n");
    let got = parse(&text).unwrap().settings.wheel_limits;
    let want = crate::limits::ArchiveLimits {
        member_size: 1 << 30,
        ratio: 500,
        ..limits
    };
    assert_eq!(got, want);
    insta::assert_snapshot!(error(&format!("{head}wheel-limits = {{ members = 0 }}\n")), @r#"
    `wheel-limits.members`: 0 would refuse every wheel
     --> /p/pyproject.toml:5:28
      |
    5 | wheel-limits = { members = 0 }
      |                            ^
      = help: for instance `wheel-limits = { member-size = "512 MiB", ratio = 500 }`
    "#);
    insta::assert_snapshot!(error(&format!("{head}wheel-limits = {{ size = 1 }}\n")), @r"
    invalid `pyproject.toml`: unknown field `size`, expected one of `member-size`, `total-size`, `members`, `ratio`
     --> /p/pyproject.toml:5:18
      |
    5 | wheel-limits = { size = 1 }
      |                  ^^^^
      = help: see the README's configuration section for every `[tool.pywasm]` key
    ");
}
