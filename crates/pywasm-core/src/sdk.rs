//! The SDK cache: the pinned C toolchain and CPython for WASI, fetched, verified and unpacked
//! under `PYWASM_HOME`.
//!
//! Layout below the home directory:
//! - `sdk/python-<version>-<sha12>/`: a CPython for WASI (`include/`, `lib/`, `bin/`): the
//!   pinned `subdir` of a prebuilt archive, or one built from a release tarball (`cpython`),
//!   with the native CPython of the same version in `native/`;
//! - `sdk/zig-<version>-<sha12>/`: the unpacked `ziglang` wheel (`ziglang/zig`, ...);
//! - `sdk/wasi-sdk-<version>-<sha12>/`: the release tarball without its top-level directory;
//! - `tmp/`: work in progress, renamed into `sdk/` only once complete, each directory locked
//!   by its process (`lock`);
//! - `locks/`: one lock file per cache entry being made (`lock`);
//! - `sources/`: pinned source archives (`sources`); `logs/`: the CPython builds' logs;
//! - `cache/<name>/`: the other stages' caches.
//!
//! Each directory in `sdk/` carries a `.pywasm-sdk.json` record of what it holds, so that
//! [`locate`], which every build calls, can check it without hashing anything.

mod cpython;
pub mod debian;
pub mod doctor;
mod download;
mod error;
pub(crate) mod extract;
mod install;
pub mod lock;
pub(crate) mod part;
pub mod pins;
pub mod prepare;
mod record;
pub mod sources;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::Shell;
use crate::diagnostic::Diagnostic;
/// Fetching a URL or a local file into a new file, hashing it on the way (also used by xtask
/// for the wheel recipes' sources).
pub use cpython::release_tarball;
pub use download::download;
pub use error::SdkError;
use error::fetch_fix;
use part::{Part, PythonSource};
use pins::{Pins, ToolchainKind};
use record::Problem;

/// Where pywasm keeps the SDK and its caches: `PYWASM_HOME`, else `<user cache dir>/pywasm`.
#[derive(Clone, Debug)]
pub struct SdkHome {
    root: PathBuf,
}

