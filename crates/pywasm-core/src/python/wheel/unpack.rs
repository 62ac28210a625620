//! Installing a wheel into a site-packages directory the way pip does, never overwriting a file.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Write};
use std::path::Path;

use anyhow::{Context, Result};

use super::archive::{is_record_file, open_archive, read_member};
use super::record::record_line;
use super::{MALFORMED, Wheel, WheelFile, wheel_error, wheel_label};
use crate::diagnostic::Diagnostic;

/// What [`Wheel::install`] wrote, and the members it left out.
#[derive(Clone, Debug, Default)]
pub struct Unpacked {
    pub files: Vec<WheelFile>,
    pub skipped: Vec<String>,
}

impl Wheel {
    /// Installs into `site_dir` the way pip does for a purelib/platlib install. `.data/scripts`,
    /// `.data/headers` and `.data/data` have no place in site-packages and are returned in
    /// `skipped`, as are RECORD signatures, which the rewritten RECORD invalidates.
    pub fn install(&self, site_dir: &Path) -> Result<Unpacked> {
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
        let mut zip = open_archive(&self.path, self.limits)?;
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
        Ok(Unpacked { files, skipped })
    }
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
