//! `pywasm test`: a project's own tests run inside a module built like the app, on wasmtime and
//! node, and compared with native CPython.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// A copy of `tests/fixtures/<name>` in a temporary directory.
fn fixture(name: &str, dir: &Path) -> PathBuf {
    let target = dir.join(name);
    let status = Command::new("cp")
        .arg("-R")
        .arg(repo().join("tests/fixtures").join(name))
        .arg(&target)
        .status()
        .expect("cp");
    assert!(status.success());
    target
}

fn pywasm_test(project: &Path, args: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_pywasm"))
        .arg("test")
        .args(args)
        .current_dir(project)
        .output()
        .expect("run pywasm test");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// pytest's summary and exit status for a suite with a failure, skips and an expected failure,
/// on both hosts; pytest's `tmp_path` works (in the in-memory /tmp); arguments after `--` reach
/// pytest; `--compare` names the one test whose outcome differs from native CPython's.
#[test]
fn runs_a_pytest_suite_on_each_host_and_compares_with_native() {
    let dir = tempfile::tempdir().unwrap();
    let project = fixture("tested", dir.path());
    let summary = "1 failed, 5 passed, 2 skipped, 1 xfailed";
    for host in ["wasmtime", "node"] {
        let (code, stdout, stderr) = pywasm_test(&project, &["--on", host]);
        assert_eq!(code, 1, "{host}: {stdout}\n{stderr}");
        assert!(stdout.contains(summary), "{host}: {stdout}\n{stderr}");
        assert!(
            stdout.contains("FAILED app/tests/test_tested.py::test_fails_on_purpose"),
            "{host}: {stdout}"
        );
    }
    let (code, stdout, stderr) = pywasm_test(&project, &["--", "-k", "slugify"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("4 passed, 5 deselected"), "{stdout}");

    let (code, stdout, stderr) = pywasm_test(&project, &["--compare"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 failed, 6 passed, 1 skipped, 1 xfailed"),
        "native: {stdout}"
    );
    assert!(
        stderr.contains("1 of 9 tests end differently in the module than under native CPython")
            && stderr.contains(
                "tests/test_tested.py::test_native_only: passed natively, skipped in the module"
            ),
        "{stderr}"
    );
}

/// Markdown 3.7's own suite (unittest; its file tests write config and output files through
/// tempfile) passes inside the module, test by test as under native CPython.
#[test]
fn markdowns_own_suite_passes_as_natively() {
    let dir = tempfile::tempdir().unwrap();
    let project = fixture("markdown_suite", dir.path());
    let sdist_dir = dir.path().join("sdist");
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
        ])
        .arg("--dest")
        .arg(&sdist_dir)
        .arg("markdown==3.7")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .status()
        .expect("pip download");
    assert!(status.success());
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(sdist_dir.join("markdown-3.7.tar.gz"))
        .arg("-C")
        .arg(&sdist_dir)
        .status()
        .expect("tar");
    assert!(status.success());
    std::fs::rename(sdist_dir.join("markdown-3.7/tests"), project.join("tests")).unwrap();

    let (code, stdout, stderr) = pywasm_test(&project, &["--compare"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("every outcome is native CPython's"),
        "{stderr}"
    );
    // "Ran 970 tests in 2.117s", from the module's run and then the native one.
    let ran: Vec<u32> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Ran "))
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ran.len(), 2, "{stdout}");
    assert_eq!(ran[0], ran[1], "{stdout}");
    assert!(ran[0] > 900, "{stdout}");
}
