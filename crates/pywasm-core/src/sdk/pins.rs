//! `wasi-sdk.toml`: the pinned versions, sources and digests of everything a build uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::diagnostic::Diagnostic;

/// The repository's `wasi-sdk.toml`, compiled into the binary.
pub const EMBEDDED: &str = include_str!("../../wasi-sdk.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "PinsFile")]
pub struct Pins {
    pub toolchain: ToolchainPins,
    /// The CPython builds use: `[python] default`, or the version [`Pins::with_python`] chose.
    pub python: PythonPins,
    /// Every pinned CPython, by minor version (`3.13`).
    pub pythons: BTreeMap<String, PythonPins>,
    /// The minor version of `[python] default`.
    pub default_python: String,
    /// binaryen's C library, which `optimize = "size" | "speed"` loads.
    pub binaryen: PypiToolPins,
    /// Sources of the WASI extension wheels `pywasm wheel build` builds, by name.
    #[serde(default)]
    pub sources: BTreeMap<String, SourcePin>,
}

/// `wasi-sdk.toml` as written; [`Pins`] is it with the default CPython chosen.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinsFile {
    toolchain: ToolchainPins,
    python: PythonTable,
    binaryen: PypiToolPins,
    #[serde(default)]
    sources: BTreeMap<String, SourcePin>,
}

/// `[python]`: the default minor version and one table per version.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PythonTable {
    default: String,
    versions: BTreeMap<String, PythonPins>,
}

impl TryFrom<PinsFile> for Pins {
    type Error = String;
    fn try_from(file: PinsFile) -> Result<Pins, String> {
        let python = file
            .python
            .versions
            .get(&file.python.default)
            .cloned()
            .ok_or_else(|| {
                format!(
                    "[python] default is \"{}\", which has no `[python.versions.\"{}\"]` table",
                    file.python.default, file.python.default
                )
            })?;
        Ok(Pins {
            toolchain: file.toolchain,
            python,
            pythons: file.python.versions,
            default_python: file.python.default,
            binaryen: file.binaryen,
            sources: file.sources,
        })
    }
}

/// One pinned source archive for a wheel recipe.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcePin {
    /// Where the archive comes from.
    pub from: SourceOrigin,
    /// The Debian source package or the PyPI distribution.
    pub package: String,
    /// The upstream version, as the recipe's wheel reports it.
    pub version: String,
    /// The archive's file name; only this file of a Debian source package is used.
    pub file: String,
    pub sha256: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceOrigin {
    /// The pinned file of a Debian source package, fetched from its pool path on the mirrors of
    /// the host's apt sources (security archive first), so the user's Debian mirror is used.
    Debian,
    /// `pip download --no-binary <package>`, so the user's index is used.
    PypiSdist,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolchainPins {
    pub default: ToolchainKind,
    pub zig: PypiToolPins,
    #[serde(rename = "wasi-sdk")]
    pub wasi_sdk: WasiSdkPins,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ToolchainKind {
    Zig,
    WasiSdk,
}

impl ToolchainKind {
    pub fn name(self) -> &'static str {
        match self {
            ToolchainKind::Zig => "zig",
            ToolchainKind::WasiSdk => "wasi-sdk",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "zig" => Ok(ToolchainKind::Zig),
            "wasi-sdk" => Ok(ToolchainKind::WasiSdk),
            other => bail!(
                Diagnostic::new(format!("unknown toolchain `{other}`"))
                    .help("use `zig` or `wasi-sdk`")
            ),
        }
    }
}

/// A file from a PyPI package, fetched with `pip download`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PypiFile {
    pub file: String,
    pub sha256: String,
}

/// A file fetched from a URL (`https://`, `http://`, `file://`) or a local path.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlFile {
    pub url: String,
    pub sha256: String,
}

