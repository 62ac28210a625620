//! Static WASI extension modules. A WASI wheel carries, in its `.dist-info`, a
//! `pywasm-extensions.toml` naming each extension module's dotted name, its `PyInit_*` symbol
//! and the static archive (`.a`) that defines it, plus extra archives and link libraries. pywasm
//! links the archives into the module and registers every extension with
//! `PyImport_AppendInittab` before the interpreter starts. The format is described in the README
//! ("WASI extension wheels").

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::diagnostic::Diagnostic;
use crate::manifest::is_identifier;

pub const METADATA_FILE: &str = "pywasm-extensions.toml";
const FORMAT: u32 = 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct MetadataFile {
    format: u32,
    /// CPython minor version the archives were compiled against (`3.11`).
    python: String,
    #[serde(default, rename = "module")]
    modules: Vec<ModuleEntry>,
    /// Archives every module of the wheel may need (a bundled libxml2, say).
    #[serde(default)]
    archives: Vec<String>,
    /// Libraries from the SDK's sysroot, linked as `-l<name>`.
    #[serde(default)]
    libraries: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ModuleEntry {
    name: String,
    init: Option<String>,
    archive: String,
    /// Modules its C code imports, which a scan of Python sources cannot see.
    #[serde(default)]
    imports: Vec<String>,
}

/// One extension module to link and register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionModule {
    /// Dotted import name: `pkg.sub._ext`.
    pub name: String,
    /// The `PyInit_*` function the archive defines.
    pub init: String,
    pub archive: PathBuf,
    /// The distribution that provides it.
    pub dist: String,
    /// Modules it imports from C.
    pub imports: Vec<String>,
}

/// Everything the extension wheels of a build add to the link.
#[derive(Clone, Debug, Default)]
pub struct Extensions {
    pub modules: Vec<ExtensionModule>,
    pub archives: Vec<PathBuf>,
    pub libraries: Vec<String>,
}

impl Extensions {
    /// Reads `<dist_info_dir>/pywasm-extensions.toml` of an installed WASI wheel, if present,
    /// and checks every archive it names.
    pub fn add_wheel(
        &mut self,
        dist: &str,
        dist_info_dir: &Path,
        site_dir: &Path,
        python_minor: &str,
    ) -> Result<bool> {
        let path = dist_info_dir.join(METADATA_FILE);
        if !path.is_file() {
            return Ok(false);
        }
        let text = fs_err::read_to_string(&path)?;
        let meta: MetadataFile = toml::from_str(&text).map_err(|e| {
            let at = crate::diagnostic::locate(&path, &text, e.span());
            anyhow::anyhow!("`{at}` in the wheel of `{dist}`: {}", e.message().trim())
        })?;
        let wrong = |what: String| {
            anyhow::Error::from(
                Diagnostic::new(format!("`{dist}`: {what}\n  --> {}", path.display())).help(
                    "rebuild the WASI wheel; the format is in pywasm's README (\"WASI extension wheels\")",
                ),
            )
        };
        if meta.format != FORMAT {
            return Err(wrong(format!(
                "`{METADATA_FILE}` has format {}, pywasm reads format {FORMAT}",
                meta.format
            )));
        }
        if meta.python != python_minor {
            return Err(wrong(format!(
                "its extension modules were compiled for Python {}, the module runs Python {python_minor}",
                meta.python
            )));
        }
        for module in meta.modules {
            let init = module
                .init
                .clone()
                .unwrap_or_else(|| default_init(&module.name));
            if module.name.is_empty()
                || !module.name.split('.').all(is_identifier)
                || !module.name.is_ascii()
            {
                return Err(wrong(format!(
                    "`{}` is not a dotted module name",
                    module.name
                )));
            }
            if !is_c_identifier(&init) {
                return Err(wrong(format!("init symbol `{init}` is not a C identifier")));
            }
            if let Some((parent, _)) = module.name.rsplit_once('.')
                && !site_dir.join(parent.replace('.', "/")).is_dir()
            {
                return Err(wrong(format!(
                    "extension `{}` belongs to package `{parent}`, which no installed distribution provides",
                    module.name
                )));
            }
            let archive = archive_path(dist_info_dir, &module.archive)
                .map_err(|e| wrong(format!("{e:#}")))?;
            check_defines(&archive, &init).map_err(|e| wrong(format!("{e:#}")))?;
            self.modules.push(ExtensionModule {
                name: module.name,
                init,
                archive,
                dist: dist.to_string(),
                imports: module.imports,
            });
        }
        for archive in &meta.archives {
            let path = archive_path(dist_info_dir, archive).map_err(|e| wrong(format!("{e:#}")))?;
            archive_symbols(&path).map_err(|e| wrong(format!("{e:#}")))?;
            self.archives.push(path);
        }
        for lib in meta.libraries {
            if lib.is_empty()
                || !lib
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
            {
                return Err(wrong(format!(
                    "`{lib}` is not a library name (write `m` for `-lm`)"
                )));
            }
            if !self.libraries.contains(&lib) {
                self.libraries.push(lib);
            }
        }
        Ok(true)
    }

