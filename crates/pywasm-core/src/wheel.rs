//! Wheels (PEP 427): opening and fully verifying them, installing them into a site-packages
//! directory the way pip does, and writing them reproducibly (same input, same bytes).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::io::{BufReader, Cursor, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256, Sha384, Sha512};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use crate::diagnostic::Diagnostic;
use crate::fsutil::{atomic_write, slash_path, walk_files};

type Archive = ZipArchive<BufReader<fs_err::File>>;

const TAMPERED: &str = "the file was altered after it was built; download it again or rebuild it";
const MALFORMED: &str = "the wheel is malformed; download it again or rebuild it";
const RENAMED: &str = "the file was renamed; give it back the name it was published under";
const OUTDATED: &str = "rebuild the wheel with a current build backend";

/// PEP 427 file name: {distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl; tags may
/// be compressed sets with '.'.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WheelName {
    pub distribution: String,
    pub version: String,
    pub build: Option<String>,
    pub python_tags: Vec<String>,
    pub abi_tags: Vec<String>,
    pub platform_tags: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Platform {
    Pure,
    Wasi,
    Other(String),
}

impl WheelName {
    pub fn parse(file_name: &str) -> Result<WheelName> {
        let invalid = |why: &str| {
            anyhow::Error::from(
                Diagnostic::new(format!(
                    "`{file_name}` is not a valid wheel file name: {why}"
                ))
                .help(
                    "wheel file names look like `name-1.0-py3-none-any.whl` (PEP 427); keep \
                         the published name",
                ),
            )
        };
        let stem = file_name.strip_suffix(".whl");
        let stem = stem.ok_or_else(|| invalid("it does not end in `.whl`"))?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (build, tags) = match parts.len() {
            5 => (None, &parts[2..]),
            6 => (Some(parts[2]), &parts[3..]),
            n => return Err(invalid(&format!("{n} `-`-separated parts, not 5 or 6"))),
        };
        let name_char = |c: char| c.is_ascii_alphanumeric() || "_.".contains(c);
        let why = if parts.contains(&"") {
            "an empty `-`-separated part"
        } else if !parts[0].chars().all(name_char) {
            "the distribution may only hold letters, digits, `_` and `.`"
        } else if build.is_some_and(|b| !b.starts_with(|c: char| c.is_ascii_digit())) {
            "the build tag does not start with a digit"
        } else if tags.iter().any(|t| t.split('.').any(str::is_empty)) {
            "a tag set holds an empty tag"
        } else {
            ""
        };
        if !why.is_empty() {
            return Err(invalid(why));
        }
        let set = |i: usize| tags[i].split('.').map(str::to_owned).collect();
        Ok(WheelName {
            distribution: parts[0].to_owned(),
            version: parts[1].to_owned(),
            build: build.map(str::to_owned),
            python_tags: set(0),
            abi_tags: set(1),
            platform_tags: set(2),
        })
    }

    pub fn platform(&self) -> Platform {
        if self.platform_tags.iter().all(|t| t == "any") {
            Platform::Pure
        } else if self.platform_tags.iter().any(|t| t.starts_with("wasi")) {
            Platform::Wasi
        } else {
            Platform::Other(self.platform_tags.join("."))
        }
    }

    /// The distribution is escaped (`zope.interface` → `zope_interface`), the form current
    /// installers expect; a name parsed from a modern file name renders unchanged.
    pub fn file_name(&self) -> String {
        let version = self.version.replace('-', "_");
        let mut parts = vec![escape_name(&self.distribution), version];
        parts.extend(self.build.clone());
        let tags = [&self.python_tags, &self.abi_tags, &self.platform_tags];
        parts.extend(tags.map(|t| t.join(".")));
        format!("{}.whl", parts.join("-"))
    }
}

/// PEP 503 normalisation: lowercase, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    collapse_separators(name, '-').to_lowercase()
}

/// The escaped form used in wheel and .dist-info file names: runs of `-_.` become `_` (case kept).
pub fn escape_name(name: &str) -> String {
    collapse_separators(name, '_')
}

fn collapse_separators(name: &str, sep: char) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        let is_sep = matches!(c, '-' | '_' | '.');
        if !is_sep {
            out.push(c);
        } else if !in_run {
            out.push(sep);
        }
        in_run = is_sep;
    }
    out
}

