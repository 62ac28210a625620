//! Writing archive entries below one directory and nowhere else, whatever paths and links the
//! archive holds.

use std::ffi::OsStr;
use std::path::{Component as PathPart, Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::sdk::part::Layout;

/// Maps archive paths to destination paths for a [`Layout`] and writes entries safely.
pub(super) struct Unpacker<'a> {
    layout: &'a Layout,
    dest: PathBuf,
    /// `dest` with every link resolved, to compare resolved paths against.
    real_dest: PathBuf,
    /// For [`Layout::StripTop`]: the top-level directory seen first.
    top: Option<std::ffi::OsString>,
    written: usize,
    /// Symlinks made so far, checked again once the tree is complete: a link checked when made
    /// can be turned outwards by a link made later (`x -> a/b/..`, then `a/b -> ..`).
    links: Vec<PathBuf>,
}

impl<'a> Unpacker<'a> {
    pub(super) fn new(layout: &'a Layout, dest: &Path) -> Result<Self> {
        let real_dest = fs_err::canonicalize(dest)?;
        Ok(Unpacker {
            layout,
            dest: dest.to_owned(),
            real_dest,
            top: None,
            written: 0,
            links: Vec::new(),
        })
    }

    /// Where the entry `raw` goes, relative to `dest`, or `None` if the layout drops it.
    pub(super) fn map(&mut self, raw: &Path, is_dir: bool) -> Result<Option<PathBuf>> {
        let parts = safe_parts(raw)?;
        let layout = self.layout;
        let rest = match layout {
            Layout::AsIs => &parts[..],
            Layout::StripTop => self.strip_top(raw, &parts, is_dir)?,
            Layout::Subdir(subdir) => {
                let prefix = safe_parts(Path::new(subdir))
                    .context("the pinned `subdir` is not a plain relative path")?;
                match parts.strip_prefix(&prefix[..]) {
                    Some(rest) => rest,
                    None => return Ok(None),
                }
            }
        };
        if rest.is_empty() {
            return Ok(None);
        }
        self.written += 1;
        Ok(Some(rest.iter().collect()))
    }

