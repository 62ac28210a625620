//! `[tool.pywasm] wheels`: wheel files, globs, unpacked wheel directories and find-links style
//! directories, gathered into one find-links directory for pip.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::ResolveContext;
use crate::diagnostic::Located;
use crate::fsutil;
use crate::manifest::DependencySpec;
use crate::python::wheel::{self, WheelName};

/// A wheel or sdist `[tool.pywasm] wheels` provides.
#[derive(Clone, Debug)]
pub(super) struct LocalWheel {
    /// The entry as the user knows it (relative to the project when inside it).
    pub(super) display: String,
    pub(super) sha256: String,
    /// From pywasm's own built wheels (`pywasm wheel build`), not from the project.
    pub(super) built: bool,
}

/// Every wheel and sdist from `[tool.pywasm] wheels`, copied into one find-links directory.
pub(super) struct LocalWheels {
    pub(super) origins: BTreeMap<String, LocalWheel>,
}

impl LocalWheels {
    pub(super) fn gather(
        cx: &ResolveContext,
        spec: &DependencySpec,
        links: &Path,
    ) -> Result<LocalWheels> {
        fs_err::create_dir_all(links)?;
        let mut origins: BTreeMap<String, LocalWheel> = BTreeMap::new();
        for entry in &spec.wheels {
            for source in expand_entry(cx.project_dir, entry)? {
                let file = if source.is_dir() {
                    wheel::pack_dir(&source, links).with_context(|| {
                        format!("failed to pack the unpacked wheel `{}`", source.display())
                    })?
                } else {
                    let name = source
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if !is_sdist(&name) {
                        WheelName::parse(&name).map_err(|e| {
                            entry.origin.error(
                                &format!("`{}` is not a wheel: {e:#}", source.display()),
                                Some(
                                    "list wheel files (`name-version-tags.whl`) or sdists \
                                     (`.tar.gz`, `.zip`), as pip names them",
                                ),
                            )
                        })?;
                    }
                    let target = links.join(&name);
                    fs_err::copy(&source, &target)?;
                    target
                };
                let name = file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let sha256 = fsutil::sha256_file(&file)?;
                let display = source
                    .strip_prefix(cx.project_dir)
                    .map(fsutil::slash_path)
                    .unwrap_or_else(|_| source.display().to_string());
                if let Some(previous) = origins.get(&name)
                    && previous.sha256 != sha256
                {
                    return Err(entry.origin.error(
                        &format!(
                            "two different files are both `{name}`: `{}` and `{display}`",
                            previous.display
                        ),
                        Some("keep one of them in `[tool.pywasm] wheels`"),
                    ));
                }
                origins.insert(
                    name,
                    LocalWheel {
                        display,
                        sha256,
                        built: false,
                    },
                );
            }
        }
        add_built(cx, links, &mut origins)?;
        Ok(LocalWheels { origins })
    }
}

/// Offers the wheels `pywasm wheel build` made (lxml, pydantic-core, ...) too, so a
/// project that depends on them needs no configuration. The project's own wheels win.
fn add_built(
    cx: &ResolveContext,
    links: &Path,
    origins: &mut BTreeMap<String, LocalWheel>,
) -> Result<()> {
    let index = cx.home.wheels_index();
    if !index.is_dir() {
        return Ok(());
    }
    for entry in fs_err::read_dir(&index)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.ends_with(".whl") || origins.contains_key(&name) {
            continue;
        }
        let target = links.join(&name);
        if fs_err::hard_link(&path, &target).is_err() {
            fs_err::copy(&path, &target)?;
        }
        let sha256 = fsutil::sha256_file(&target)?;
        let display = path.display().to_string();
        origins.insert(
            name,
            LocalWheel {
                display,
                sha256,
                built: true,
            },
        );
    }
    Ok(())
}

/// What one `[tool.pywasm] wheels` entry stands for: wheel files, unpacked wheel directories.
fn expand_entry(project_dir: &Path, entry: &Located<String>) -> Result<Vec<PathBuf>> {
    let pattern = entry.value.trim();
    let help = "list wheel files, globs such as `wheels/*.whl`, unpacked wheel directories, or directories of wheels";
    if pattern.contains(['*', '?', '[']) {
        let found = glob(project_dir, pattern)?;
        if found.is_empty() {
            return Err(entry
                .origin
                .error(&format!("`{pattern}` matches no file"), Some(help)));
        }
        return Ok(found);
    }
    let path = project_dir.join(pattern);
    if path.is_file() {
        return Ok(vec![path]);
    }
    if !path.is_dir() {
        return Err(entry
            .origin
            .error(&format!("`{pattern}` does not exist"), Some(help)));
    }
    if is_unpacked_wheel(&path)? {
        return Ok(vec![path]);
    }
    let mut wheels: Vec<PathBuf> = Vec::new();
    for item in fs_err::read_dir(&path)? {
        let item = item?.path();
        let name = item
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Like a pip find-links directory: wheels, and sdists to build.
        let is_archive = name.ends_with(".whl") || is_sdist(&name);
        if (is_archive && item.is_file()) || (item.is_dir() && is_unpacked_wheel(&item)?) {
            wheels.push(item);
        }
    }
    wheels.sort();
    Ok(wheels)
}

fn is_sdist(file_name: &str) -> bool {
    file_name.ends_with(".tar.gz") || file_name.ends_with(".zip")
}

fn is_unpacked_wheel(dir: &Path) -> Result<bool> {
    for item in fs_err::read_dir(dir)? {
        let item = item?.path();
        if item.is_dir() && item.extension().is_some_and(|e| e == "dist-info") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `*`, `?` and `[...]`-free globbing, one path component at a time.
fn glob(base: &Path, pattern: &str) -> Result<Vec<PathBuf>> {
    let mut current: Vec<PathBuf> = vec![if pattern.starts_with('/') {
        PathBuf::from("/")
    } else {
        base.to_path_buf()
    }];
    for part in pattern.split('/').filter(|p| !p.is_empty() && *p != ".") {
        let mut next = Vec::new();
        for dir in &current {
            if !part.contains(['*', '?']) {
                let p = dir.join(part);
                if p.exists() {
                    next.push(p);
                }
                continue;
            }
            if !dir.is_dir() {
                continue;
            }
            for item in fs_err::read_dir(dir)? {
                let item = item?;
                let name = item.file_name().to_string_lossy().into_owned();
                if fsutil::wildcard_match(part, &name) && !name.starts_with('.') {
                    next.push(item.path());
                }
            }
        }
        current = next;
    }
    current.sort();
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_whole_names() {
        assert!(fsutil::wildcard_match("*.whl", "a-1-py3-none-any.whl"));
        assert!(fsutil::wildcard_match("a-?-*.whl", "a-1-x.whl"));
        assert!(!fsutil::wildcard_match("*.whl", "a.whl.txt"));
    }

    #[test]
    fn globs_walk_directories() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "w/a/x-1-py3-none-any.whl",
            "w/b/y-1-py3-none-any.whl",
            "w/b/notes.txt",
        ] {
            let p = dir.path().join(f);
            fs_err::create_dir_all(p.parent().unwrap()).unwrap();
            fs_err::write(p, "").unwrap();
        }
        let found = glob(dir.path(), "w/*/*.whl").unwrap();
        assert_eq!(found.len(), 2);
    }
}
