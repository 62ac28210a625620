//! `.pywasm-sdk.json`: what an unpacked SDK directory holds (identity, source, archive digest,
//! every file's size), written once unpacking is complete, so a build can check the directory
//! with one `stat` per file instead of hashing it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

pub(crate) const RECORD: &str = ".pywasm-sdk.json";

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Record {
    pub identity: String,
    pub source: String,
    pub sha256: String,
    /// Relative `/`-separated path -> size in bytes.
    pub files: BTreeMap<String, u64>,
}

/// Why a directory cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    Missing,
    Damaged(String),
}

/// Records every file below `dir` (links to files count as the file they point to).
pub(crate) fn write(dir: &Path, identity: &str, source: &str, sha256: &str) -> Result<()> {
    let mut files = BTreeMap::new();
    list(dir, "", &mut files)?;
    let record = Record {
        identity: identity.to_owned(),
        source: source.to_owned(),
        sha256: sha256.to_owned(),
        files,
    };
    let json = serde_json::to_vec_pretty(&record).context("failed to encode the SDK record")?;
    crate::fsutil::atomic_write(&dir.join(RECORD), &json)
}

fn list(root: &Path, rel: &str, files: &mut BTreeMap<String, u64>) -> Result<()> {
    let dir = root.join(rel);
    for entry in fs_err::read_dir(&dir)? {
        let entry = entry.with_context(|| format!("failed to list `{}`", dir.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            bail!("`{}` has a name that is not UTF-8", entry.path().display());
        };
        let child = if rel.is_empty() {
            name.to_owned()
        } else {
            format!("{rel}/{name}")
        };
        let kind = fs_err::symlink_metadata(entry.path())?;
        if kind.is_dir() {
            list(root, &child, files)?;
        } else if let Ok(meta) = std::fs::metadata(entry.path())
            && meta.is_file()
            && child != RECORD
        {
            // Links to directories and dangling links are not files a build reads.
            files.insert(child, meta.len());
        }
    }
    Ok(())
}

/// Checks that `dir` holds what its record says, for the component named `identity`.
pub(crate) fn check(dir: &Path, identity: &str) -> Result<(), Problem> {
    if !dir.is_dir() {
        return Err(Problem::Missing);
    }
    let record = read(dir).map_err(|e| Problem::Damaged(format!("{e:#}")))?;
    if record.identity != identity {
        return Err(Problem::Damaged(format!(
            "it holds {}, not {identity}",
            record.identity
        )));
    }
    let mut problems = record
        .files
        .iter()
        .filter_map(|(rel, &size)| file_problem(dir, rel, size));
    let Some(first) = problems.next() else {
        return Ok(());
    };
    let more = problems.count();
    Err(Problem::Damaged(if more == 0 {
        first
    } else {
        format!("{first} (and {more} more files differ)")
    }))
}

fn read(dir: &Path) -> Result<Record> {
    let path = dir.join(RECORD);
    let text = match fs_err::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("`{RECORD}` is missing, so nothing says what the directory should hold")
        }
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&text)
        .with_context(|| format!("`{}` is not a valid SDK record", path.display()))
}

fn file_problem(dir: &Path, rel: &str, size: u64) -> Option<String> {
    match std::fs::metadata(dir.join(rel)) {
        Err(_) => Some(format!("`{rel}` is missing")),
        Ok(meta) if !meta.is_file() => Some(format!("`{rel}` is no longer a file")),
        Ok(meta) if meta.len() != size => Some(format!(
            "`{rel}` has {} bytes instead of {size}",
            meta.len()
        )),
        Ok(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(dir.path().join("bin")).unwrap();
        fs_err::write(dir.path().join("bin/a"), b"aaaa").unwrap();
        fs_err::write(dir.path().join("b.h"), b"b").unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("bin/link")).unwrap();
        std::os::unix::fs::symlink("nowhere", dir.path().join("dangling")).unwrap();
        write(dir.path(), "thing 1", "here", "00").unwrap();
        dir
    }

    #[test]
    fn the_record_lists_files_and_links_to_files() {
        let dir = tree();
        let record = read(dir.path()).unwrap();
        let files: Vec<_> = record.files.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(files, [("b.h", 1), ("bin/a", 4), ("bin/link", 4)]);
        assert_eq!(check(dir.path(), "thing 1"), Ok(()));
    }

    #[test]
    fn changes_are_reported() {
        let dir = tree();
        assert!(
            matches!(check(dir.path(), "thing 2"), Err(Problem::Damaged(d)) if d.contains("thing 1"))
        );
        fs_err::write(dir.path().join("bin/a"), b"a").unwrap();
        let Err(Problem::Damaged(detail)) = check(dir.path(), "thing 1") else {
            panic!("not damaged")
        };
        assert_eq!(
            detail,
            "`bin/a` has 1 bytes instead of 4 (and 1 more files differ)"
        );
        fs_err::remove_file(dir.path().join(RECORD)).unwrap();
        assert!(
            matches!(check(dir.path(), "thing 1"), Err(Problem::Damaged(d)) if d.contains("is missing"))
        );
        assert_eq!(
            check(&dir.path().join("absent"), "thing 1"),
            Err(Problem::Missing)
        );
    }
}
