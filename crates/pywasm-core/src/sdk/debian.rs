//! The pinned file of a Debian source package, fetched by its path in the archive's pool.
//!
//! `apt-get source` is not used: it picks the newest version of the package in any suite, and a
//! mirror may list a security update whose files it does not serve, while the pinned upstream
//! archive sits unchanged in the main archive's pool. The pool path of a file is fixed by the
//! package's name alone, so every place that may serve it is tried in turn and the first copy
//! with the pinned sha256 wins.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::Shell;

/// Pool roots (URLs ending in `.../pool` or `.../pool/updates`) to try, in order, instead of
/// those derived from the host's apt sources: for hosts without apt, or a private mirror.
pub const MIRRORS_VAR: &str = "PYWASM_DEBIAN_POOLS";

/// Every pinned Debian source lives in the `main` component.
const COMPONENT: &str = "main";

/// One file of a Debian source package, as the pins name it.
#[derive(Clone, Copy, Debug)]
pub struct PoolFile<'a> {
    pub package: &'a str,
    pub file: &'a str,
    pub sha256: &'a str,
}

/// Fetches `pin.file` into `scratch`, trying each pool in turn; the error names every URL tried
/// and what each answered.
pub fn fetch(shell: &Shell, pin: PoolFile<'_>, scratch: &Path) -> Result<PathBuf> {
    let roots = pool_roots()?;
    if roots.is_empty() {
        bail!("this host has no Debian apt sources, and {MIRRORS_VAR} is not set");
    }
    fetch_from(shell, pin, &roots, scratch)
}

/// Tries `roots` in order for the pinned file.
pub fn fetch_from(
    shell: &Shell,
    pin: PoolFile<'_>,
    roots: &[String],
    scratch: &Path,
) -> Result<PathBuf> {
    let dest = scratch.join(pin.file);
    let mut tried = Vec::new();
    for root in roots {
        let url = format!(
            "{}/{COMPONENT}/{}/{}/{}",
            root.trim_end_matches('/'),
            pool_prefix(pin.package),
            pin.package,
            escape(pin.file)
        );
        match super::download(shell, &url, &dest) {
            Ok(digest) if digest == pin.sha256 => return Ok(dest),
            Ok(digest) => tried.push(format!("{url}: another file (sha256 {digest})")),
            Err(err) => tried.push(format!("{url}: {}", err.root_cause())),
        }
    }
    let _ = fs_err::remove_file(&dest);
    // `sources::obtain` turns this into the error users see, with what to do.
    bail!("{}", tried.join("; "))
}

/// Debian's pool directory of a source package: `libx` for `libxml2`, `z` for `zlib`.
fn pool_prefix(package: &str) -> &str {
    let len = if package.starts_with("lib") && package.len() > 3 {
        4
    } else {
        1
    };
    package.get(..len).unwrap_or(package)
}

/// The characters of Debian file names that URLs must escape (`+` in `libxml2_2.9.14+dfsg`).
fn escape(file: &str) -> String {
    file.replace('%', "%25").replace('+', "%2B")
}

/// `PYWASM_DEBIAN_POOLS` when set, else the pools of the host's Debian apt sources.
fn pool_roots() -> Result<Vec<String>> {
    if let Some(value) = std::env::var_os(MIRRORS_VAR) {
        return Ok(split_pools(&value.to_string_lossy()));
    }
    let mut entries = Vec::new();
    let dir = Path::new("/etc/apt/sources.list.d");
    let mut files = Vec::new();
    if Path::new("/etc/apt/sources.list").is_file() {
        files.push(PathBuf::from("/etc/apt/sources.list"));
    }
    if dir.is_dir() {
        let mut listed: Vec<PathBuf> = fs_err::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()?;
        listed.sort();
        files.extend(listed);
    }
    for path in files {
        let text = fs_err::read_to_string(&path)?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("sources") => entries.extend(parse_deb822(&text)),
            Some("list") => entries.extend(parse_one_line(&text)),
            _ => {}
        }
    }
    Ok(pools_in_order(&entries, codename().as_deref()))
}

/// The pool URLs of a `PYWASM_DEBIAN_POOLS` value: separated by spaces or newlines, in order.
fn split_pools(value: &str) -> Vec<String> {
    value.split_whitespace().map(String::from).collect()
}

/// `VERSION_CODENAME` of `/etc/os-release`.
fn codename() -> Option<String> {
    let text = fs_err::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// One binary-package archive of the host's apt configuration.
#[derive(Debug, PartialEq)]
struct AptEntry {
    uri: String,
    suites: Vec<String>,
}

/// Stanzas of deb822 `.sources` files with `Types: deb` (and not `Enabled: no`).
fn parse_deb822(text: &str) -> Vec<AptEntry> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| -> Vec<String> {
            stanza
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .find_map(|l| {
                    let (key, value) = l.split_once(':')?;
                    key.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| value.split_whitespace().map(String::from).collect())
                })
                .unwrap_or_default()
        };
        let enabled = field("Enabled").first().is_none_or(|v| v != "no");
        if !enabled || !field("Types").iter().any(|t| t == "deb") {
            continue;
        }
        let suites = field("Suites");
        out.extend(field("URIs").into_iter().map(|uri| AptEntry {
            uri,
            suites: suites.clone(),
        }));
    }
    out
}

/// `deb [options] URI suite components...` lines of `.list` files.
fn parse_one_line(text: &str) -> Vec<AptEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("deb ") else {
            continue;
        };
        let mut rest = rest.trim_start();
        if rest.starts_with('[') {
            let Some(end) = rest.find(']') else { continue };
            rest = &rest[end + 1..];
        }
        let mut words = rest.split_whitespace();
        if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
            out.push(AptEntry {
                uri: uri.to_owned(),
                suites: vec![suite.to_owned()],
            });
        }
    }
    out
}

/// The pool roots of the archives that carry the host's release (`bookworm`,
/// `bookworm-updates`, `bookworm-security`; third-party archives such as `nodistro` are left
/// out), in the order apt would prefer their suites: security (whose pool is `pool/updates`),
/// then the rest. Updates share the main archive's pool.
fn pools_in_order(entries: &[AptEntry], codename: Option<&str>) -> Vec<String> {
    let of_release = |suite: &str| match codename {
        Some(c) => suite == c || suite.strip_prefix(c).is_some_and(|r| r.starts_with('-')),
        None => true,
    };
    let mut security = Vec::new();
    let mut main = Vec::new();
    for entry in entries {
        let base = entry.uri.trim_end_matches('/');
        for suite in entry.suites.iter().filter(|s| of_release(s)) {
            let (list, root) = if suite.ends_with("-security") || suite.ends_with("/updates") {
                (&mut security, format!("{base}/pool/updates"))
            } else {
                (&mut main, format!("{base}/pool"))
            };
            if !list.contains(&root) {
                list.push(root);
            }
        }
    }
    security.into_iter().chain(main).collect()
}

#[cfg(test)]
mod tests;
