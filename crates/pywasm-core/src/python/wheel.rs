//! Wheels (PEP 427): opening and fully verifying them, installing them into a site-packages
//! directory the way pip does, and writing them reproducibly (same input, same bytes).

mod archive;
mod name;
mod native;
mod record;
mod unpack;
mod write;

use std::fmt::Display;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::diagnostic::Diagnostic;
use crate::limits::ArchiveLimits;
use archive::{find_dist_info, list_members, member_text, open_archive, read_member};
pub use name::{Platform, WheelName, escape_name, normalize_name};
pub use native::{native_members, strip_native};
#[cfg(test)]
pub(crate) use record::record_line;
use record::verify_record;
pub use unpack::Unpacked;
pub use write::{WheelWriter, pack_dir};

const TAMPERED: &str = "the file was altered after it was built; download it again or rebuild it";
const MALFORMED: &str = "the wheel is malformed; download it again or rebuild it";
const RENAMED: &str = "the file was renamed; give it back the name it was published under";
const OUTDATED: &str = "rebuild the wheel with a current build backend";

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
    /// What every later read of the archive is held to.
    pub limits: ArchiveLimits,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WheelFile {
    pub path: String,
    pub size: u64,
}

impl Wheel {
    /// Opens a wheel and verifies every member against RECORD, so nothing read from it later
    /// needs checking again; every read, now and later, is held to `limits`.
    pub fn open(path: &Path, limits: ArchiveLimits) -> Result<Wheel> {
        let label = wheel_label(path);
        let name = WheelName::parse(&label)?;
        let mut zip = open_archive(path, limits)?;
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
            limits,
        })
    }

    pub fn read(&self, member: &str) -> Result<Vec<u8>> {
        let label = wheel_label(&self.path);
        read_member(&mut open_archive(&self.path, self.limits)?, &label, member)
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

#[cfg(test)]
mod tests;