impl SdkHome {
    pub fn from_env() -> Result<SdkHome> {
        home_from(std::env::var_os("PYWASM_HOME"), dirs::cache_dir())
    }
    pub fn at(root: impl Into<PathBuf>) -> SdkHome {
        SdkHome { root: root.into() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// A directory for another stage's cache, e.g. `cache("pyc")`.
    pub fn cache(&self, name: &str) -> PathBuf {
        self.root.join("cache").join(name)
    }
    /// Where the unpacked, verified SDK components live.
    pub fn sdk_dir(&self) -> PathBuf {
        self.root.join("sdk")
    }
    /// Wheels built by `pywasm wheel build`: a find-links directory every build offers to
    /// pip.
    pub fn wheels_index(&self) -> PathBuf {
        self.root.join("wheels").join("index")
    }
    /// Where downloads and unpacking happen before they are renamed into [`SdkHome::sdk_dir`].
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
}

fn home_from(var: Option<OsString>, cache_dir: Option<PathBuf>) -> Result<SdkHome> {
    if let Some(root) = var.filter(|v| !v.is_empty()) {
        return Ok(SdkHome::at(root));
    }
    let cache_dir = cache_dir.context(
        "cannot tell where to keep the SDK: this system has no user cache directory; \
         set PYWASM_HOME to a directory pywasm may write to",
    )?;
    Ok(SdkHome::at(cache_dir.join("pywasm")))
}

#[derive(Clone, Debug)]
pub struct Sdk {
    pub python: PythonSdk,
    pub toolchain: Toolchain,
}

#[derive(Clone, Debug)]
pub struct PythonSdk {
    pub root: PathBuf,
    pub version: String,
    pub minor: String,
    pub identity: String,
    pub digest: String,
}

impl PythonSdk {
    pub fn include_dir(&self) -> PathBuf {
        self.root
            .join("include")
            .join(format!("python{}", self.minor))
    }
    pub fn lib_dir(&self) -> PathBuf {
        self.root.join("lib")
    }
    pub fn libpython(&self) -> PathBuf {
        self.lib_dir().join(format!("libpython{}.a", self.minor))
    }
    pub fn stdlib_dir(&self) -> PathBuf {
        self.lib_dir().join(format!("python{}", self.minor))
    }
    /// The static libraries a module links, by `-l` name: `python3.x` first, then the others
    /// of `lib/` (expat, mpdec, HACL*'s), sorted.
    pub fn libraries(&self) -> Result<Vec<String>> {
        let libpython = format!("python{}", self.minor);
        let mut others = Vec::new();
        for entry in fs_err::read_dir(self.lib_dir())? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            let Some(lib) = name.strip_prefix("lib").and_then(|n| n.strip_suffix(".a")) else {
                continue;
            };
            if lib != libpython {
                others.push(lib.to_owned());
            }
        }
        others.sort();
        Ok(std::iter::once(libpython).chain(others).collect())
    }
    pub fn python_wasm(&self) -> PathBuf {
        self.root
            .join("bin")
            .join(format!("python{}.wasm", self.minor))
    }
    /// The native CPython of the same version that a release build leaves beside it
    /// (`native/bin/python3.x`); prebuilt SDKs have none.
    pub fn native_python(&self) -> Option<PathBuf> {
        let python = self
            .root
            .join("native")
            .join("bin")
            .join(format!("python{}", self.minor));
        python.is_file().then_some(python)
    }
}

#[derive(Clone, Debug)]
pub struct Toolchain {
    pub kind: ToolchainKind,
    pub root: PathBuf,
    pub identity: String,
    pub digest: String,
}

impl Toolchain {
    /// The C compiler for `wasm32-wasi`, ready for the caller's flags and inputs.
    pub fn cc(&self) -> Command {
        match self.kind {
            ToolchainKind::Zig => {
                let mut cmd = Command::new(zig_binary(&self.root));
                cmd.args(["cc", "-target", "wasm32-wasi"]);
                // zig otherwise caches below the user's home, outside PYWASM_HOME, where
                // `rm -rf $PYWASM_HOME` would not reach it.
                let cache = self.zig_cache_dir();
                cmd.env("ZIG_GLOBAL_CACHE_DIR", &cache)
                    .env("ZIG_LOCAL_CACHE_DIR", &cache);
                cmd
            }
            ToolchainKind::WasiSdk => {
                let mut cmd = Command::new(self.root.join("bin").join("clang"));
                let mut sysroot = OsString::from("--sysroot=");
                sysroot.push(self.root.join("share").join("wasi-sysroot"));
                cmd.arg("--target=wasm32-wasip1").arg(sysroot);
                cmd
            }
        }
    }

    /// The archiver that makes static libraries the toolchain's linker reads.
    pub fn ar(&self) -> Command {
        match self.kind {
            ToolchainKind::Zig => {
                let mut cmd = Command::new(zig_binary(&self.root));
                cmd.arg("ar");
                cmd
            }
            ToolchainKind::WasiSdk => Command::new(self.root.join("bin").join("llvm-ar")),
        }
    }

