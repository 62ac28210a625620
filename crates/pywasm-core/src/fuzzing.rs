//! Entry points for the fuzz targets under `fuzz/` (cargo fuzz, libFuzzer): each runs one reader
//! of untrusted input on arbitrary bytes, renders any error as users would see it, and checks
//! what must hold whatever the input: no panic, and for archives nothing written outside the
//! directory being unpacked. `fuzzing/tests.rs` runs every checked-in seed and every regression
//! input through them on stable Rust, so a crash once found stays fixed without the fuzzer.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::limits::ArchiveLimits;
use crate::manifest::Manifest;
use crate::python::lock::Lock;
use crate::python::wheel::Wheel;
use crate::sdk::extract::{self, Format};
use crate::sdk::part::Layout;
use crate::shell::render_error;

/// A target's entry point: it panics on what must not happen.
pub type Target = fn(&[u8]);

/// The targets, as `fuzz/fuzz_targets/<name>.rs` and `fuzz/seeds/<name>/` name them. `abi` is
/// not here: it needs built library modules and a wasmtime host (`fuzz/fuzz_targets/abi.rs`).
pub const TARGETS: &[(&str, Target)] = &[
    ("manifest", manifest),
    ("lock", lock),
    ("wheel", wheel),
    ("record", record),
    ("archive", archive),
    ("module", module),
    ("image", image),
];

/// The files a target's corpus starts from: `fuzz/seeds/<target>/`, and for `manifest` and
/// `lock` every `pyproject.toml` and `pywasm.lock` of the examples and test fixtures.
pub fn seed_files(repo: &Path, target: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = files_below(&repo.join("fuzz/seeds").join(target))?;
    let name = match target {
        "manifest" => "pyproject.toml",
        "lock" => "pywasm.lock",
        _ => return Ok(files),
    };
    let skip = |_: &Path, dir: &str| ["target", "node_modules", "dist", ".venv"].contains(&dir);
    for root in ["examples", "tests/fixtures"].map(|r| repo.join(r)) {
        let found = crate::fsutil::walk_files(&root, &skip)?;
        let named = found
            .into_iter()
            .filter(|f| f.file_name().is_some_and(|n| n == name));
        files.extend(named.map(|f| root.join(f)));
    }
    Ok(files)
}

/// The inputs that once crashed a target (`fuzz/regressions/<target>/`), each run by the tests.
pub fn regression_files(repo: &Path, target: &str) -> anyhow::Result<Vec<PathBuf>> {
    files_below(&repo.join("fuzz/regressions").join(target))
}

/// Every file below `dir`, none when it does not exist.
fn files_below(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let found = crate::fsutil::walk_files(dir, &|_, _| false)?;
    Ok(found.into_iter().map(|f| dir.join(f)).collect())
}

/// Small enough that a bomb costs milliseconds, not seconds, per input; the code paths are the
/// defaults'.
const LIMITS: ArchiveLimits = ArchiveLimits {
    member_size: 4 << 20,
    total_size: 8 << 20,
    members: 4096,
    ratio: 100,
};

/// Renders an error as `pywasm` prints it, which slices the source text at the error's span.
fn render<T>(result: anyhow::Result<T>) {
    if let Err(err) = result {
        std::hint::black_box(render_error(&err));
    }
}

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// `pyproject.toml`: the `[project]` table and `[tool.pywasm]`, every setting resolved.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    render(Manifest::parse(Path::new("/fuzz/pyproject.toml"), text));
}

/// `pywasm.lock`, read and written back.
pub fn lock(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Lock::parse(Path::new("/fuzz/pywasm.lock"), text);
    if let Ok(lock) = &parsed {
        let again = lock.to_text().expect("a lock that was read can be written");
        Lock::parse(Path::new("/fuzz/again.lock"), &again).expect("a written lock can be read");
    }
    render(parsed);
}

/// A whole wheel file: opened (every member checked against RECORD), and installed when that
/// succeeds; nothing may land outside the site directory.
pub fn wheel(data: &[u8]) {
    let dir = scratch();
    let path = dir.path().join("demo-1.0-py3-none-any.whl");
    fs_err::write(&path, data).expect("write the wheel");
    open_and_install(dir.path(), &path);
}

fn open_and_install(dir: &Path, path: &Path) {
    let opened = Wheel::open(path, LIMITS);
    if let Ok(wheel) = &opened {
        render(wheel.install(&dir.join("site")));
        let _ = wheel.read(&format!("{}/METADATA", wheel.dist_info));
    }
    render(opened);
    assert_only(
        dir,
        &[path.file_name().unwrap_or_default(), "site".as_ref()],
    );
}