    /// Module names and init symbols must be unique across the whole module.
    pub fn check_unique(&self) -> Result<()> {
        let mut names: BTreeMap<&str, &str> = BTreeMap::new();
        let mut inits: BTreeMap<&str, &str> = BTreeMap::new();
        for m in &self.modules {
            if let Some(other) = names.insert(&m.name, &m.dist) {
                bail!(
                    Diagnostic::new(format!(
                        "extension module `{}` is provided by both `{other}` and `{}`",
                        m.name, m.dist
                    ))
                    .help("keep one of the two distributions")
                );
            }
            if let Some(other) = inits.insert(&m.init, &m.name) {
                bail!(
                    Diagnostic::new(format!(
                        "extension modules `{other}` and `{}` both use the init symbol `{}`; in one static module every init symbol must be unique",
                        m.name, m.init
                    ))
                    .help(
                        "rebuild one of them with a distinct `init` (e.g. `PyInit_pkg_sub__ext`, via `-DPyInit__ext=...`)"
                    )
                );
            }
        }
        Ok(())
    }
}

/// The module names a `pywasm-extensions.toml` declares, without checking its archives: enough
/// to decide whether a wheel is needed.
pub fn declared_modules(text: &str) -> Result<Vec<String>> {
    let meta: MetadataFile = toml::from_str(text).context("unreadable `pywasm-extensions.toml`")?;
    Ok(meta.modules.into_iter().map(|m| m.name).collect())
}

/// `PyInit_<last component>`: what CPython looks up for a shared-library extension.
pub fn default_init(name: &str) -> String {
    format!("PyInit_{}", name.rsplit('.').next().unwrap_or(name))
}

fn is_c_identifier(s: &str) -> bool {
    s.is_ascii() && is_identifier(s)
}

fn archive_path(dist_info_dir: &Path, rel: &str) -> Result<PathBuf> {
    let unsafe_path = rel.is_empty()
        || rel.starts_with('/')
        || rel.contains('\\')
        || rel.split('/').any(|p| p == ".." || p.is_empty());
    if unsafe_path {
        bail!("archive path `{rel}` must be relative to the `.dist-info` directory, without `..`");
    }
    let path = dist_info_dir.join(rel);
    if !path.is_file() {
        bail!("archive `{rel}` is missing from the wheel");
    }
    Ok(path)
}

fn check_defines(archive: &Path, symbol: &str) -> Result<()> {
    let symbols = archive_symbols(archive)?;
    // An archive without a symbol index is still linkable; wasm-ld reports what is missing.
    if !symbols.is_empty() && !symbols.contains(symbol) {
        let name = archive
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        bail!("archive `{name}` does not define `{symbol}`");
    }
    Ok(())
}