/// A tool shipped as wheels of a PyPI package, one per host.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PypiToolPins {
    pub package: String,
    pub version: String,
    pub hosts: BTreeMap<String, PypiFile>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasiSdkPins {
    pub version: String,
    pub hosts: BTreeMap<String, UrlFile>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonPins {
    /// The full CPython version, e.g. `3.11.8`.
    pub version: String,
    pub source: PythonSourceKind,
    #[serde(rename = "pypi-sdist")]
    pub pypi_sdist: Option<PypiSdist>,
    pub url: Option<UrlArchive>,
    pub path: Option<PathBuf>,
    /// `source = "release"`: CPython's release tarball, built here.
    pub release: Option<CpythonRelease>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PythonSourceKind {
    PypiSdist,
    Url,
    Path,
    /// Built here from CPython's release tarball (`crate::sdk::cpython`).
    Release,
}

/// CPython's release tarball, and where it may be fetched from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CpythonRelease {
    /// The name the file is kept under in `$PYWASM_HOME/sources/` (and Debian's name for it).
    pub file: String,
    pub sha256: String,
    /// The Debian source package whose orig tarball it is, fetched from its pool path.
    pub debian_package: Option<String>,
    /// Upstream's release URL, for hosts without Debian's pools.
    pub url: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PypiSdist {
    pub package: String,
    pub version: String,
    pub file: String,
    pub sha256: String,
    /// The directory inside the archive that holds `include/`, `lib/` and `bin/`.
    pub subdir: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlArchive {
    pub url: String,
    pub sha256: String,
    pub subdir: String,
}

impl Pins {
    /// `CPython 3.11.8, zig 0.15.2 (default) or WASI SDK 25.0`: what a build uses.
    pub fn summary(&self) -> String {
        let (zig, wasi_sdk) = (
            format!("zig {}", self.toolchain.zig.version),
            format!("WASI SDK {}", self.toolchain.wasi_sdk.version),
        );
        let toolchains = match self.toolchain.default {
            ToolchainKind::Zig => format!("{zig} (default) or {wasi_sdk}"),
            ToolchainKind::WasiSdk => format!("{wasi_sdk} (default) or {zig}"),
        };
        format!("CPython {}, {toolchains}", self.python.version)
    }

    /// The pins this binary was built with.
    pub fn embedded() -> Result<Pins> {
        Pins::parse(EMBEDDED, Path::new("wasi-sdk.toml"))
    }

    pub fn load(path: &Path) -> Result<Pins> {
        let text = fs_err::read_to_string(path)?;
        Pins::parse(&text, path)
    }

    pub fn parse(text: &str, origin: &Path) -> Result<Pins> {
        let pins: Pins = toml::from_str(text).map_err(|e| {
            anyhow::anyhow!(
                "{}\n{}",
                crate::diagnostic::locate(origin, text, e.span()),
                e.message()
            )
        })?;
        pins.validate()
            .with_context(|| format!("invalid pins in `{}`", origin.display()))?;
        Ok(pins)
    }

    fn validate(&self) -> Result<()> {
        let digests = self
            .toolchain
            .zig
            .hosts
            .values()
            .map(|f| &f.sha256)
            .chain(self.toolchain.wasi_sdk.hosts.values().map(|f| &f.sha256))
            .chain(self.pythons.values().flat_map(|p| {
                let sdist = p.pypi_sdist.iter().map(|s| &s.sha256);
                let url = p.url.iter().map(|s| &s.sha256);
                sdist.chain(url).chain(p.release.iter().map(|r| &r.sha256))
            }));
        for digest in digests {
            if digest.len() != 64
                || !digest
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            {
                bail!("`{digest}` is not a sha256 digest (64 lowercase hex digits)");
            }
        }
        for (minor, python) in &self.pythons {
            let source_present = match python.source {
                PythonSourceKind::PypiSdist => python.pypi_sdist.is_some(),
                PythonSourceKind::Url => python.url.is_some(),
                PythonSourceKind::Path => python.path.is_some(),
                PythonSourceKind::Release => python.release.is_some(),
            };
            if !source_present {
                bail!(
                    "[python.versions.\"{minor}\"] source is {:?} but that table is missing",
                    python.source
                );
            }
            if minor_of(&python.version) != minor {
                bail!(
                    "[python.versions.\"{minor}\"] pins version {}, which is not a {minor}",
                    python.version
                );
            }
        }
        Ok(())
    }

    /// `3.11` from `3.11.8`.
    pub fn python_minor(&self) -> &str {
        minor_of(&self.python.version)
    }

    /// These pins with `minor` as the CPython builds use; `None` keeps the default. The error
    /// names the versions pinned.
    pub fn with_python(mut self, minor: Option<&str>) -> Result<Pins, UnknownPython> {
        if let Some(minor) = minor {
            self.python = self
                .pythons
                .get(minor)
                .cloned()
                .ok_or_else(|| UnknownPython {
                    asked: minor.to_owned(),
                    pinned: self.pythons.keys().cloned().collect(),
                })?;
        }
        Ok(self)
    }
}

impl Pins {
    /// These pins once for each of `versions` (checked), or for the default when it is empty.
    pub fn each_python(&self, versions: &[String]) -> Result<Vec<Pins>> {
        if versions.is_empty() {
            return Ok(vec![self.clone()]);
        }
        versions
            .iter()
            .map(|v| {
                self.clone().with_python(Some(v)).map_err(|unknown| {
                    anyhow::Error::new(
                        Diagnostic::new(unknown.to_string())
                            .help(format!("pass `--python` one of {}", unknown.choices())),
                    )
                })
            })
            .collect()
    }
}

/// A CPython version the pins do not have.
#[derive(Debug)]
pub struct UnknownPython {
    pub asked: String,
    pub pinned: Vec<String>,
}

impl UnknownPython {
    /// `3.11, 3.13 or 3.14`.
    pub fn choices(&self) -> String {
        match self.pinned.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            Some((last, _)) => last.clone(),
            None => "none".to_owned(),
        }
    }
}

impl std::fmt::Display for UnknownPython {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pywasm has no CPython {}: it builds CPython {}",
            self.asked,
            self.choices()
        )
    }
}