    /// `<home>/cache/zig`. The toolchain's root is always `<home>/sdk/<dir>`, so the home is
    /// found from it; this keeps `Toolchain` constructible from its public fields alone.
    fn zig_cache_dir(&self) -> PathBuf {
        let home = self
            .root
            .parent()
            .and_then(Path::parent)
            .unwrap_or(&self.root);
        SdkHome::at(home).cache("zig")
    }
}

fn zig_binary(root: &Path) -> PathBuf {
    root.join("ziglang").join("zig")
}

pub struct FetchOptions {
    pub force: bool,
    /// `None`: the pins' default toolchain.
    pub toolchain: Option<ToolchainKind>,
}

/// Finds the pinned CPython and toolchain in `home` and checks them without hashing: cheap
/// enough for every build.
pub fn locate(pins: &Pins, home: &SdkHome, kind: ToolchainKind) -> Result<Sdk, SdkError> {
    let python = locate_python(pins, home, kind);
    let toolchain = locate_toolchain(pins, home, kind);
    match (python, toolchain) {
        (Ok(python), Ok(toolchain)) => Ok(Sdk { python, toolchain }),
        (Err(SdkError::Missing { what: a, .. }), Err(SdkError::Missing { what: b, .. })) => {
            let fix = fetch_fix(pins, home, kind, false);
            Err(SdkError::Missing {
                what: format!("{a} and {b}"),
                home: home.root.clone(),
                fix,
            })
        }
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        // Damage wins over absence: `ensure` must not fetch over a damaged component.
        (Err(SdkError::Missing { .. }), Err(e)) | (Err(e), Err(_)) => Err(e),
    }
}

/// [`locate`], fetching what is missing unless `offline`. A damaged SDK is never repaired
/// behind the user's back: it is an error that says how to repair it.
pub fn ensure(
    pins: &Pins,
    home: &SdkHome,
    shell: &Shell,
    kind: ToolchainKind,
    offline: bool,
) -> Result<Sdk> {
    match locate(pins, home, kind) {
        Ok(sdk) => Ok(sdk),
        Err(SdkError::Missing { .. }) if !offline => fetch(
            pins,
            home,
            shell,
            &FetchOptions {
                force: false,
                toolchain: Some(kind),
            },
        ),
        Err(e) => Err(e.into()),
    }
}

/// Downloads, verifies and unpacks CPython and the chosen toolchain into `home`, skipping what
/// is already there and intact unless `opts.force`.
pub fn fetch(pins: &Pins, home: &SdkHome, shell: &Shell, opts: &FetchOptions) -> Result<Sdk> {
    let kind = opts.toolchain.unwrap_or(pins.toolchain.default);
    let tool = part::toolchain(pins, kind, &pins::host())?;
    install::install(home, shell, &tool, opts.force)?;
    match part::python(pins)? {
        PythonSource::Archive(c) => {
            if matches!(c.fetch, part::Fetch::Release(_)) && kind != ToolchainKind::Zig {
                // CPython is built with zig whichever toolchain links the modules.
                let zig = part::toolchain(pins, ToolchainKind::Zig, &pins::host())?;
                install::install(home, shell, &zig, false)?;
            }
            install::install(home, shell, &c, opts.force)?;
        }
        PythonSource::Local(path) => shell.status(
            "Using",
            &format!(
                "CPython {} from `{}` (a local tree, not verified)",
                pins.python.version,
                path.display()
            ),
        ),
    }
    // Set up once, build offline: the library optimising builds load comes along where it is
    // pinned for this host.
    if let Ok(binaryen) = part::binaryen(pins, &pins::host()) {
        install::install(home, shell, &binaryen, opts.force)?;
    }
    locate(pins, home, kind).context("the SDK was fetched but does not check out")
}

/// binaryen's C library, which only optimising builds load.
#[derive(Clone, Debug)]
pub struct Binaryen {
    /// `libbinaryen.so` or `.dylib`.
    pub library: PathBuf,
    /// What cache keys of optimised modules record.
    pub identity: String,
}

/// The pinned binaryen, fetched on first use unless `offline`; damage is an error, as for the
/// rest of the SDK.
pub fn ensure_binaryen(
    pins: &Pins,
    home: &SdkHome,
    shell: &Shell,
    offline: bool,
) -> Result<Binaryen> {
    let host = pins::host();
    let c = part::binaryen(pins, &host).map_err(|e| {
        Diagnostic::new(e.to_string()).help(
            "`optimize = \"size\"` and `\"speed\"` run binaryen, which has no build for this \
             host; set `optimize = \"none\"` (the default) in `[tool.pywasm]`",
        )
    })?;
    let root = match check_component(pins, home, &c, pins.toolchain.default) {
        Ok(root) => root,
        Err(SdkError::Missing { .. }) if !offline => install::install(home, shell, &c, false)?,
        Err(e) => return Err(e.into()),
    };
    Ok(Binaryen {
        library: root.join(part::binaryen_library(&host)),
        identity: c.identity,
    })
}

fn locate_python(pins: &Pins, home: &SdkHome, kind: ToolchainKind) -> Result<PythonSdk, SdkError> {
    let minor = pins.python_minor().to_owned();
    let (root, identity, digest) = match part::python(pins).map_err(unsupported)? {
        PythonSource::Archive(c) => {
            let root = check_component(pins, home, &c, kind)?;
            (root, c.identity, c.sha256)
        }
        PythonSource::Local(path) => {
            check_local_python(&path, &pins.python.version, &minor)?;
            let identity = part::local_python_identity(&pins.python.version, &path);
            (path, identity, part::LOCAL_DIGEST.to_owned())
        }
    };
    Ok(PythonSdk {
        root,
        version: pins.python.version.clone(),
        minor,
        identity,
        digest,
    })
}

fn locate_toolchain(
    pins: &Pins,
    home: &SdkHome,
    kind: ToolchainKind,
) -> Result<Toolchain, SdkError> {
    let c = part::toolchain(pins, kind, &pins::host()).map_err(unsupported)?;
    let root = check_component(pins, home, &c, kind)?;
    if kind == ToolchainKind::Zig {
        check_zig_version(&root, &pins.toolchain.zig.version).map_err(|detail| {
            SdkError::Damaged {
                what: c.what.clone(),
                path: root.clone(),
                detail,
                fix: fetch_fix(pins, home, kind, true),
            }
        })?;
    }
    Ok(Toolchain {
        kind,
        root,
        identity: c.identity,
        digest: c.sha256,
    })
}

fn unsupported(e: part::Unpinned) -> SdkError {
    SdkError::Unsupported {
        what: e.what,
        host: e.host,
        pinned: e.pinned,
    }
}

fn check_component(
    pins: &Pins,
    home: &SdkHome,
    c: &Part,
    kind: ToolchainKind,
) -> Result<PathBuf, SdkError> {
    let dir = home.sdk_dir().join(&c.dir_name);
    match record::check(&dir, &c.identity) {
        Ok(()) => Ok(dir),
        Err(Problem::Missing) => Err(SdkError::Missing {
            what: c.what.clone(),
            home: home.root.clone(),
            fix: fetch_fix(pins, home, kind, false),
        }),
        Err(Problem::Damaged(detail)) => Err(SdkError::Damaged {
            what: c.what.clone(),
            path: dir,
            detail,
            fix: fetch_fix(pins, home, kind, true),
        }),
    }
}

/// A local tree is the user's own, so only its landmarks are checked.
fn check_local_python(root: &Path, version: &str, minor: &str) -> Result<(), SdkError> {
    let landmarks = part::python_landmarks(minor);
    let Some(absent) = landmarks.iter().find(|rel| !root.join(rel).is_file()) else {
        return Ok(());
    };
    Err(SdkError::Damaged {
        what: format!("CPython {version}"),
        path: root.to_owned(),
        detail: format!("`{absent}` is missing"),
        fix: "point `[python] path` in the pins file at an unpacked CPython for WASI with \
              `include/`, `lib/` and `bin/`, or use another `[python] source`"
            .to_owned(),
    })
}

/// The record proves the files are the ones unpacked, not that the binary is the pinned zig:
/// ask it.
fn check_zig_version(root: &Path, pinned: &str) -> Result<(), String> {
    let mut cmd = Command::new(zig_binary(root));
    cmd.arg("version");
    let output = crate::process::run(&Shell::quiet(), "ask zig for its version", &mut cmd)
        .map_err(|e| format!("{e:#}"))?;
    let actual = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if actual == pinned {
        Ok(())
    } else {
        Err(format!(
            "`zig version` prints `{actual}`, but the pins ask for `{pinned}`"
        ))
    }
}

#[cfg(test)]
mod tests;
