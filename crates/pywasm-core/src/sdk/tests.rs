use std::os::unix::fs::PermissionsExt;

use super::*;

const ZIG_SHA: &str = "1111111111111111111111111111111111111111111111111111111111111111";

/// Pins with zig for this host and CPython from a local tree.
fn pins_with_local_python(python: &Path) -> Pins {
    let text = format!(
        r#"
[toolchain]
default = "zig"
[toolchain.zig]
package = "ziglang"
version = "0.15.2"
[toolchain.zig.hosts.{host}]
file = "ziglang-0.15.2-test.whl"
sha256 = "{ZIG_SHA}"
[toolchain.wasi-sdk]
version = "25.0"
[toolchain.wasi-sdk.hosts]
[binaryen]
package = "icpp-binaryen"
version = "116.0.1"
[binaryen.hosts]
[python]
default = "3.11"
[python.versions."3.11"]
version = "3.11.8"
source = "path"
path = "{python}"
"#,
        host = pins::host(),
        python = python.display()
    );
    Pins::parse(&text, Path::new("test-pins.toml")).unwrap()
}

fn write_file(path: &Path, text: &str, mode: u32) {
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, text).unwrap();
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn python_tree(root: &Path) {
    for rel in part::python_landmarks("3.11") {
        write_file(&root.join(rel), "x", 0o644);
    }
}

/// A zig that only knows `zig version`, installed as `fetch` would leave it.
fn install_fake_zig(home: &SdkHome, prints: &str) -> PathBuf {
    let root = home
        .sdk_dir()
        .join(format!("zig-0.15.2-{}", &ZIG_SHA[..12]));
    write_file(
        &root.join("ziglang/zig"),
        &format!("#!/bin/sh\necho {prints}\n"),
        0o755,
    );
    let identity = format!("zig 0.15.2 (ziglang wheel sha256:{ZIG_SHA})");
    record::write(&root, &identity, "test", ZIG_SHA).unwrap();
    root
}

#[test]
fn zig_is_located_only_when_it_says_it_is_the_pinned_version() {
    let dir = tempfile::tempdir().unwrap();
    python_tree(&dir.path().join("py"));
    let pins = pins_with_local_python(&dir.path().join("py"));
    let home = SdkHome::at(dir.path().join("home"));

    let root = install_fake_zig(&home, "0.15.2");
    let sdk = locate(&pins, &home, ToolchainKind::Zig).unwrap();
    assert_eq!(sdk.toolchain.root, root);
    assert_eq!(sdk.python.root, dir.path().join("py"));
    assert_eq!(sdk.python.digest, "unverified-local-path");
    assert!(
        sdk.python.identity.contains("unverified local tree"),
        "{}",
        sdk.python.identity
    );

    // Same size, so the record still matches: only asking the binary catches it.
    install_fake_zig(&home, "0.15.3");
    let err = locate(&pins, &home, ToolchainKind::Zig).unwrap_err();
    let SdkError::Damaged { detail, fix, .. } = &err else {
        panic!("{err}")
    };
    assert!(
        detail.contains("`0.15.3`") && detail.contains("`0.15.2`"),
        "{detail}"
    );
    assert!(fix.contains("fetch-sdk --force"), "{fix}");
}

#[test]
fn a_local_python_tree_without_its_landmarks_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pins = pins_with_local_python(&dir.path().join("py"));
    let home = SdkHome::at(dir.path().join("home"));
    install_fake_zig(&home, "0.15.2");
    let err = locate(&pins, &home, ToolchainKind::Zig)
        .unwrap_err()
        .to_string();
    assert!(err.contains("include/python3.11/Python.h"), "{err}");
}

#[test]
fn a_toolchain_pinned_for_no_host_is_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    python_tree(&dir.path().join("py"));
    let pins = pins_with_local_python(&dir.path().join("py"));
    let err = locate(&pins, &SdkHome::at(dir.path()), ToolchainKind::WasiSdk).unwrap_err();
    assert!(matches!(err, SdkError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains(&pins::host()), "{err}");
}

#[test]
fn zig_cc_targets_wasi_and_caches_in_the_home() {
    let home = SdkHome::at("/h");
    let tool = Toolchain {
        kind: ToolchainKind::Zig,
        root: home.sdk_dir().join("zig-0.15.2-abc"),
        identity: String::new(),
        digest: String::new(),
    };
    assert_eq!(
        crate::process::display(&tool.cc()),
        "ZIG_GLOBAL_CACHE_DIR=/h/cache/zig ZIG_LOCAL_CACHE_DIR=/h/cache/zig \
         /h/sdk/zig-0.15.2-abc/ziglang/zig cc -target wasm32-wasi"
    );
}

#[test]
fn wasi_sdk_cc_uses_its_clang_and_sysroot() {
    let tool = Toolchain {
        kind: ToolchainKind::WasiSdk,
        root: PathBuf::from("/h/sdk/w"),
        identity: String::new(),
        digest: String::new(),
    };
    assert_eq!(
        crate::process::display(&tool.cc()),
        "/h/sdk/w/bin/clang --target=wasm32-wasip1 --sysroot=/h/sdk/w/share/wasi-sysroot"
    );
}

#[test]
fn home_comes_from_the_variable_else_the_cache_dir() {
    let home = home_from(Some("/p".into()), Some("/c".into())).unwrap();
    assert_eq!(home.root(), Path::new("/p"));
    let home = home_from(Some("".into()), Some("/c".into())).unwrap();
    assert_eq!(home.root(), Path::new("/c/pywasm"));
    let err = home_from(None, None).unwrap_err().to_string();
    assert!(err.contains("set PYWASM_HOME"), "{err}");
}

#[test]
fn binaryen_offline_and_missing_says_how_to_fetch_it() {
    let dir = tempfile::tempdir().unwrap();
    let home = SdkHome::at(dir.path().join("home"));
    let mut pins = pins_with_local_python(dir.path());
    pins.binaryen.hosts.insert(
        pins::host(),
        pins::PypiFile {
            file: "icpp_binaryen-116.0.1-test.whl".to_owned(),
            sha256: ZIG_SHA.to_owned(),
        },
    );
    let err = ensure_binaryen(&pins, &home, &Shell::quiet(), true).unwrap_err();
    let err = format!("{err:#}");
    assert!(err.contains("binaryen 116"), "{err}");
    assert!(err.contains("fetch-sdk"), "{err}");

    pins.binaryen.hosts.clear();
    let err = format!(
        "{:#}",
        ensure_binaryen(&pins, &home, &Shell::quiet(), false).unwrap_err()
    );
    assert!(err.contains("set `optimize = \"none\"`"), "{err}");
}
