//! Unpacking wheels (zip) and tarballs (`.tar.gz`) into a fresh directory, refusing any entry
//! that would land outside it: absolute paths, `..`, links pointing out, and writes through a
//! link the archive itself planted.

use std::ffi::OsStr;
use std::io::BufReader;
use std::path::{Component as PathPart, Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::component::Layout;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Zip,
    TarGz,
}

impl Format {
    pub(crate) fn of(file: &str) -> Result<Format> {
        if file.ends_with(".whl") || file.ends_with(".zip") {
            Ok(Format::Zip)
        } else if file.ends_with(".tar.gz") || file.ends_with(".tgz") {
            Ok(Format::TarGz)
        } else {
            bail!(
                "cannot unpack `{file}`: only `.whl`, `.zip`, `.tar.gz` and `.tgz` archives are supported"
            )
        }
    }
}

/// Unpacks the part of `archive` that `layout` keeps into the existing, empty directory `dest`.
pub(crate) fn extract(archive: &Path, format: Format, layout: &Layout, dest: &Path) -> Result<()> {
    let mut out = Unpacker::new(layout, dest)?;
    match format {
        Format::Zip => extract_zip(archive, &mut out),
        Format::TarGz => extract_tar_gz(archive, &mut out),
    }
    .with_context(|| format!("failed to unpack `{}`", archive.display()))?;
    out.finish()
}

