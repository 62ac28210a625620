//! Reading a wheel's zip archive: every member path is checked before anything is joined onto
//! a directory, every read is held to the wheel limits (a zip bomb stops at the first bound it
//! passes), and read errors name the wheel and the member.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::io::BufReader;
use std::path::Path;

use anyhow::{Context, Result};
use zip::ZipArchive;

use super::{MALFORMED, WheelFile, normalize_name, wheel_error, wheel_label};
use crate::diagnostic::Diagnostic;
use crate::limits::{ArchiveLimits, Budget, Exceeded, Stop, Stored};

/// An open wheel and the budget of one pass over it: the total is counted across every member
/// read through it.
pub(super) struct Archive {
    zip: ZipArchive<BufReader<fs_err::File>>,
    budget: Budget,
}

pub(super) fn open_archive(path: &Path, limits: ArchiveLimits) -> Result<Archive> {
    let file = fs_err::File::open(path)
        .with_context(|| format!("failed to open wheel `{}`", path.display()))?;
    let zip = ZipArchive::new(BufReader::new(file)).map_err(|e| {
        let what = format!("is not a readable zip archive ({e})");
        wheel_error(&wheel_label(path), what, MALFORMED)
    })?;
    let budget = Budget::new(limits);
    let count = budget.check_count(zip.len() as u64);
    count.map_err(|e| {
        too_big(
            &wheel_label(path),
            &format!("member number {}", zip.len()),
            e,
        )
    })?;
    Ok(Archive { zip, budget })
}

pub(super) fn read_member(zip: &mut Archive, label: &str, member: &str) -> Result<Vec<u8>> {
    let fail = |e: &dyn Display| {
        let what = format!("has no readable member `{member}` ({e})");
        wheel_error(label, what, MALFORMED)
    };
    let mut entry = zip.zip.by_name(member).map_err(|e| fail(&e))?;
    let limit = |e: Exceeded| too_big(label, &format!("member `{member}`"), e);
    zip.budget.check_declared(entry.size()).map_err(limit)?;
    // The declared size is untrusted, so it only sizes the first allocation, up to a cap.
    let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(1 << 24));
    let stored = Stored::Member(entry.compressed_size());
    match zip.budget.copy(&mut entry, stored, &mut bytes) {
        Ok(_) => Ok(bytes),
        Err(Stop::Io(e)) => Err(fail(&e)),
        Err(Stop::Limit(e)) => Err(limit(e)),
    }
}

/// A wheel that passed one of its limits; `what` is "member `x`" or "member number 70000".
pub(super) fn too_big(label: &str, what: &str, exceeded: Exceeded) -> anyhow::Error {
    Diagnostic::new(format!("wheel `{label}`: its {what} {exceeded}"))
        .note("pywasm stopped reading there; nothing of the wheel was installed")
        .help(format!(
            "if the wheel is genuine, raise the limit in pyproject.toml: `[tool.pywasm] \
             wheel-limits = {{ {} = ... }}`",
            exceeded.key()
        ))
        .into()
}

pub(super) fn member_text(zip: &mut Archive, label: &str, member: &str) -> Result<String> {
    let what = format!("has a `{member}` that is not UTF-8");
    let text = String::from_utf8(read_member(zip, label, member)?);
    text.map_err(|_| wheel_error(label, what, MALFORMED))
}

/// Why `path` may not be a member, or `None` when it is safe to join onto an install directory.
pub(super) fn unsafe_reason(path: &str) -> Option<&'static str> {
    let bytes = path.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if path.is_empty() || path.contains('\0') {
        Some("its path is empty or holds a NUL byte")
    } else if path.contains('\\') {
        Some("its path holds a backslash; member paths are `/`-separated")
    } else if path.starts_with('/') || drive {
        Some("path traversal: its path is absolute")
    } else if path.split('/').any(|c| c == "..") {
        Some("path traversal: its path has a `..` component")
    } else if path.split('/').any(|c| c.is_empty() || c == ".") {
        Some("its path has an empty or `.` component")
    } else {
        None
    }
}

pub(super) fn unsafe_member(label: &str, member: &str, why: &str) -> anyhow::Error {
    let what = format!("has an unsafe member `{member}`: {why}");
    let help = "the wheel could write outside its install directory; do not use it, and report \
                it to its publisher";
    wheel_error(label, what, help)
}

pub(super) fn list_members(zip: &mut Archive, label: &str) -> Result<Vec<WheelFile>> {
    let mut files = Vec::new();
    for index in 0..zip.zip.len() {
        let entry = zip.zip.by_index_raw(index);
        let entry = entry.with_context(|| format!("failed to read entry {index} of `{label}`"))?;
        let (path, size) = (entry.name().to_owned(), entry.size());
        if let Some(why) = unsafe_reason(path.strip_suffix('/').unwrap_or(&path)) {
            return Err(unsafe_member(label, &path, why));
        }
        // S_IFMT / S_IFLNK: a link could point anywhere once extracted.
        if entry
            .unix_mode()
            .is_some_and(|m| m & 0o170_000 == 0o120_000)
        {
            return Err(unsafe_member(label, &path, "it is a symbolic link"));
        }
        if !entry.is_dir() {
            let limit = |e: Exceeded| too_big(label, &format!("member `{path}`"), e);
            zip.budget.check_declared(size).map_err(limit)?;
            files.push(WheelFile { path, size });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The single top-level `.dist-info` directory, which must belong to `distribution` when given;
/// the error is a phrase to put after the wheel's name.
pub(super) fn find_dist_info<'a>(
    paths: impl Iterator<Item = &'a String>,
    distribution: Option<&str>,
) -> Result<String, String> {
    let tops = paths.filter_map(|p| Some(p.split_once('/')?.0));
    let dirs: BTreeSet<&str> = tops.filter(|top| top.ends_with(".dist-info")).collect();
    let [dir] = dirs.iter().collect::<Vec<_>>()[..] else {
        let list: Vec<String> = dirs.iter().map(|d| format!("`{d}`")).collect();
        let (n, list) = (dirs.len(), list.join(", "));
        return Err(format!(
            "has {n} top-level `.dist-info` directories [{list}], not one"
        ));
    };
    let stem = dir.trim_end_matches(".dist-info");
    let dir_name = stem.split_once('-').map_or(stem, |(name, _)| name);
    match distribution {
        Some(d) if normalize_name(dir_name) != normalize_name(d) => Err(format!(
            "has `{dir}`, which is not the `.dist-info` directory of `{d}`"
        )),
        _ => Ok((*dir).to_owned()),
    }
}

/// RECORD and its signatures, which RECORD cannot list with a hash.
pub(super) fn is_record_file(dist_info: &str, path: &str) -> bool {
    let file = path.strip_prefix(&format!("{dist_info}/"));
    file.is_some_and(|f| ["RECORD", "RECORD.jws", "RECORD.p7s"].contains(&f))
}
