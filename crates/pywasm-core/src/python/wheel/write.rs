//! Writing wheels reproducibly: the same members give the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::archive::{find_dist_info, unsafe_member, unsafe_reason};
use super::record::record_line;
use super::{WheelName, escape_name, header, metadata_identity};
use crate::diagnostic::Diagnostic;
use crate::fsutil::{atomic_write, slash_path, walk_files};

/// Writes a deterministic wheel: entries sorted by path, fixed timestamp 1980-01-01 00:00, mode
/// 0644, deflate compression, RECORD generated last. Written atomically.
#[derive(Clone, Debug)]
pub struct WheelWriter {
    name: WheelName,
    members: BTreeMap<String, Vec<u8>>,
}

impl WheelWriter {
    pub fn new(name: WheelName) -> WheelWriter {
        let members = BTreeMap::new();
        WheelWriter { name, members }
    }

    /// Adding `<dist_info>/RECORD` is ignored because RECORD is generated on write.
    pub fn add(&mut self, path: &str, bytes: Vec<u8>) -> Result<()> {
        let label = self.name.file_name();
        if let Some(why) = unsafe_reason(path) {
            return Err(unsafe_member(&label, path, why));
        }
        let is_record = |(top, file): (&str, &str)| top.ends_with(".dist-info") && file == "RECORD";
        if path.split_once('/').is_some_and(is_record) {
            return Ok(());
        }
        if self.members.insert(path.to_owned(), bytes).is_some() {
            bail!(
                Diagnostic::new(format!("cannot add `{path}` to wheel `{label}` twice"))
                    .help("add each path once")
            );
        }
        Ok(())
    }

    /// Writes `<dir>/<name.file_name()>` and returns its path.
    pub fn write(self, dir: &Path) -> Result<PathBuf> {
        let label = self.name.file_name();
        WheelName::parse(&label).context("cannot write a wheel under that name")?;
        let cannot = |what: String| {
            let help = "add `<name>-<version>.dist-info/METADATA` and `WHEEL` members";
            anyhow::Error::from(
                Diagnostic::new(format!("cannot write wheel `{label}`: it {what}")).help(help),
            )
        };
        let distribution = Some(self.name.distribution.as_str());
        let dist_info = find_dist_info(self.members.keys(), distribution).map_err(cannot)?;
        for member in ["METADATA", "WHEEL"].map(|f| format!("{dist_info}/{f}")) {
            if !self.members.contains_key(&member) {
                return Err(cannot(format!("has no `{member}` member")));
            }
        }
        let record_path = format!("{dist_info}/RECORD");
        let mut record = String::new();
        for (path, bytes) in &self.members {
            record += &(record_line(path, Some(bytes)) + "\n");
        }
        record += &(record_line(&record_path, None) + "\n");
        let entries = self.members.iter().map(|(p, b)| (p.as_str(), b.as_slice()));
        let entries = entries.chain([(record_path.as_str(), record.as_bytes())]);
        let bytes = zip_bytes(entries).with_context(|| format!("failed to build `{label}`"))?;
        let path = dir.join(&label);
        let context = || format!("failed to write wheel `{}`", path.display());
        atomic_write(&path, &bytes).with_context(context)?;
        Ok(path)
    }
}

pub(super) fn zip_bytes<'a>(entries: impl Iterator<Item = (&'a str, &'a [u8])>) -> Result<Vec<u8>> {
    // Every field that could vary between runs is pinned, so equal inputs give equal bytes.
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (path, bytes) in entries {
        let context = || format!("failed to add member `{path}`");
        zip.start_file(path, options).with_context(context)?;
        zip.write_all(bytes).with_context(context)?;
    }
    let finished = zip.finish().context("failed to finish the zip archive")?;
    Ok(finished.into_inner())
}

/// Packs an unpacked wheel directory into a wheel in `out_dir`, named from METADATA and the
/// `Tag:` lines of WHEEL. Skips `__pycache__` and `*.pyc`, which are machine-specific caches.
pub fn pack_dir(dir: &Path, out_dir: &Path) -> Result<PathBuf> {
    let origin = format!("directory `{}`", dir.display());
    let files = walk_files(dir, &|_, name| name == "__pycache__")
        .with_context(|| format!("failed to list `{}`", dir.display()))?;
    let paths = files.iter().map(|p| slash_path(p));
    let paths: Vec<String> = paths.filter(|p| !p.ends_with(".pyc")).collect();
    let dist_info = find_dist_info(paths.iter(), None).map_err(|why| {
        let help = "pack an unpacked wheel: packages next to one `<name>-<version>.dist-info`";
        Diagnostic::new(format!("{origin} {why}")).help(help)
    })?;
    let read = |file: &str| {
        let path = dir.join(&dist_info).join(file);
        let text = fs_err::read_to_string(&path);
        text.with_context(|| format!("failed to read `{}`", path.display()))
    };
    let (name, version) = metadata_identity(&origin, &read("METADATA")?)?;
    let wheel_text = read("WHEEL")?;
    let tag_sets = compress_tags(&header(&wheel_text, "Tag")).map_err(|why| {
        let help = "add a line like `Tag: py3-none-any`";
        Diagnostic::new(format!("{origin}: `{dist_info}/WHEEL` {why}")).help(help)
    })?;
    let [python_tags, abi_tags, platform_tags] = tag_sets;
    let build = header(&wheel_text, "Build").pop().map(str::to_owned);
    let mut writer = WheelWriter::new(WheelName {
        distribution: escape_name(&name),
        version,
        build,
        python_tags,
        abi_tags,
        platform_tags,
    });
    for path in &paths {
        let full = dir.join(path);
        let context = || format!("failed to read `{}`", full.display());
        writer.add(path, fs_err::read(&full).with_context(context)?)?;
    }
    writer.write(out_dir)
}

/// The python, abi and platform tag sets, each sorted so that the file name does not depend on
/// the order of the Tag lines.
fn compress_tags(tags: &[&str]) -> Result<[Vec<String>; 3], String> {
    let mut sets: [BTreeSet<&str>; 3] = Default::default();
    for tag in tags {
        let parts: Vec<&str> = tag.split('-').collect();
        if parts.len() != 3 || parts.contains(&"") {
            return Err(format!("has a malformed tag `{tag}`"));
        }
        for (set, part) in sets.iter_mut().zip(parts) {
            set.insert(part);
        }
    }
    if tags.is_empty() {
        return Err("has no `Tag:` lines".to_owned());
    }
    Ok(sets.map(|set| set.into_iter().map(str::to_owned).collect()))
}