impl std::error::Error for UnknownPython {}

/// `3.11` from `3.11.8`.
fn minor_of(version: &str) -> &str {
    match version.match_indices('.').nth(1) {
        Some((i, _)) => &version[..i],
        None => version,
    }
}

/// This machine as `wasi-sdk.toml` names hosts: `x86_64-linux`, `aarch64-macos`, ...
pub fn host() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_pins_parse_and_cover_every_supported_host() {
        let pins = Pins::embedded().unwrap();
        for host in [
            "x86_64-linux",
            "aarch64-linux",
            "x86_64-macos",
            "aarch64-macos",
        ] {
            assert!(
                pins.toolchain.zig.hosts.contains_key(host),
                "zig has no {host}"
            );
            assert!(
                pins.toolchain.wasi_sdk.hosts.contains_key(host),
                "wasi-sdk has no {host}"
            );
        }
        assert_eq!(pins.python_minor(), "3.13");
    }

    #[test]
    fn a_bad_digest_is_refused() {
        let text = EMBEDDED.replacen("sha256 = \"8063", "sha256 = \"X063", 1);
        let err = Pins::parse(&text, Path::new("wasi-sdk.toml")).unwrap_err();
        assert!(
            format!("{err:#}").contains("not a sha256 digest"),
            "{err:#}"
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_their_line() {
        let text = EMBEDDED.replacen("[python]\n", "[python]\nflavour = 1\n", 1);
        assert_ne!(text, EMBEDDED);
        let err = Pins::parse(&text, Path::new("wasi-sdk.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("wasi-sdk.toml:"), "{err}");
        assert!(err.contains("flavour"), "{err}");
    }
}