/// The symbols in an `ar` archive's index (GNU `/` or `/SYM64/` member, as llvm-ar and zig
/// write them); empty when the archive has no index.
pub fn archive_symbols(path: &Path) -> Result<BTreeSet<String>> {
    let bytes = fs_err::read(path)?;
    let name = path.display();
    let Some(rest) = bytes.strip_prefix(b"!<arch>\n") else {
        bail!("`{name}` is not a static archive (`ar` format)");
    };
    if rest.len() < 60 {
        return Ok(BTreeSet::new());
    }
    let header = &rest[..60];
    let member = String::from_utf8_lossy(&header[..16])
        .trim_end()
        .to_string();
    let size: usize = String::from_utf8_lossy(&header[48..58])
        .trim()
        .parse()
        .with_context(|| format!("`{name}` has a damaged archive header"))?;
    let body = rest
        .get(60..60 + size)
        .with_context(|| format!("`{name}` is truncated"))?;
    let width = match member.as_str() {
        "/" => 4,
        "/SYM64/" => 8,
        _ => return Ok(BTreeSet::new()),
    };
    let read = |at: usize| -> Option<usize> {
        let b = body.get(at..at + width)?;
        Some(b.iter().fold(0usize, |acc, &x| (acc << 8) | usize::from(x)))
    };
    let count = read(0).with_context(|| format!("`{name}` has a damaged symbol index"))?;
    let start = width * (count + 1);
    let names = body
        .get(start..)
        .with_context(|| format!("`{name}` has a damaged symbol index"))?;
    Ok(names
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .take(count)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GNU archive with a symbol index and one (fake) member.
    fn archive(symbols: &[&str]) -> Vec<u8> {
        let mut index = (symbols.len() as u32).to_be_bytes().to_vec();
        for _ in symbols {
            index.extend(0u32.to_be_bytes());
        }
        for s in symbols {
            index.extend(s.as_bytes());
            index.push(0);
        }
        if index.len() % 2 == 1 {
            index.push(0);
        }
        let mut out = b"!<arch>\n".to_vec();
        out.extend(
            format!(
                "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                "/",
                0,
                0,
                0,
                0,
                index.len()
            )
            .as_bytes(),
        );
        out.extend(index);
        out
    }

    fn wheel_dir(meta: &str, symbols: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let info = dir.path().join("pkg-1.0.dist-info");
        fs_err::create_dir_all(info.join("lib")).unwrap();
        fs_err::create_dir_all(dir.path().join("pkg/sub")).unwrap();
        fs_err::write(info.join(METADATA_FILE), meta).unwrap();
        fs_err::write(info.join("lib/ext.a"), archive(symbols)).unwrap();
        (dir, info)
    }

    #[test]
    fn reads_modules_and_checks_symbols() {
        let meta = "format = 1\npython = \"3.11\"\nlibraries = [\"m\"]\n[[module]]\nname = \"pkg.sub._ext\"\narchive = \"lib/ext.a\"\n";
        let (dir, info) = wheel_dir(meta, &["PyInit__ext", "helper"]);
        let mut ext = Extensions::default();
        assert!(ext.add_wheel("pkg", &info, dir.path(), "3.11").unwrap());
        assert_eq!(ext.modules[0].init, "PyInit__ext");
        assert_eq!(ext.libraries, ["m"]);
        ext.check_unique().unwrap();

        let (dir, info) = wheel_dir(meta, &["PyInit_other"]);
        let err = Extensions::default()
            .add_wheel("pkg", &info, dir.path(), "3.11")
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not define `PyInit__ext`"), "{err}");
    }

    #[test]
    fn refuses_wrong_python_and_escaping_archives() {
        let (dir, info) = wheel_dir("format = 1\npython = \"3.12\"\n", &[]);
        let err = Extensions::default()
            .add_wheel("pkg", &info, dir.path(), "3.11")
            .unwrap_err()
            .to_string();
        assert!(err.contains("compiled for Python 3.12"), "{err}");
        let meta = "format = 1\npython = \"3.11\"\n[[module]]\nname = \"pkg._x\"\narchive = \"../../x.a\"\n";
        let (dir, info) = wheel_dir(meta, &[]);
        let err = Extensions::default()
            .add_wheel("pkg", &info, dir.path(), "3.11")
            .unwrap_err()
            .to_string();
        assert!(err.contains("without `..`"), "{err}");
    }

    #[test]
    fn duplicate_init_symbols_are_refused() {
        let mut ext = Extensions::default();
        for name in ["a._ext", "b._ext"] {
            ext.modules.push(ExtensionModule {
                name: name.into(),
                init: default_init(name),
                archive: "x.a".into(),
                dist: "d".into(),
                imports: vec![],
            });
        }
        let err = ext.check_unique().unwrap_err().to_string();
        assert!(
            err.contains("both use the init symbol `PyInit__ext`"),
            "{err}"
        );
    }
}
