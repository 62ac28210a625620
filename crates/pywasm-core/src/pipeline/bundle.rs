//! The embedded file system image: app sources, the stdlib, installed distributions, and their
//! bytecode.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Result;

use super::Context;
use super::select::Selected;
use crate::module::bundle::ImageBuilder;
use crate::module::describe::FileDigest;
use crate::module::preinit;
use crate::shell::{human_size, timed};

/// The image, written to a file of its own.
pub(super) struct Image {
    /// In a directory of its own, which a pre-initialised build's snapshot run is given.
    pub path: PathBuf,
    pub size: usize,
    /// Its sha256, which the snapshot's cache key names.
    pub sha256: String,
    /// Every embedded file with its sha256, for the module's manifest.
    pub digests: Vec<FileDigest>,
}

pub(super) fn bundle(cx: &Context, selected: &Selected) -> Result<Image> {
    let path = cx.work.join("image").join(preinit::IMAGE_FILE);
    timed(cx.shell, "Bundled", || {
        let mut builder = ImageBuilder::new();
        // Without `stdlib-sources`, a stdlib module that has bytecode is embedded as bytecode
        // only, at the place the sourceless loader looks (`json/decoder.pyc`); its source goes.
        let mut stdlib_code = selected.stdlib_code.clone();
        let mut replaced = BTreeSet::new();
        if !cx.plan.settings.stdlib_sources {
            for (guest, _) in &mut stdlib_code {
                if let Some((source, legacy)) = sourceless(guest) {
                    replaced.insert(source);
                    *guest = legacy;
                }
            }
        }
        let stdlib_files = selected
            .stdlib
            .iter()
            .filter(|f| !replaced.contains(&f.guest));
        for file in selected
            .app
            .iter()
            .chain(stdlib_files)
            .chain(&selected.site)
        {
            builder.add_file(&file.guest, fs_err::read(&file.host)?)?;
        }
        for (guest, bytes) in selected
            .app_code
            .iter()
            .chain(&stdlib_code)
            .chain(&selected.site_code)
        {
            builder.add_file(guest, bytes.clone())?;
        }
        builder.add_mount(&cx.plan.guest.app_dir)?;
        builder.add_mount(&cx.plan.guest.stdlib_dir)?;
        let digests = builder.digests();
        let (image, stats) = builder.build(cx.plan.source_date_epoch)?;
        fs_err::create_dir_all(crate::fsutil::parent_dir(&path))?;
        fs_err::write(&path, &image)?;
        let message = format!(
            "{} files in {} directories ({}, {} compressed to {})",
            stats.files,
            stats.dirs,
            human_size(stats.bytes as u64),
            stats.compressed,
            human_size(image.len() as u64)
        );
        let image = Image {
            path: path.clone(),
            size: image.len(),
            sha256: crate::fsutil::sha256_hex(&image),
            digests,
        };
        Ok((image, message))
    })
}

/// For `<dir>/__pycache__/<name>.<tag>.pyc`: the source `<dir>/<name>.py` and the sourceless
/// bytecode path `<dir>/<name>.pyc`.
fn sourceless(pyc: &str) -> Option<(String, String)> {
    let (cache_dir, file) = pyc.rsplit_once('/')?;
    let dir = cache_dir.strip_suffix("/__pycache__")?;
    let stem = file.strip_suffix(".pyc")?.split('.').next()?;
    Some((format!("{dir}/{stem}.py"), format!("{dir}/{stem}.pyc")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytecode_moves_to_where_the_sourceless_loader_looks() {
        assert_eq!(
            sourceless("/lib/json/decoder.cpython-311.pyc"),
            None,
            "only bytecode in __pycache__ moves"
        );
        assert_eq!(
            sourceless("/lib/json/__pycache__/decoder.cpython-311.pyc"),
            Some((
                "/lib/json/decoder.py".into(),
                "/lib/json/decoder.pyc".into()
            ))
        );
        assert_eq!(sourceless("/lib/json/decoder.py"), None);
    }
}
