//! `$PYWASM_HOME/sources/`: pinned source archives (CPython's release tarballs, the wheel
//! recipes' sources), each fetched once from the first place that serves it with the pinned
//! sha256, and kept under its file name.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::SdkHome;
use super::debian::{self, PoolFile};
use crate::Shell;
use crate::diagnostic::Diagnostic;
use crate::fsutil::sha256_file;

/// A pinned source archive.
#[derive(Clone, Copy, Debug)]
pub struct Pinned<'a> {
    /// What it is the source of, for messages (`CPython 3.13.5`).
    pub what: &'a str,
    /// The name it is kept under.
    pub file: &'a str,
    pub sha256: &'a str,
}

/// One place a source archive may come from.
pub enum Place<'a> {
    /// The pool of a Debian source package (see [`debian`]).
    Debian { package: &'a str },
    /// A URL or a local path.
    Url(&'a str),
    /// Anything else (`pip download`): puts the file into the scratch directory it is given
    /// and returns its path.
    Other(&'a dyn Fn(&Path) -> Result<PathBuf>),
}

/// The verified archive of `pin`, fetched from the first of `places` that serves it unless the
/// cache holds it. The error names every place tried and what each answered.
pub fn obtain(
    shell: &Shell,
    home: &SdkHome,
    pin: Pinned<'_>,
    places: &[Place<'_>],
) -> Result<PathBuf> {
    let dir = home.root().join("sources");
    let path = dir.join(pin.file);
    if path.is_file() && sha256_file(&path)? == pin.sha256 {
        return Ok(path);
    }
    fs_err::create_dir_all(&dir)?;
    let scratch = tempfile::Builder::new()
        .prefix("source-")
        .tempdir_in(&dir)
        .with_context(|| format!("failed to create a directory in `{}`", dir.display()))?;
    shell.status(
        "Fetching",
        &format!("the source of {} ({})", pin.what, pin.file),
    );
    let mut tried = Vec::new();
    for place in places {
        match fetch_one(shell, pin, place, scratch.path()) {
            Ok(fetched) => {
                let got = sha256_file(&fetched)?;
                if got == pin.sha256 {
                    fs_err::rename(&fetched, &path)?;
                    return Ok(path);
                }
                tried.push(format!("{}: another file (sha256 {got})", describe(place)));
                fs_err::remove_file(&fetched)?;
            }
            Err(err) => tried.push(format!("{}: {err:#}", describe(place))),
        }
    }
    bail!(
        Diagnostic::new(format!(
            "no place serves `{}` (sha256 {}) for {}; tried:\n{}",
            pin.file,
            pin.sha256,
            pin.what,
            tried
                .iter()
                .map(|t| format!("    {t}"))
                .collect::<Vec<_>>()
                .join("\n")
        ))
        .help(format!(
            "put the file into `{}` (it is checked against the sha256), or set {} to the pool \
             URLs of a Debian mirror that has it (`<mirror>/debian/pool`)",
            dir.display(),
            debian::MIRRORS_VAR
        ))
    )
}

fn fetch_one(shell: &Shell, pin: Pinned<'_>, place: &Place<'_>, scratch: &Path) -> Result<PathBuf> {
    match place {
        Place::Debian { package } => {
            let file = PoolFile {
                package,
                file: pin.file,
                sha256: pin.sha256,
            };
            debian::fetch(shell, file, scratch)
        }
        Place::Url(url) => {
            let dest = scratch.join(pin.file);
            shell.status("Downloading", &format!("`{url}`"));
            super::download(shell, url, &dest)?;
            Ok(dest)
        }
        Place::Other(fetch) => fetch(scratch),
    }
}

fn describe(place: &Place<'_>) -> String {
    match place {
        Place::Debian { package } => format!("Debian's source package `{package}`"),
        Place::Url(url) => format!("`{url}`"),
        Place::Other(_) => "pip".to_owned(),
    }
}
