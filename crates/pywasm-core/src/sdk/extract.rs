//! Unpacking wheels (zip) and tarballs (`.tar.gz`, `.tar.xz`) into a fresh directory, refusing any entry
//! that would land outside it: absolute paths, `..`, links pointing out, and writes through a
//! link the archive itself planted.

mod unpacker;

use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::part::Layout;
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
    let mut out = Unpacker::new(layout, dest)?;
    match format {
        Format::Zip => extract_zip(archive, &mut out),
        Format::TarGz => {
            let file = BufReader::new(fs_err::File::open(archive)?);
            extract_tar(flate2::read::GzDecoder::new(file), &mut out)
        }
        Format::TarXz => {
            let file = BufReader::new(fs_err::File::open(archive)?);
            extract_tar(xz2::read::XzDecoder::new(file), &mut out)
        }
    }
    .with_context(|| format!("failed to unpack `{}`", archive.display()))?;
    out.finish()
}

fn extract_tar(reader: impl std::io::Read, out: &mut Unpacker<'_>) -> Result<()> {
    let mut tar = tar::Archive::new(reader);
    for entry in tar.entries().context("not a readable tar archive")? {
        let mut entry = entry.context("a damaged tar entry")?;
        let raw = entry
            .path()
            .context("a tar entry with a bad path")?
            .into_owned();
        let kind = entry.header().entry_type();
        let Some(rel) = out.map(&raw, kind.is_dir())? else {
            continue;
        };
        match kind {
            tar::EntryType::Directory => out.dir(&rel)?,
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let target = out.file_target(&rel)?;
                entry
                    .unpack(&target)
                    .with_context(|| format!("failed to write `{}`", target.display()))?;
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

fn extract_zip(archive: &Path, out: &mut Unpacker<'_>) -> Result<()> {
    let file = fs_err::File::open(archive)?;
    let mut zip =
        zip::ZipArchive::new(BufReader::new(file)).context("not a readable zip archive")?;
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
            std::io::Read::read_to_string(&mut entry, &mut link)
                .with_context(|| format!("failed to read the symlink `{}`", raw.display()))?;
            out.symlink(&rel, Path::new(&link))?;
        } else {
            let target = out.file_target(&rel)?;
            let mut file = fs_err::File::create(&target)?;
            std::io::copy(&mut entry, &mut file)
                .with_context(|| format!("failed to write `{}`", target.display()))?;
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
