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
        .help(help(&dir, places))
    )
}

/// Where else the file may come from.
fn help(dir: &Path, places: &[Place<'_>]) -> String {
    let put = format!(
        "put the file into `{}` (it is checked against the sha256)",
        dir.display()
    );
    if places.iter().any(|p| matches!(p, Place::Debian { .. })) {
        format!(
            "{put}, or set {} to the pool URLs of a Debian mirror that has it \
             (`<mirror>/debian/pool`)",
            debian::MIRRORS_VAR
        )
    } else {
        put
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pinned<'a>(file: &'a str, sha256: &'a str) -> Pinned<'a> {
        Pinned {
            what: "CPython 3.99.0",
            file,
            sha256,
        }
    }

    /// The first place with the pinned file wins, over one that serves another file; the file
    /// is kept, and the next call needs no place at all.
    #[test]
    fn the_pinned_file_is_fetched_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let home = SdkHome::at(dir.path().join("home"));
        let (wrong, right) = (dir.path().join("wrong"), dir.path().join("right"));
        fs_err::write(&wrong, b"another build").unwrap();
        fs_err::write(&right, b"the release").unwrap();
        let sha = crate::fsutil::sha256_hex(b"the release");
        let (wrong, right) = (wrong.display().to_string(), right.display().to_string());
        let places = [Place::Url(&wrong), Place::Url(&right)];
        let got = obtain(&Shell::quiet(), &home, pinned("x.tar.xz", &sha), &places).unwrap();
        assert_eq!(got, home.root().join("sources/x.tar.xz"));
        assert_eq!(fs_err::read(&got).unwrap(), b"the release");
        let again = obtain(&Shell::quiet(), &home, pinned("x.tar.xz", &sha), &[]).unwrap();
        assert_eq!(again, got);
        let left: Vec<_> = fs_err::read_dir(home.root().join("sources"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["x.tar.xz"]);
    }

    /// When no place has it, the error names each place and its answer, says where to put the
    /// file, and nothing is kept.
    #[test]
    fn a_failure_names_every_place_and_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let home = SdkHome::at(dir.path().join("home"));
        let wrong = dir.path().join("wrong");
        fs_err::write(&wrong, b"another build").unwrap();
        let (wrong, absent) = (
            wrong.display().to_string(),
            dir.path().join("absent").display().to_string(),
        );
        let places = [Place::Url(&wrong), Place::Url(&absent)];
        let sha = "0".repeat(64);
        let err = obtain(&Shell::quiet(), &home, pinned("x.tar.xz", &sha), &places).unwrap_err();
        let text = crate::shell::render_error(&err);
        assert!(text.contains("no place serves `x.tar.xz`"), "{text}");
        assert!(
            text.contains(&format!("`{wrong}`: another file (sha256 ")),
            "{text}"
        );
        assert!(text.contains(&format!("`{absent}`: ")), "{text}");
        assert!(text.contains("help: put the file into"), "{text}");
        assert!(!text.contains(debian::MIRRORS_VAR), "{text}");
        let left = fs_err::read_dir(home.root().join("sources"))
            .unwrap()
            .count();
        assert_eq!(left, 0);
    }
}