    fn strip_top<'p>(
        &mut self,
        raw: &Path,
        parts: &'p [&'p OsStr],
        is_dir: bool,
    ) -> Result<&'p [&'p OsStr]> {
        let Some((first, rest)) = parts.split_first() else {
            return Ok(&[]);
        };
        if rest.is_empty() && !is_dir {
            bail!(
                "`{}` lies beside the archive's top-level directory; expected everything inside one",
                raw.display()
            );
        }
        match &self.top {
            None => self.top = Some(first.to_os_string()),
            Some(top) if top == first => {}
            Some(top) => bail!(
                "the archive has more than one top-level directory (`{}` and `{}`); expected one",
                top.to_string_lossy(),
                first.to_string_lossy()
            ),
        }
        Ok(rest)
    }

    pub(super) fn finish(self) -> Result<()> {
        for rel in &self.links {
            let path = self.dest.join(rel);
            if fs_err::symlink_metadata(&path)?.is_symlink() {
                self.check_link(rel, &fs_err::read_link(&path)?)?;
            }
        }
        if self.written > 0 {
            return Ok(());
        }
        match self.layout {
            Layout::Subdir(subdir) => {
                bail!("the archive has no directory `{subdir}` (the pinned `subdir`)")
            }
            _ => bail!("the archive is empty"),
        }
    }

    pub(super) fn dir(&self, rel: &Path) -> Result<()> {
        let parent = self.checked_parent(rel)?;
        let dir = parent.join(file_name(rel)?);
        fs_err::create_dir_all(&dir)?;
        Ok(())
    }

    /// The path to create a file at: its parent exists and lies inside, and nothing planted
    /// there earlier redirects the write.
    pub(super) fn file_target(&self, rel: &Path) -> Result<PathBuf> {
        let target = self.checked_parent(rel)?.join(file_name(rel)?);
        remove_non_dir(&target)?;
        Ok(target)
    }

    pub(super) fn symlink(&mut self, rel: &Path, link: &Path) -> Result<()> {
        let parent = self.check_link(rel, link)?;
        let target = parent.join(file_name(rel)?);
        remove_non_dir(&target)?;
        make_symlink(link, &target)?;
        self.links.push(rel.to_owned());
        Ok(())
    }

    /// Checks that the link `rel` -> `link` resolves inside; returns `rel`'s resolved parent.
    fn check_link(&self, rel: &Path, link: &Path) -> Result<PathBuf> {
        let parent = self.checked_parent(rel)?;
        if link.is_absolute() || !real_path(&parent.join(link)).starts_with(&self.real_dest) {
            bail!(
                "refusing the symlink `{}` -> `{}`: it points outside the directory being unpacked",
                rel.display(),
                link.display()
            );
        }
        Ok(parent)
    }

    pub(super) fn hard_link(&mut self, rel: &Path, link: &Path) -> Result<()> {
        let before = self.written;
        let source = self.map(link, false)?;
        self.written = before;
        let Some(source) = source else {
            bail!(
                "refusing the hard link `{}` -> `{}`: its target is not unpacked",
                rel.display(),
                link.display()
            );
        };
        let source = self.checked_parent(&source)?.join(file_name(&source)?);
        let target = self.file_target(rel)?;
        fs_err::hard_link(&source, &target)?;
        Ok(())
    }

    /// Creates `rel`'s parent and checks that, with every link resolved, it is inside `dest`:
    /// a link the archive planted (`d/s -> ..`) must not carry a later entry (`d/s/x`) out.
    fn checked_parent(&self, rel: &Path) -> Result<PathBuf> {
        let parent = self.dest.join(rel.parent().unwrap_or(Path::new("")));
        fs_err::create_dir_all(&parent)?;
        let real = fs_err::canonicalize(&parent)?;
        if !real.starts_with(&self.real_dest) {
            bail!(
                "refusing `{}`: a link in the archive leads it outside the directory being unpacked",
                rel.display()
            );
        }
        Ok(real)
    }
}

/// The normal parts of a relative archive path; anything that could climb out is an error.
fn safe_parts(raw: &Path) -> Result<Vec<&OsStr>> {
    let mut parts = Vec::new();
    for part in raw.components() {
        match part {
            PathPart::Normal(p) => parts.push(p),
            PathPart::CurDir => {}
            PathPart::ParentDir | PathPart::RootDir | PathPart::Prefix(_) => bail!(
                "refusing the archive entry `{}`: it would land outside the directory being unpacked",
                raw.display()
            ),
        }
    }
    Ok(parts)
}

fn file_name(rel: &Path) -> Result<&OsStr> {
    rel.file_name()
        .with_context(|| format!("`{}` has no file name", rel.display()))
}

/// `path` with every link resolved, as far as it exists; the missing rest is taken as written.
fn real_path(path: &Path) -> PathBuf {
    let mut base = path;
    let mut tail = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(base) {
            return normalize(&real.join(tail.iter().rev().collect::<PathBuf>()));
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name);
                base = parent;
            }
            // A missing directory followed by `..`: the OS would not resolve it either.
            _ => return normalize(path),
        }
    }
}

/// `a/b/../c` -> `a/c` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            PathPart::ParentDir => {
                out.pop();
            }
            PathPart::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Archives may repeat a path; the later entry wins, and must not write through an earlier link.
fn remove_non_dir(path: &Path) -> Result<()> {
    match fs_err::symlink_metadata(path) {
        Ok(meta) if !meta.is_dir() => Ok(fs_err::remove_file(path)?),
        _ => Ok(()),
    }
}

#[cfg(unix)]
fn make_symlink(link: &Path, at: &Path) -> Result<()> {
    Ok(fs_err::os::unix::fs::symlink(link, at)?)
}

#[cfg(not(unix))]
fn make_symlink(link: &Path, at: &Path) -> Result<()> {
    bail!(
        "cannot create the symlink `{}` -> `{}` on this system",
        at.display(),
        link.display()
    )
}
