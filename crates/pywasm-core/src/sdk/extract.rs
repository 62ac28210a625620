//! Unpacking wheels (zip) and tarballs (`.tar.gz`, `.tar.xz`) into a fresh directory, refusing any entry
//! that would land outside it: absolute paths, `..`, links pointing out, and writes through a
//! link the archive itself planted; and holding the archive to [`ArchiveLimits::SDK`].

mod unpacker;

use std::cell::Cell;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};

use super::part::Layout;
use crate::limits::{ArchiveLimits, Budget, Counting, Exceeded, Stop, Stored};
use unpacker::Unpacker;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Zip,
    TarGz,
    TarXz,
}

impl Format {
    pub(crate) fn of(file: &str) -> Result<Format> {
        if file.ends_with(".whl") || file.ends_with(".zip") {
            Ok(Format::Zip)
        } else if file.ends_with(".tar.gz") || file.ends_with(".tgz") {
            Ok(Format::TarGz)
        } else if file.ends_with(".tar.xz") {
            Ok(Format::TarXz)
        } else {
            bail!(
                "cannot unpack `{file}`: only `.whl`, `.zip`, `.tar.gz`, `.tgz` and `.tar.xz` \
                 archives are supported"
            )
        }
    }
}

/// Unpacks the part of `archive` that `layout` keeps into the existing, empty directory `dest`.
pub(crate) fn extract(archive: &Path, format: Format, layout: &Layout, dest: &Path) -> Result<()> {
    extract_with(archive, format, layout, dest, ArchiveLimits::SDK)
}

pub(crate) fn extract_with(
    archive: &Path,
    format: Format,
    layout: &Layout,
    dest: &Path,
    limits: ArchiveLimits,
) -> Result<()> {
    let mut out = Unpacker::new(layout, dest)?;
    let mut budget = Budget::new(limits);
    let read = Cell::new(0);
    let file = || -> Result<_> {
        let file = BufReader::new(fs_err::File::open(archive)?);
        Ok(Counting {
            inner: file,
            count: &read,
        })
    };
    match format {
        Format::Zip => extract_zip(archive, &mut out, &mut budget),
        Format::TarGz => {
            let stream = flate2::read::GzDecoder::new(file()?);
            extract_tar(stream, &mut out, &mut budget, &read)
        }
        Format::TarXz => {
            let stream = xz2::read::XzDecoder::new(file()?);
            extract_tar(stream, &mut out, &mut budget, &read)
        }
    }
    .with_context(|| format!("failed to unpack `{}`", archive.display()))?;
    out.finish()
}

/// Copies one member into a new file at `target`, within the budget; returns the file.
fn write_member(
    budget: &mut Budget,
    reader: &mut impl Read,
    stored: Stored<'_>,
    raw: &Path,
    target: &Path,
) -> Result<fs_err::File> {
    let mut file = fs_err::File::create(target)?;
    match budget.copy(reader, stored, &mut file) {
        Ok(_) => Ok(file),
        Err(Stop::Io(e)) => {
            Err(e).with_context(|| format!("failed to write `{}`", target.display()))
        }
        Err(Stop::Limit(e)) => Err(too_big(&format!("member `{}`", raw.display()), e)),
    }
}

/// `what` is "member `x`" or "member number 5".
fn too_big(what: &str, exceeded: Exceeded) -> anyhow::Error {
    anyhow::anyhow!(
        "refusing the archive: its {what} {exceeded}; the limits of the SDK's archives are \
         `ArchiveLimits::SDK` in pywasm's source"
    )
}

fn extract_tar(
    reader: impl Read,
    out: &mut Unpacker<'_>,
    budget: &mut Budget,
    read: &Cell<u64>,
) -> Result<()> {
    let mut tar = tar::Archive::new(reader);
    for entry in tar.entries().context("not a readable tar archive")? {
        let mut entry = entry.context("a damaged tar entry")?;
        let raw = entry
            .path()
            .context("a tar entry with a bad path")?
            .into_owned();
        let what = || format!("member `{}`", raw.display());
        budget.count_member().map_err(|e| too_big(&what(), e))?;
        let kind = entry.header().entry_type();
        let Some(rel) = out.map(&raw, kind.is_dir())? else {
            continue;
        };
        match kind {
            tar::EntryType::Directory => out.dir(&rel)?,
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let target = out.file_target(&rel)?;
                let (mode, mtime) = (entry.header().mode().ok(), entry.header().mtime().ok());
                let file = write_member(budget, &mut entry, Stored::Stream(read), &raw, &target)?;
                // CPython's make decides from the sources' times what to regenerate.
                if let Some(secs) = mtime {
                    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
                    let set = file.file().set_modified(time);
                    set.with_context(|| {
                        format!("failed to set the time of `{}`", target.display())
                    })?;
                }
                if let Some(mode) = mode {
                    set_mode(&target, mode & 0o777)?;
                }
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()?
                    .context("a symlink entry without a target")?;
                out.symlink(&rel, &link)?;
            }
            tar::EntryType::Link => {
                let link = entry
                    .link_name()?
                    .context("a hard link entry without a target")?;
                out.hard_link(&rel, &link)?;
            }
            // Metadata entries (pax headers and the like) carry no file.
            _ => {}
        }
    }
    Ok(())
}

fn extract_zip(archive: &Path, out: &mut Unpacker<'_>, budget: &mut Budget) -> Result<()> {
    let file = fs_err::File::open(archive)?;
    let mut zip =
        zip::ZipArchive::new(BufReader::new(file)).context("not a readable zip archive")?;
    let count = budget.check_count(zip.len() as u64);
    count.map_err(|e| too_big(&format!("member number {}", zip.len()), e))?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).context("a damaged zip entry")?;
        let raw = PathBuf::from(entry.name());
        let Some(rel) = out.map(&raw, entry.is_dir())? else {
            continue;
        };
        if entry.is_dir() {
            out.dir(&rel)?;
        } else if entry.is_symlink() {
            let mut link = String::new();
            (&mut entry)
                .take(4096)
                .read_to_string(&mut link)
                .with_context(|| format!("failed to read the symlink `{}`", raw.display()))?;
            out.symlink(&rel, Path::new(&link))?;
        } else {
            let target = out.file_target(&rel)?;
            let stored = Stored::Member(entry.compressed_size());
            write_member(budget, &mut entry, stored, &raw, &target)?;
            if let Some(mode) = entry.unix_mode() {
                set_mode(&target, mode & 0o777)?;
            }
        }
    }
    Ok(())
}

#[cfg(unix)]
pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    Ok(fs_err::set_permissions(
        path,
        std::fs::Permissions::from_mode(mode),
    )?)
}

#[cfg(not(unix))]
pub(crate) fn set_mode(_path: &Path, _mode: u32) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests;
