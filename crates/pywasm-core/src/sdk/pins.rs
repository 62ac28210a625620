//! `wasi-sdk.toml`: the pinned versions, sources and digests of everything a build uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::diagnostic::Diagnostic;

/// The repository's `wasi-sdk.toml`, compiled into the binary.
pub const EMBEDDED: &str = include_str!("../../wasi-sdk.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pins {
    pub toolchain: ToolchainPins,
    pub python: PythonPins,
    /// binaryen's C library, which `optimize = "size" | "speed"` loads.
    pub binaryen: PypiToolPins,
    /// Sources of the WASI extension wheels `cargo xtask build-wheel` builds, by name.
    #[serde(default)]
    pub sources: BTreeMap<String, SourcePin>,
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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PythonSourceKind {
    PypiSdist,
    Url,
    Path,
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
            .chain(self.python.pypi_sdist.iter().map(|s| &s.sha256))
            .chain(self.python.url.iter().map(|s| &s.sha256));
        for digest in digests {
            if digest.len() != 64
                || !digest
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            {
                bail!("`{digest}` is not a sha256 digest (64 lowercase hex digits)");
            }
        }
        let source_present = match self.python.source {
            PythonSourceKind::PypiSdist => self.python.pypi_sdist.is_some(),
            PythonSourceKind::Url => self.python.url.is_some(),
            PythonSourceKind::Path => self.python.path.is_some(),
        };
        if !source_present {
            bail!(
                "[python] source is {:?} but that table is missing",
                self.python.source
            );
        }
        Ok(())
    }

    /// `3.11` from `3.11.8`.
    pub fn python_minor(&self) -> &str {
        let v = &self.python.version;
        match v.match_indices('.').nth(1) {
            Some((i, _)) => &v[..i],
            None => v,
        }
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
        assert_eq!(pins.python_minor(), "3.11");
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
        let err = Pins::parse(&text, Path::new("wasi-sdk.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("wasi-sdk.toml:"), "{err}");
        assert!(err.contains("flavour"), "{err}");
    }
}