fn extract_tar_gz(archive: &Path, out: &mut Unpacker<'_>) -> Result<()> {
    let file = fs_err::File::open(archive)?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
    for entry in tar.entries().context("not a readable tar.gz archive")? {
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

/// Maps archive paths to destination paths for a [`Layout`] and writes entries safely.
struct Unpacker<'a> {
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
    fn new(layout: &'a Layout, dest: &Path) -> Result<Self> {
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
    fn map(&mut self, raw: &Path, is_dir: bool) -> Result<Option<PathBuf>> {
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

    fn finish(self) -> Result<()> {
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

    fn dir(&self, rel: &Path) -> Result<()> {
        let parent = self.checked_parent(rel)?;
        let dir = parent.join(file_name(rel)?);
        fs_err::create_dir_all(&dir)?;
        Ok(())
    }

    /// The path to create a file at: its parent exists and lies inside, and nothing planted
    /// there earlier redirects the write.
    fn file_target(&self, rel: &Path) -> Result<PathBuf> {
        let target = self.checked_parent(rel)?.join(file_name(rel)?);
        remove_non_dir(&target)?;
        Ok(target)
    }

    fn symlink(&mut self, rel: &Path, link: &Path) -> Result<()> {
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

    fn hard_link(&mut self, rel: &Path, link: &Path) -> Result<()> {
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
mod tests {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[derive(Clone, Copy)]
    enum Entry<'a> {
        File(&'a str, &'a [u8], u32),
        Link(&'a str, &'a str),
    }

    /// A tar.gz built from raw headers, so that paths the `tar` crate refuses to write (`..`)
    /// can be tested too.
    fn tar_gz(entries: &[Entry<'_>]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for entry in entries {
            let mut header = tar::Header::new_gnu();
            let (path, data) = match entry {
                Entry::File(path, data, mode) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(*mode);
                    header.set_size(data.len() as u64);
                    (path, *data)
                }
                Entry::Link(path, target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_link_name(target).unwrap();
                    header.set_size(0);
                    (path, &b""[..])
                }
            };
            let name = &mut header.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn unpack(bytes: &[u8], format: Format, layout: &Layout) -> (tempfile::TempDir, Result<()>) {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a");
        fs_err::write(&archive, bytes).unwrap();
        let dest = dir.path().join("out");
        fs_err::create_dir(&dest).unwrap();
        let result = extract(&archive, format, layout, &dest);
        (dir, result)
    }

    #[test]
    fn strip_top_keeps_modes_and_inner_links() {
        let bytes = tar_gz(&[
            Entry::File("sdk-1/bin/clang-19", b"elf", 0o755),
            Entry::Link("sdk-1/bin/clang", "clang-19"),
            Entry::File("sdk-1/share/x.h", b"h", 0o644),
        ]);
        let (dir, result) = unpack(&bytes, Format::TarGz, &Layout::StripTop);
        result.unwrap();
        let out = dir.path().join("out");
        assert_eq!(fs_err::read(out.join("bin/clang")).unwrap(), b"elf");
        let mode = fs_err::metadata(out.join("bin/clang-19"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(fs_err::read(out.join("share/x.h")).unwrap(), b"h");
    }

    #[test]
    fn strip_top_refuses_two_top_level_directories() {
        let bytes = tar_gz(&[
            Entry::File("a/x", b"", 0o644),
            Entry::File("b/y", b"", 0o644),
        ]);
        let err = unpack(&bytes, Format::TarGz, &Layout::StripTop)
            .1
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("more than one top-level directory (`a` and `b`)"),
            "{err:#}"
        );
    }

    #[test]
    fn subdir_keeps_only_that_directory() {
        let bytes = tar_gz(&[
            Entry::File("p/other.txt", b"", 0o644),
            Entry::File("p/keep/lib/x.a", b"ar", 0o644),
        ]);
        let (dir, result) = unpack(&bytes, Format::TarGz, &Layout::Subdir("p/keep".to_owned()));
        result.unwrap();
        assert_eq!(fs_err::read(dir.path().join("out/lib/x.a")).unwrap(), b"ar");
        assert!(!dir.path().join("out/other.txt").exists());
        let err = unpack(&bytes, Format::TarGz, &Layout::Subdir("p/gone".to_owned()))
            .1
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("no directory `p/gone`"),
            "{err:#}"
        );
    }

    #[test]
    fn entries_that_climb_out_are_refused() {
        for path in ["../evil", "/abs/evil", "top/../../evil"] {
            let bytes = tar_gz(&[Entry::File(path, b"x", 0o644)]);
            let (dir, result) = unpack(&bytes, Format::TarGz, &Layout::AsIs);
            let err = format!("{:#}", result.unwrap_err());
            assert!(err.contains(path) && err.contains("outside"), "{err}");
            assert!(!dir.path().join("evil").exists());
        }
    }

    #[test]
    fn links_that_point_out_are_refused() {
        let bytes = tar_gz(&[Entry::Link("top/bin/evil", "../../../etc/passwd")]);
        let err = format!(
            "{:#}",
            unpack(&bytes, Format::TarGz, &Layout::StripTop)
                .1
                .unwrap_err()
        );
        assert!(err.contains("points outside"), "{err}");
        let bytes = tar_gz(&[Entry::Link("top/evil", "/etc/passwd")]);
        assert!(unpack(&bytes, Format::TarGz, &Layout::StripTop).1.is_err());
    }

    #[test]
    fn links_through_planted_links_are_refused() {
        // `d/s` resolves to dest itself, so `d/s/t -> ..` is dest's parent.
        let bytes = tar_gz(&[Entry::Link("d/s", ".."), Entry::Link("d/s/t", "..")]);
        let err = format!(
            "{:#}",
            unpack(&bytes, Format::TarGz, &Layout::AsIs).1.unwrap_err()
        );
        assert!(
            err.contains("`d/s/t` -> `..`") && err.contains("points outside"),
            "{err}"
        );
    }

    /// `x -> a/b/..` points inside when made; `a/b -> ..`, made later, turns it outwards.
    const TURNED: [Entry<'static>; 3] = [
        Entry::File("a/keep", b"", 0o644),
        Entry::Link("x", "a/b/.."),
        Entry::Link("a/b", ".."),
    ];

    #[test]
    fn links_turned_outwards_by_later_links_are_refused() {
        let bytes = tar_gz(&TURNED);
        let err = format!(
            "{:#}",
            unpack(&bytes, Format::TarGz, &Layout::AsIs).1.unwrap_err()
        );
        assert!(
            err.contains("`x` -> `a/b/..`") && err.contains("points outside"),
            "{err}"
        );
    }

    #[test]
    fn writes_through_a_link_that_leads_out_are_refused() {
        let mut entries = Vec::from(TURNED);
        entries.push(Entry::File("x/evil", b"x", 0o644));
        let (dir, result) = unpack(&tar_gz(&entries), Format::TarGz, &Layout::AsIs);
        let err = format!("{:#}", result.unwrap_err());
        assert!(err.contains("`x/evil`"), "{err}");
        assert!(!dir.path().join("evil").exists());
    }

    fn zip_bytes(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data, mode) in entries {
            let options = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
            zip.start_file(*name, options).unwrap();
            zip.write_all(data).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn wheels_unpack_as_they_are() {
        let bytes = zip_bytes(&[
            ("ziglang/zig", b"#!/bin/sh\n", 0o755),
            ("ziglang/lib/a.h", b"h", 0o644),
        ]);
        let (dir, result) = unpack(&bytes, Format::Zip, &Layout::AsIs);
        result.unwrap();
        let mode = fs_err::metadata(dir.path().join("out/ziglang/zig"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            fs_err::read(dir.path().join("out/ziglang/lib/a.h")).unwrap(),
            b"h"
        );
    }

    #[test]
    fn zip_entries_that_climb_out_are_refused() {
        let bytes = zip_bytes(&[("../evil", b"x", 0o644)]);
        let (dir, result) = unpack(&bytes, Format::Zip, &Layout::AsIs);
        assert!(format!("{:#}", result.unwrap_err()).contains("`../evil`"));
        assert!(!dir.path().join("evil").exists());
    }

    #[test]
    fn formats_come_from_the_file_name() {
        assert_eq!(Format::of("z.whl").unwrap(), Format::Zip);
        assert_eq!(Format::of("s.tar.gz").unwrap(), Format::TarGz);
        assert!(Format::of("s.tar.xz").is_err());
    }
}
