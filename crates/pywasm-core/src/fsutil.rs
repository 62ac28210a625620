//! File helpers shared by the stages: atomic writes, hashing, and directory walks in a stable
//! order.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees half a file and a failed build never leaves one behind.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    fs_err::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".pywasm-")
        .tempfile_in(dir)
        .with_context(|| format!("failed to create a temporary file in `{}`", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("failed to write `{}`", tmp.path().display()))?;
    // Temporary files are created private (0600); a published artifact is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs_err::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path).map_err(|e| e.error).with_context(|| {
        format!(
            "failed to move the new file into place at `{}`",
            path.display()
        )
    })?;
    Ok(())
}

/// The directory that holds `path`, `.` for a bare file name.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("failed to read `{}`", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Every regular file below `root`, as paths relative to it, sorted by their `/`-joined form so
/// the order never depends on the file system. `skip_dir` sees each directory's relative path
/// and name and may prune it.
pub fn walk_files(root: &Path, skip_dir: &dyn Fn(&Path, &str) -> bool) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    walk(root, Path::new(""), skip_dir, &mut out)?;
    out.sort_by_key(|p| slash_path(p));
    Ok(out)
}

fn walk(
    root: &Path,
    rel: &Path,
    skip_dir: &dyn Fn(&Path, &str) -> bool,
    out: &mut Vec<PathBuf>,
) -> Result<()> {
    for entry in fs_err::read_dir(root.join(rel))? {
        let entry =
            entry.with_context(|| format!("failed to list `{}`", root.join(rel).display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            anyhow::bail!(
                "`{}` has a name that is not UTF-8; rename it or exclude it",
                entry.path().display()
            );
        };
        let child = rel.join(name);
        let kind = fs_err::metadata(entry.path())?;
        if kind.is_dir() {
            if !skip_dir(&child, name) {
                walk(root, &child, skip_dir, out)?;
            }
        } else if kind.is_file() {
            out.push(child);
        }
    }
    Ok(())
}

/// A relative path with `/` separators, as it appears inside the module.
pub fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether `name` matches `pattern` as a whole, with `*` (any run) and `?` (one character).
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some((b'?', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// The first file in `dir` (by name) whose extension is `ext`; `None` when there is none or no
/// `dir`.
pub fn first_with_extension(dir: &Path, ext: &str) -> Result<Option<PathBuf>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut found: Vec<PathBuf> = fs_err::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == ext))
        .collect();
    found.sort();
    Ok(found.into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/x.bin");
        atomic_write(&path, b"one").unwrap();
        atomic_write(&path, b"two").unwrap();
        assert_eq!(fs_err::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs_err::read_dir(dir.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["x.bin"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs_err::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o644
            );
        }
    }

    #[test]
    fn walk_is_sorted_and_prunes() {
        let dir = tempfile::tempdir().unwrap();
        for p in ["b/z.py", "b/a.py", "a.py", "skip/x.py"] {
            let p = dir.path().join(p);
            fs_err::create_dir_all(p.parent().unwrap()).unwrap();
            fs_err::write(p, "").unwrap();
        }
        let files = walk_files(dir.path(), &|_, name| name == "skip").unwrap();
        let files: Vec<_> = files.iter().map(|p| slash_path(p)).collect();
        assert_eq!(files, ["a.py", "b/a.py", "b/z.py"]);
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
