//! One `PYWASM_HOME`, many processes: two CI jobs, an editor plugin beside a terminal. As cargo
//! locks its package cache, whoever creates an entry (an SDK component, a built wheel) holds
//! that entry's file lock, and the others wait for it and then find the entry made; work in
//! `tmp/` is locked by the process doing it, so that a process killed half-way leaves a tree
//! the next one recognises as stale and removes, instead of an ever-growing `tmp/`.
//!
//! The locks are `flock`s on files under `locks/` (and in each work directory): the kernel
//! releases them when their process ends, however it ends.

use std::fs::{File, TryLockError};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use super::SdkHome;
use crate::Shell;
use crate::diagnostic::Diagnostic;

/// The lock file inside every work directory of `tmp/`.
const WORK_LOCK: &str = ".pywasm-lock";

/// A work directory of `tmp/` with no lock file is another process's only for the moment
/// between its creation and its lock; older than this, it was left by a pywasm from before
/// the locks or by a process killed in that moment.
const UNLOCKED_GRACE: Duration = Duration::from_secs(10 * 60);

/// A held lock; dropping it releases it.
#[derive(Debug)]
pub struct EntryLock {
    _file: File,
}

/// Takes the lock of cache entry `name` (a file name: an SDK directory's name, a wheel's key),
/// waiting while another process holds it and saying so, as cargo does.
pub fn lock_entry(home: &SdkHome, shell: &Shell, name: &str) -> Result<EntryLock> {
    let dir = home.root().join("locks");
    create_writable(home, &dir)?;
    let path = dir.join(format!("{name}.lock"));
    let file = open_lock_file(home, &path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            shell.status(
                "Blocking",
                &format!(
                    "waiting for the lock on `{}`: another pywasm process is preparing it",
                    path.display()
                ),
            );
            file.lock()
                .with_context(|| format!("failed to lock `{}`", path.display()))?;
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("failed to lock `{}`", path.display()));
        }
    }
    Ok(EntryLock { _file: file })
}

/// A private directory under `tmp/`, locked while its process lives, removed when dropped.
#[derive(Debug)]
pub struct WorkDir {
    // Field order: the directory goes before its lock is released.
    dir: tempfile::TempDir,
    _lock: File,
}

impl WorkDir {
    /// Creates `tmp/<prefix>-XXXXXX` and locks it.
    pub fn new(home: &SdkHome, prefix: &str) -> Result<WorkDir> {
        let tmp = home.tmp_dir();
        create_writable(home, &tmp)?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}-"))
            .tempdir_in(&tmp)
            .map_err(|e| not_writable(home, &tmp, e))?;
        // Locked under another name, then renamed: a sweeper that finds `WORK_LOCK` always
        // finds it held. Until the rename, the directory has no lock file and is younger than
        // `UNLOCKED_GRACE`, so no sweeper takes it either.
        let pending = dir.path().join(format!("{WORK_LOCK}-pending"));
        let lock = open_lock_file(home, &pending)?;
        lock.lock()
            .with_context(|| format!("failed to lock `{}`", pending.display()))?;
        let lock_path = dir.path().join(WORK_LOCK);
        fs_err::rename(&pending, &lock_path)?;
        Ok(WorkDir { dir, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Leaves the directory in place (a failed build's tree, for its user to look at) and
    /// releases its lock, so that the next sweep of its prefix removes it.
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }

    /// Removes the directory now, reporting a failure that dropping would ignore.
    pub fn close(self) -> Result<()> {
        let path = self.dir.path().to_owned();
        self.dir
            .close()
            .with_context(|| format!("failed to remove `{}`", path.display()))
    }
}

/// Removes the work directories of `tmp/` whose name starts with `<prefix>-` and that no live
/// process holds: what killed processes left. Returns the directories removed.
pub fn sweep_stale_work(home: &SdkHome, prefix: &str) -> Result<Vec<PathBuf>> {
    let tmp = home.tmp_dir();
    let entries = match fs_err::read_dir(&tmp) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let prefix = format!("{prefix}-");
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        if !name.starts_with(&prefix) || !path.is_dir() {
            continue;
        }
        if is_stale(&path)? {
            fs_err::remove_dir_all(&path)?;
            removed.push(path);
        }
    }
    Ok(removed)
}

fn is_stale(dir: &Path) -> Result<bool> {
    let lock_path = dir.join(WORK_LOCK);
    let file = match File::options().read(true).write(true).open(&lock_path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let modified = fs_err::metadata(dir)?.modified()?;
            let age = SystemTime::now()
                .duration_since(modified)
                .unwrap_or_default();
            return Ok(age > UNLOCKED_GRACE);
        }
        Err(e) => {
            return Err(e).with_context(|| format!("failed to open `{}`", lock_path.display()));
        }
    };
    match file.try_lock() {
        // Nobody holds it: its process is gone. Held until the tree is removed.
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("failed to lock `{}`", lock_path.display()))
        }
    }
}

/// Creates `dir` (inside the home) or fails with the diagnostic of a home pywasm cannot write.
fn create_writable(home: &SdkHome, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| not_writable(home, dir, e))
}

fn open_lock_file(home: &SdkHome, path: &Path) -> Result<File> {
    File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| not_writable(home, path, e))
}

/// Checks that pywasm can create files in the home, before any work: a read-only or foreign
/// cache is one clear error, not whatever the first write of a build runs into.
pub fn check_writable(home: &SdkHome) -> Result<()> {
    let dir = home.root().join("locks");
    create_writable(home, &dir)?;
    // A probe, never locked: creating it is the test.
    open_lock_file(home, &dir.join(".writable")).map(drop)
}

fn not_writable(home: &SdkHome, path: &Path, e: std::io::Error) -> anyhow::Error {
    let denied = matches!(
        e.kind(),
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem
    );
    if !denied {
        return anyhow::Error::new(e).context(format!("failed to create `{}`", path.display()));
    }
    let reason = os_reason(&e);
    Diagnostic::new(format!(
        "pywasm cannot write to its cache `{}`: {reason}",
        home.root().display()
    ))
    .note(format!("creating `{}` failed", path.display()))
    .help(
        "set PYWASM_HOME to a directory you may write to (it keeps the SDK and the build \
         caches), or make this one writable",
    )
    .into()
}

/// The system's words for `e` ("Read-only file system (os error 30)").
fn os_reason(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code).to_string(),
        None => e.to_string(),
    }
}