#[derive(Clone, Debug)]
pub struct Wheel {
    pub path: PathBuf,
    pub name: WheelName,
    /// e.g. "attrs-23.2.0.dist-info"
    pub dist_info: String,
    pub metadata_name: String,
    pub metadata_version: String,
    pub root_is_purelib: bool,
    /// `Tag:` lines from WHEEL
    pub tags: Vec<String>,
    /// Every member that is a file, sorted by path.
    pub files: Vec<WheelFile>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WheelFile {
    pub path: String,
    pub size: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Installed {
    pub files: Vec<WheelFile>,
    pub skipped: Vec<String>,
}

impl Wheel {
    /// Opens a wheel and verifies every member against RECORD, so nothing read from it later
    /// needs checking again.
    pub fn open(path: &Path) -> Result<Wheel> {
        let label = wheel_label(path);
        let name = WheelName::parse(&label)?;
        let mut zip = open_archive(path)?;
        let files = list_members(&mut zip, &label)?;
        let paths = files.iter().map(|f| &f.path);
        let dist_info = find_dist_info(paths, Some(&name.distribution))
            .map_err(|why| wheel_error(&label, why, MALFORMED))?;
        verify_record(&mut zip, &label, &dist_info, &files)?;
        let metadata = member_text(&mut zip, &label, &format!("{dist_info}/METADATA"))?;
        let origin = format!("wheel `{label}`");
        let (metadata_name, metadata_version) = metadata_identity(&origin, &metadata)?;
        let (dist, version) = (&name.distribution, &name.version);
        if normalize_name(&metadata_name) != normalize_name(dist) || metadata_version != *version {
            let what = format!(
                "is `{metadata_name}` {metadata_version} according to its METADATA, but its file \
                 name says `{dist}` {version}"
            );
            return Err(wheel_error(&label, what, RENAMED));
        }
        let wheel_text = member_text(&mut zip, &label, &format!("{dist_info}/WHEEL"))?;
        let (root_is_purelib, tags) = parse_wheel_metadata(&label, &wheel_text)?;
        Ok(Wheel {
            path: path.to_path_buf(),
            name,
            dist_info,
            metadata_name,
            metadata_version,
            root_is_purelib,
            tags,
            files,
        })
    }

    pub fn read(&self, member: &str) -> Result<Vec<u8>> {
        let label = wheel_label(&self.path);
        read_member(&mut open_archive(&self.path)?, &label, member)
    }

    /// Installs into `site_dir` the way pip does for a purelib/platlib install. `.data/scripts`,
    /// `.data/headers` and `.data/data` have no place in site-packages and are returned in
    /// `skipped`, as are RECORD signatures, which the rewritten RECORD invalidates.
    pub fn install(&self, site_dir: &Path) -> Result<Installed> {
        let label = wheel_label(&self.path);
        let (installer, record) = (self.member("INSTALLER"), self.member("RECORD"));
        let data = format!("{}.data/", self.dist_info.trim_end_matches(".dist-info"));
        let (mut plan, mut skipped) = (BTreeMap::new(), Vec::new());
        for path in self.files.iter().map(|f| &f.path) {
            let dest = match path.strip_prefix(&data).map(|rest| rest.split_once('/')) {
                _ if *path == installer || *path == record => continue,
                Some(Some(("purelib" | "platlib", dest))) => dest,
                None if !is_record_file(&self.dist_info, path) => path.as_str(),
                _ => {
                    skipped.push(path.clone());
                    continue;
                }
            };
            let generated = *dest == installer || *dest == record;
            if generated || plan.insert(dest.to_owned(), path).is_some() {
                let what = format!("has more than one member that installs to `{dest}`");
                return Err(wheel_error(&label, what, MALFORMED));
            }
        }
        // Checked up front so that a conflict leaves the site directory untouched.
        for dest in plan.keys().chain([&installer, &record]) {
            if site_dir.join(dest).symlink_metadata().is_ok() {
                return Err(already_installed(&label, dest, &site_dir.join(dest)));
            }
        }
        let mut zip = open_archive(&self.path)?;
        let mut contents = BTreeMap::from([(installer, b"pywasm\n".to_vec())]);
        for (dest, member) in plan {
            contents.insert(dest, read_member(&mut zip, &label, member)?);
        }
        let mut text = String::new();
        for (dest, bytes) in &contents {
            text += &(record_line(dest, Some(bytes)) + "\n");
        }
        text += &(record_line(&record, None) + "\n");
        contents.insert(record, text.into_bytes());
        let mut files = Vec::new();
        for (dest, bytes) in &contents {
            files.push(install_file(site_dir, dest, bytes, &label)?);
        }
        Ok(Installed { files, skipped })
    }

    fn member(&self, file: &str) -> String {
        format!("{}/{file}", self.dist_info)
    }
}

fn wheel_label(path: &Path) -> String {
    let name = path.file_name().unwrap_or(path.as_os_str());
    name.to_string_lossy().into_owned()
}

fn wheel_error(label: &str, what: impl Display, help: &str) -> anyhow::Error {
    Diagnostic::new(format!("wheel `{label}` {what}"))
        .help(help)
        .into()
}

fn open_archive(path: &Path) -> Result<Archive> {
    let file = fs_err::File::open(path)
        .with_context(|| format!("failed to open wheel `{}`", path.display()))?;
    ZipArchive::new(BufReader::new(file)).map_err(|e| {
        let what = format!("is not a readable zip archive ({e})");
        wheel_error(&wheel_label(path), what, MALFORMED)
    })
}

fn read_member(zip: &mut Archive, label: &str, member: &str) -> Result<Vec<u8>> {
    let fail = |e: &dyn Display| {
        let what = format!("has no readable member `{member}` ({e})");
        wheel_error(label, what, MALFORMED)
    };
    let mut entry = zip.by_name(member).map_err(|e| fail(&e))?;
    // The declared size is untrusted, so it only sizes the first allocation, up to a cap.
    let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(1 << 24));
    entry.read_to_end(&mut bytes).map_err(|e| fail(&e))?;
    Ok(bytes)
}

fn member_text(zip: &mut Archive, label: &str, member: &str) -> Result<String> {
    let what = format!("has a `{member}` that is not UTF-8");
    let text = String::from_utf8(read_member(zip, label, member)?);
    text.map_err(|_| wheel_error(label, what, MALFORMED))
}

/// Why `path` may not be a member, or `None` when it is safe to join onto an install directory.
fn unsafe_reason(path: &str) -> Option<&'static str> {
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

fn unsafe_member(label: &str, member: &str, why: &str) -> anyhow::Error {
    let what = format!("has an unsafe member `{member}`: {why}");
    let help = "the wheel could write outside its install directory; do not use it, and report \
                it to its publisher";
    wheel_error(label, what, help)
}

fn list_members(zip: &mut Archive, label: &str) -> Result<Vec<WheelFile>> {
    let mut files = Vec::new();
    for index in 0..zip.len() {
        let entry = zip.by_index_raw(index);
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
            files.push(WheelFile { path, size });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The single top-level `.dist-info` directory, which must belong to `distribution` when given;
/// the error is a phrase to put after the wheel's name.
fn find_dist_info<'a>(
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
fn is_record_file(dist_info: &str, path: &str) -> bool {
    let file = path.strip_prefix(&format!("{dist_info}/"));
    file.is_some_and(|f| ["RECORD", "RECORD.jws", "RECORD.p7s"].contains(&f))
}

fn verify_record(zip: &mut Archive, label: &str, dist: &str, files: &[WheelFile]) -> Result<()> {
    let text = member_text(zip, label, &format!("{dist}/RECORD"))?;
    let mut record = BTreeMap::new();
    for row in parse_csv(&text).into_iter().filter(|r| !r[0].is_empty()) {
        let field = |i: usize| row.get(i).cloned().unwrap_or_default();
        record.insert(field(0), (field(1), field(2)));
    }
    let mismatch = |what: String, help: &str| {
        wheel_error(label, format!("does not match its RECORD: {what}"), help)
    };
    for file in files.iter().filter(|f| !is_record_file(dist, &f.path)) {
        let path = &file.path;
        let Some((hash, size)) = record.remove(path) else {
            let help = "the file was added after the wheel was built; download it again or \
                        rebuild it";
            return Err(mismatch(format!("`{path}` is not listed in it"), help));
        };
        let bytes = read_member(zip, label, path)?;
        let checked = check_hash(&hash, &bytes);
        checked.map_err(|(why, help)| mismatch(format!("`{path}` {why}"), help))?;
        if !size.is_empty() && size.parse::<usize>().ok() != Some(bytes.len()) {
            let what = format!("`{path}` is {} bytes, RECORD says {size}", bytes.len());
            return Err(mismatch(what, TAMPERED));
        }
    }
    if let Some(absent) = record.keys().find(|p| !is_record_file(dist, p)) {
        let what = format!("it lists `{absent}`, which the archive does not hold");
        let help = "the wheel is incomplete; download it again or rebuild it";
        return Err(mismatch(what, help));
    }
    Ok(())
}

/// Checks a RECORD hash (`algo=urlsafe-b64`); the error is a phrase about the member, and help.
fn check_hash(hash: &str, bytes: &[u8]) -> Result<(), (String, &'static str)> {
    let (algo, expected) = hash.split_once('=').unwrap_or((hash, ""));
    let actual = match algo {
        "sha256" => b64_urlsafe_nopad(&Sha256::digest(bytes)),
        "sha384" => b64_urlsafe_nopad(&Sha384::digest(bytes)),
        "sha512" => b64_urlsafe_nopad(&Sha512::digest(bytes)),
        "" => return Err(("has no hash in RECORD".to_owned(), OUTDATED)),
        _ => return Err((format!("has a `{algo}` hash; use sha256/384/512"), OUTDATED)),
    };
    let expected = expected.trim_end_matches('=');
    if actual != expected {
        let why = format!("has {algo} {actual}, RECORD says {expected}");
        return Err((why, TAMPERED));
    }
    Ok(())
}

/// RFC 4180 rows, each with at least one field; quoted fields may hold commas, doubled quotes
/// and line breaks.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut in_quotes = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (in_quotes, c) {
            (true, '"') if chars.next_if_eq(&'"').is_some() => field.push('"'),
            (_, '"') => in_quotes = !in_quotes,
            (true, c) => field.push(c),
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// A RECORD row; `None` for RECORD itself, which cannot hash itself.
fn record_line(path: &str, bytes: Option<&[u8]>) -> String {
    let path = if path.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", path.replace('"', "\"\""))
    } else {
        path.to_owned()
    };
    let Some(bytes) = bytes else {
        return format!("{path},,");
    };
    let hash = b64_urlsafe_nopad(&Sha256::digest(bytes));
    format!("{path},sha256={hash},{}", bytes.len())
}

fn b64_urlsafe_nopad(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        // n input bytes carry n + 1 sextets; the rest would only be padding.
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// The values of header `key` in RFC 822 style `text`, up to the first blank line. Continuation
/// lines are ignored: no field read here spans lines.
fn header<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    let lines = text.lines().take_while(|l| !l.trim().is_empty());
    let lines = lines.filter(|l| !l.starts_with([' ', '\t']));
    let fields = lines.filter_map(|l| l.split_once(':'));
    let matching = fields.filter(|(k, _)| k.trim().eq_ignore_ascii_case(key));
    matching.map(|(_, v)| v.trim()).collect()
}

/// Name and Version from METADATA; `origin` says whose METADATA it is, e.g. "wheel `x.whl`".
fn metadata_identity(origin: &str, text: &str) -> Result<(String, String)> {
    let field = |key: &str| match header(text, key).first() {
        Some(value) if !value.is_empty() => Ok((*value).to_owned()),
        _ => Err(anyhow::Error::from(
            Diagnostic::new(format!("{origin} lacks `{key}:` in METADATA")).help(MALFORMED),
        )),
    };
    Ok((field("Name")?, field("Version")?))
}

fn parse_wheel_metadata(label: &str, text: &str) -> Result<(bool, Vec<String>)> {
    let version = *header(text, "Wheel-Version").first().unwrap_or(&"none");
    if version.split('.').next() != Some("1") {
        let what = format!("has Wheel-Version `{version}` in WHEEL; only 1.x is supported");
        return Err(wheel_error(label, what, OUTDATED));
    }
    // pip treats a missing Root-Is-Purelib as false, so this does too.
    let purelib = header(text, "Root-Is-Purelib");
    let purelib = purelib
        .first()
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let tags = header(text, "Tag").into_iter().map(str::to_owned).collect();
    Ok((purelib, tags))
}

fn already_installed(label: &str, dest: &str, target: &Path) -> anyhow::Error {
    Diagnostic::new(format!(
        "cannot install `{dest}` from wheel `{label}`: `{}` already exists",
        target.display()
    ))
    .help("two distributions provide the same file; keep only one of them in the dependencies")
    .into()
}

fn install_file(site_dir: &Path, dest: &str, bytes: &[u8], label: &str) -> Result<WheelFile> {
    let target = site_dir.join(dest);
    let parent = target.parent().unwrap_or(site_dir);
    fs_err::create_dir_all(parent)
        .with_context(|| format!("failed to create `{}`", parent.display()))?;
    // create_new keeps the no-overwrite rule even against files that appear meanwhile.
    let mut options = fs_err::OpenOptions::new();
    let opened = options.write(true).create_new(true).open(&target);
    let mut file = match opened {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            return Err(already_installed(label, dest, &target));
        }
        other => other.with_context(|| format!("failed to create `{}`", target.display()))?,
    };
    let context = || format!("failed to write `{}`", target.display());
    file.write_all(bytes).with_context(context)?;
    let (path, size) = (dest.to_owned(), bytes.len() as u64);
    Ok(WheelFile { path, size })
}

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

fn zip_bytes<'a>(entries: impl Iterator<Item = (&'a str, &'a [u8])>) -> Result<Vec<u8>> {
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

/// Native code: shared libraries by suffix (versioned `.so.N` too, the way vendored libraries are
/// named), and anything in a top-level `*.libs` / `*.dylibs` directory (auditwheel, delocate).
fn is_native(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let (top, _) = lower.split_once('/').unwrap_or_default();
    let file = lower.rsplit('/').next().unwrap_or(&lower);
    let number = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    let so_version = file.split_once(".so.").map(|(_, version)| version);
    let versioned_so = so_version.is_some_and(|v| v.split('.').all(number));
    let suffix = [".so", ".pyd", ".dylib", ".dll"].map(|s| file.ends_with(s));
    top.ends_with(".libs") || top.ends_with(".dylibs") || versioned_so || suffix.contains(&true)
}

/// Rewrites `wheel` without native extension files, tagged `py3-none-any`, into `out_dir`.
/// RECORD signatures are dropped too (and reported as removed): they sign the old RECORD.
pub fn strip_native(wheel: &Wheel, out_dir: &Path) -> Result<(PathBuf, Vec<String>)> {
    let label = wheel_label(&wheel.path);
    let tag = |tag: &str| vec![tag.to_owned()];
    let mut writer = WheelWriter::new(WheelName {
        python_tags: tag("py3"),
        abi_tags: tag("none"),
        platform_tags: tag("any"),
        ..wheel.name.clone()
    });
    let mut zip = open_archive(&wheel.path)?;
    let mut removed = Vec::new();
    for path in wheel.files.iter().map(|f| &f.path) {
        if is_native(path) || is_record_file(&wheel.dist_info, path) {
            if *path != wheel.member("RECORD") {
                removed.push(path.clone());
            }
            continue;
        }
        let mut bytes = read_member(&mut zip, &label, path)?;
        if *path == wheel.member("WHEEL") {
            bytes = retag_pure(&String::from_utf8_lossy(&bytes)).into_bytes();
        }
        writer.add(path, bytes)?;
    }
    Ok((writer.write(out_dir)?, removed))
}

fn retag_pure(wheel_meta: &str) -> String {
    let key = |line: &str| line.split_once(':').map(|(k, _)| k.trim().to_lowercase());
    let replaced = |l: &&str| key(l).is_some_and(|k| k == "tag" || k == "root-is-purelib");
    let mut lines: Vec<&str> = wheel_meta.lines().filter(|l| !replaced(l)).collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines.extend(["Root-Is-Purelib: true", "Tag: py3-none-any"]);
    lines.join("\n") + "\n"
}

/// Members that carry native code for some platform, for error messages.
pub fn native_members(wheel: &Wheel) -> Vec<String> {
    let native = wheel.files.iter().filter(|f| is_native(&f.path));
    native.map(|f| f.path.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PURE: &str = "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
    const DIST: &str = "demo-1.0.dist-info";

    type Entries = Vec<(String, Vec<u8>)>;

    fn entries(wheel_meta: &str, extra: &[(&str, &str)]) -> Entries {
        let metadata = "Metadata-Version: 2.1\nName: Demo\nVersion: 1.0\n\nName: body\n";
        let meta = [("METADATA", metadata), ("WHEEL", wheel_meta)];
        let meta = meta.map(|(file, text)| (format!("{DIST}/{file}"), text));
        let extra = extra.iter().map(|(path, text)| (path.to_string(), *text));
        let all = meta.into_iter().chain(extra);
        all.map(|(path, text)| (path, text.into())).collect()
    }

    fn write(dir: &Path, file_name: &str, entries: Entries) -> Wheel {
        let mut w = WheelWriter::new(WheelName::parse(file_name).unwrap());
        for (path, bytes) in entries {
            w.add(&path, bytes).unwrap();
        }
        Wheel::open(&w.write(dir).unwrap()).unwrap()
    }

    /// Zips `entries` without WheelWriter's checks, with a RECORD for `listed`, and returns the
    /// error that opening the result gives.
    fn open_raw(dir: &Path, entries: &[(String, Vec<u8>)], listed: &[(String, Vec<u8>)]) -> String {
        let lines = listed.iter().map(|(p, b)| record_line(p, Some(b)) + "\n");
        let record = (format!("{DIST}/RECORD"), lines.collect::<String>().into());
        let all = entries.iter().chain([&record]);
        let all = all.map(|(path, bytes)| (path.as_str(), bytes.as_slice()));
        let path = dir.join("demo-1.0-py3-none-any.whl");
        fs_err::write(&path, zip_bytes(all).unwrap()).unwrap();
        format!("{:#}", Wheel::open(&path).unwrap_err())
    }

    fn has(err: &str, needle: &str) {
        assert!(err.contains(needle), "`{needle}` not in: {err}");
    }

    fn paths(files: &[WheelFile]) -> Vec<&str> {
        files.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn parses_names() {
        let n = WheelName::parse("foo_bar-1.0-1abc-py2.py3-none-any.whl").unwrap();
        assert_eq!([&n.distribution, &n.version], ["foo_bar", "1.0"]);
        assert_eq!(n.build.as_deref(), Some("1abc"));
        assert_eq!(n.python_tags, ["py2", "py3"]);
        assert_eq!(n.platform(), Platform::Pure);
        assert_eq!(n.file_name(), "foo_bar-1.0-1abc-py2.py3-none-any.whl");
        let name = "np-2.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
        let n = WheelName::parse(name).unwrap();
        assert_eq!(n.file_name(), name);
        let platform = "manylinux_2_17_x86_64.manylinux2014_x86_64";
        assert_eq!(n.platform(), Platform::Other(platform.into()));
        let n = WheelName::parse("x-1.0-cp312-cp312-wasi_0_0_0_wasm32.whl").unwrap();
        assert_eq!(n.platform(), Platform::Wasi);
        let n = WheelName::parse("zope.interface-5.0-py3-none-any.whl").unwrap();
        assert_eq!(n.file_name(), "zope_interface-5.0-py3-none-any.whl");
        let bad = "a-1-py3-none-any.zip a.whl a-1-py3-none.whl a-1-x-py3-none-any.whl \
                   a-1-py3..py2-none-any.whl a--py3-none-any.whl a+b-1-py3-none-any.whl";
        for bad in bad.split(' ') {
            let err = format!("{:#}", WheelName::parse(bad).unwrap_err());
            has(&err, bad);
            has(&err, "= help:");
        }
    }

    #[test]
    fn names_base64_and_csv() {
        assert_eq!(normalize_name("Foo.Bar__baz-_-Q"), "foo-bar-baz-q");
        assert_eq!(escape_name("Foo.Bar__baz-_-Q"), "Foo_Bar_baz_Q");
        let b64 = [b"".as_slice(), b"f", b"fo", b"foo", &[0xfb, 0xff]].map(b64_urlsafe_nopad);
        assert_eq!(b64, ["", "Zg", "Zm8", "Zm9v", "-_8"]);
        let rows = parse_csv("a,\"b,\"\"c\"\"\",1\r\n\"x\ny\",,\n");
        assert_eq!(rows, [vec!["a", "b,\"c\"", "1"], vec!["x\ny", "", ""]]);
        assert!(record_line("b,\"c\"", None).starts_with("\"b,\"\"c\"\"\","));
    }

    #[test]
    fn writer_round_trips_through_open() {
        let dir = tempfile::tempdir().unwrap();
        let record = format!("{DIST}/RECORD");
        let odd = "a/x, \"y\".py";
        let all = entries(PURE, &[(odd, "y = 2\n"), (&record, "ignored")]);
        let wheel = write(dir.path(), "demo-1.0-py3-none-any.whl", all);
        assert_eq!(wheel.dist_info, DIST);
        assert_eq!(wheel.metadata_name, "Demo");
        assert_eq!(wheel.metadata_version, "1.0");
        assert!(wheel.root_is_purelib);
        assert_eq!(wheel.tags, ["py3-none-any"]);
        let want = [odd, &format!("{DIST}/METADATA"), &record];
        assert_eq!(paths(&wheel.files)[..3], want);
        assert_eq!(wheel.files[0].size, 6);
        assert_eq!(wheel.read(odd).unwrap(), b"y = 2\n");

        let mut w = WheelWriter::new(wheel.name.clone());
        w.add("a.py", Vec::new()).unwrap();
        assert!(w.add("a.py", Vec::new()).is_err());
        assert!(w.add("../evil.py", Vec::new()).is_err());
        w.add(&format!("{DIST}/METADATA"), Vec::new()).unwrap();
        let err = format!("{:#}", w.write(dir.path()).unwrap_err());
        has(&err, "has no `demo-1.0.dist-info/WHEEL` member");
    }

    #[test]
    fn installs_like_pip_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let data = [
            ("demo/__init__.py", ""),
            ("demo-1.0.data/purelib/extra.py", "z = 3\n"),
            ("demo-1.0.data/scripts/demo", "#!python\n"),
        ];
        let all = entries(PURE, &data);
        let wheel = write(dir.path(), "demo-1.0-py3-none-any.whl", all);
        let site = dir.path().join("site");
        let installed = wheel.install(&site).unwrap();
        assert_eq!(installed.skipped, ["demo-1.0.data/scripts/demo"]);
        let meta = ["INSTALLER", "METADATA", "RECORD", "WHEEL"].map(|f| format!("{DIST}/{f}"));
        let want = [&meta[..], &["demo/__init__.py".into(), "extra.py".into()]].concat();
        assert_eq!(paths(&installed.files), want);
        assert_eq!(fs_err::read(site.join("extra.py")).unwrap(), b"z = 3\n");
        assert!(!site.join("demo-1.0.data").exists());
        assert_eq!(fs_err::read(site.join(&meta[0])).unwrap(), b"pywasm\n");
        let rows = parse_csv(&fs_err::read_to_string(site.join(&meta[2])).unwrap());
        assert_eq!(rows.last().unwrap().join(","), format!("{},,", meta[2]));
        for row in &rows[..rows.len() - 1] {
            let bytes = fs_err::read(site.join(&row[0])).unwrap();
            assert_eq!(check_hash(&row[1], &bytes), Ok(()));
            assert_eq!(row[2], bytes.len().to_string());
        }
        assert_eq!(rows.len(), want.len());
        let err = format!("{:#}", wheel.install(&site).unwrap_err());
        has(&err, "already exists");
        has(&err, "from wheel `demo-1.0-py3-none-any.whl`");
    }

    #[test]
    fn refuses_wheels_that_do_not_match_their_record() {
        let dir = tempfile::tempdir().unwrap();
        let listed = entries(PURE, &[("demo/__init__.py", "x = 1\n")]);
        let mut tampered = listed.clone();
        tampered[2].1 = b"x = 666\n".to_vec();
        let err = open_raw(dir.path(), &tampered, &listed);
        has(&err, "RECORD: `demo/__init__.py` has sha256 ");
        has(&err, "altered after it was built");
        let err = open_raw(dir.path(), &listed, &listed[..2]);
        has(&err, "`demo/__init__.py` is not listed in it");
        let err = open_raw(dir.path(), &listed[..2], &listed);
        has(&err, "`demo/__init__.py`, which the archive does not");
        let mut renamed = listed.clone();
        renamed[0].1 = b"Name: demo\nVersion: 2.0\n".to_vec();
        let err = open_raw(dir.path(), &renamed, &renamed);
        has(&err, "is `demo` 2.0 according to its METADATA");
    }

    #[test]
    fn refuses_unsafe_member_paths() {
        let dir = tempfile::tempdir().unwrap();
        for bad in "../evil.py /abs.py a/../../x C:/x a/./x a\\x a//x".split(' ') {
            let all = entries(PURE, &[(bad, "import os\n")]);
            let err = open_raw(dir.path(), &all, &all);
            has(&err, &format!("unsafe member `{bad}`"));
            let traversal = bad.contains("..") || !bad.starts_with('a');
            assert_eq!(err.contains("path traversal"), traversal, "{err}");
        }
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        let link = zip.add_symlink("a/link", "/etc", SimpleFileOptions::default());
        link.unwrap();
        let path = dir.path().join("demo-1.0-py3-none-any.whl");
        fs_err::write(&path, zip.finish().unwrap().into_inner()).unwrap();
        let err = format!("{:#}", Wheel::open(&path).unwrap_err());
        has(&err, "`a/link`: it is a symbolic link");
    }

    #[test]
    fn pack_dir_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let tags = "Wheel-Version: 1.0\nTag: py3-none-any\nTag: py2-none-any\n";
        let record = format!("{DIST}/RECORD");
        let files = [("demo/__init__.py", ""), ("demo/__pycache__/a.pyc", "")];
        for (path, bytes) in entries(tags, &[files[0], files[1], ("b.pyc", ""), (&record, "")]) {
            fs_err::create_dir_all(src.join(&path).parent().unwrap()).unwrap();
            fs_err::write(src.join(path), bytes).unwrap();
        }
        let first = pack_dir(&src, &dir.path().join("a")).unwrap();
        let second = pack_dir(&src, &dir.path().join("b")).unwrap();
        assert_eq!(wheel_label(&first), "Demo-1.0-py2.py3-none-any.whl");
        let [first_bytes, second_bytes] = [&first, &second].map(|p| fs_err::read(p).unwrap());
        assert!(first_bytes == second_bytes);
        let wheel = Wheel::open(&first).unwrap();
        let want = ["METADATA", "RECORD", "WHEEL"].map(|f| format!("{DIST}/{f}"));
        assert_eq!(paths(&wheel.files)[..3], want);
        assert_eq!(paths(&wheel.files)[3..], ["demo/__init__.py"]);
    }

    #[test]
    fn strip_native_removes_binaries_and_retags() {
        let dir = tempfile::tempdir().unwrap();
        let native = "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp312-cp312-linux_x86_64\n";
        let (so, lib) = ("demo/_speedups.abi3.so", "demo.libs/libz.so.1.2");
        let files = entries(native, &[("demo/a.py", ""), (so, "ELF"), (lib, "ELF")]);
        let wheel = write(dir.path(), "demo-1.0-cp312-cp312-linux_x86_64.whl", files);
        assert_eq!(native_members(&wheel), [lib, so]);
        let (path, removed) = strip_native(&wheel, &dir.path().join("out")).unwrap();
        assert_eq!(removed, [lib, so]);
        assert_eq!(wheel_label(&path), "demo-1.0-py3-none-any.whl");
        let stripped = Wheel::open(&path).unwrap();
        assert_eq!(stripped.name.platform(), Platform::Pure);
        assert!(stripped.root_is_purelib && native_members(&stripped).is_empty());
        assert_eq!(stripped.tags, ["py3-none-any"]);
        let meta = stripped.read(&format!("{DIST}/WHEEL")).unwrap();
        assert_eq!(String::from_utf8(meta).unwrap(), PURE);
    }
}