/// The members [`record`]'s wheel holds besides its RECORD (which the seeds list).
pub(crate) const RECORDED: [(&str, &[u8]); 3] = [
    ("demo/__init__.py", b"VALUE = 1\n"),
    (
        "demo-1.0.dist-info/METADATA",
        b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
    ),
    (
        "demo-1.0.dist-info/WHEEL",
        b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    ),
];

/// A wheel whose RECORD is `data`, beside members it may or may not list rightly: RECORD's CSV
/// and hashes, reached without the fuzzer having to build a zip.
pub fn record(data: &[u8]) {
    let dir = scratch();
    let path = dir.path().join("demo-1.0-py3-none-any.whl");
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let record = [("demo-1.0.dist-info/RECORD", data)];
    for (name, bytes) in RECORDED.iter().copied().chain(record) {
        zip.start_file(name, stored).expect("start a member");
        zip.write_all(bytes).expect("write a member");
    }
    let bytes = zip.finish().expect("finish the zip").into_inner();
    fs_err::write(&path, bytes).expect("write the wheel");
    open_and_install(dir.path(), &path);
}

/// An SDK archive. The first byte picks the format and layout; for tar formats the rest is the
/// tar itself, compressed here, since the fuzzer would rarely find a valid gzip or xz stream.
/// Nothing may land outside the directory being unpacked, and when unpacking succeeds every
/// link in it must resolve inside it.
pub fn archive(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let format = [Format::Zip, Format::TarGz, Format::TarXz][usize::from(pick % 3)];
    let layout = match pick / 3 % 3 {
        0 => Layout::AsIs,
        1 => Layout::StripTop,
        _ => Layout::Subdir("sub".to_owned()),
    };
    let bytes = match format {
        Format::Zip => body.to_vec(),
        Format::TarGz => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(body).expect("gzip");
            gz.finish().expect("gzip")
        }
        Format::TarXz => {
            let mut xz = xz2::write::XzEncoder::new(Vec::new(), 0);
            xz.write_all(body).expect("xz");
            xz.finish().expect("xz")
        }
    };
    let dir = scratch();
    let archive = dir.path().join("archive");
    let dest = dir.path().join("out");
    fs_err::write(&archive, bytes).expect("write the archive");
    fs_err::create_dir(&dest).expect("create the destination");
    let unpacked = extract::extract_with(&archive, format, &layout, &dest, LIMITS);
    assert_only(dir.path(), &["archive".as_ref(), "out".as_ref()]);
    if unpacked.is_ok() {
        let real_dest = fs_err::canonicalize(&dest).expect("the destination");
        for link in links_below(&dest) {
            if let Ok(target) = std::fs::canonicalize(&link) {
                assert!(
                    target.starts_with(&real_dest),
                    "`{}` resolves to `{}`, outside the directory unpacked into",
                    link.display(),
                    target.display()
                );
            }
        }
    }
    render(unpacked);
}

/// A module given to `pywasm inspect --verify`: the wasm sections, the manifest section, the
/// linear memory's data and the file system image in it, with every embedded file re-hashed.
pub fn module(data: &[u8]) {
    let dir = scratch();
    let path = dir.path().join("module.wasm");
    fs_err::write(&path, data).expect("write the module");
    let inspected = crate::runner::inspect::inspect(&path, true, LIMITS.total_size);
    if let Ok(report) = &inspected {
        std::hint::black_box(report.table(true));
        std::hint::black_box(report.to_json().expect("a report renders as JSON"));
    }
    render(inspected);
}

/// A file system image on its own, as `inspect` finds it in the module's data, with every file's
/// contents inflated.
pub fn image(data: &[u8]) {
    if let Ok(files) = crate::module::bundle::read_image(data) {
        for file in files {
            std::hint::black_box((file.path, file.contents));
        }
    }
}

/// Fails unless `dir` holds exactly `names` (those that exist of them).
fn assert_only(dir: &Path, names: &[&std::ffi::OsStr]) {
    for entry in fs_err::read_dir(dir).expect("list the scratch directory") {
        let name = entry.expect("an entry").file_name();
        assert!(
            names.contains(&name.as_os_str()),
            "`{}` was written outside the directory it belongs in",
            name.to_string_lossy()
        );
    }
}

/// Every symbolic link below `dir`, without following any.
fn links_below(dir: &Path) -> Vec<PathBuf> {
    let mut links = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = fs_err::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match fs_err::symlink_metadata(&path) {
                Ok(meta) if meta.is_symlink() => links.push(path),
                Ok(meta) if meta.is_dir() => todo.push(path),
                _ => {}
            }
        }
    }
    links
}

#[cfg(test)]
mod tests;
