use std::io::Cursor;

use zip::ZipWriter;
use zip::write::SimpleFileOptions;

use super::record::{b64_urlsafe_nopad, check_hash, parse_csv, record_line};
use super::write::zip_bytes;
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
    Wheel::open(&w.write(dir).unwrap(), ArchiveLimits::WHEEL).unwrap()
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
    format!(
        "{:#}",
        Wheel::open(&path, ArchiveLimits::WHEEL).unwrap_err()
    )
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
    let err = format!(
        "{:#}",
        Wheel::open(&path, ArchiveLimits::WHEEL).unwrap_err()
    );
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
    let wheel = Wheel::open(&first, ArchiveLimits::WHEEL).unwrap();
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
    let stripped = Wheel::open(&path, ArchiveLimits::WHEEL).unwrap();
    assert_eq!(stripped.name.platform(), Platform::Pure);
    assert!(stripped.root_is_purelib && native_members(&stripped).is_empty());
    assert_eq!(stripped.tags, ["py3-none-any"]);
    let meta = stripped.read(&format!("{DIST}/WHEEL")).unwrap();
    assert_eq!(String::from_utf8(meta).unwrap(), PURE);
}

/// A well-formed wheel (RECORD and all) holding `extra`, written but not opened.
fn written(dir: &Path, extra: &[(&str, Vec<u8>)]) -> PathBuf {
    let mut w = WheelWriter::new(WheelName::parse("demo-1.0-py3-none-any.whl").unwrap());
    let all = entries(PURE, &[]).into_iter();
    let all = all.chain(extra.iter().map(|(p, b)| (p.to_string(), b.clone())));
    for (path, bytes) in all {
        w.add(&path, bytes).unwrap();
    }
    w.write(dir).unwrap()
}

/// Rewrites every uncompressed-size field of a zip (local headers and central directory) to
/// `size`: a member that lies about what it inflates to.
fn lie_about_sizes(bytes: &mut [u8], size: u32) {
    for at in 0..bytes.len().saturating_sub(30) {
        let field = match &bytes[at..at + 4] {
            [0x50, 0x4b, 0x03, 0x04] => at + 22,
            [0x50, 0x4b, 0x01, 0x02] => at + 24,
            _ => continue,
        };
        bytes[field..field + 4].copy_from_slice(&size.to_le_bytes());
    }
}

#[test]
fn a_zip_bomb_stops_at_the_ratio_naming_the_member() {
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path(), &[("demo/zeros.bin", vec![0; 4 << 20])]);
    let err = Wheel::open(&path, ArchiveLimits::WHEEL).unwrap_err();
    insta::assert_snapshot!(format!("{err:#}"));
    let generous = ArchiveLimits {
        ratio: 10_000,
        ..ArchiveLimits::WHEEL
    };
    let wheel = Wheel::open(&path, generous).unwrap();
    let site = dir.path().join("site");
    assert_eq!(wheel.install(&site).unwrap().files.len(), 5);
}

#[test]
fn every_limit_is_enforced_on_open_and_on_later_reads() {
    let dir = tempfile::tempdir().unwrap();
    // Bytes that do not compress: a zip bomb is not needed to pass a size.
    let mut noise = vec![0u8; 3 << 20];
    let mut x = 0x2545_f491_u32;
    for byte in &mut noise {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *byte = x as u8;
    }
    let path = written(
        dir.path(),
        &[("demo/a.bin", noise.clone()), ("demo/b.bin", noise)],
    );
    let limited = |limits: ArchiveLimits| format!("{:#}", Wheel::open(&path, limits).unwrap_err());
    let w = ArchiveLimits::WHEEL;
    let err = limited(ArchiveLimits {
        member_size: 2 << 20,
        ..w
    });
    has(&err, "its member `demo/a.bin` unpacks to more than 2 MiB");
    has(&err, "wheel-limits = { member-size = ... }");
    let err = limited(ArchiveLimits {
        total_size: 5 << 20,
        ..w
    });
    has(
        &err,
        "its member `demo/b.bin` takes the archive's unpacked size past 5 MiB",
    );
    let err = limited(ArchiveLimits { members: 4, ..w });
    has(
        &err,
        "its member number 5 is past the 4 members an archive may hold (`members`)",
    );
    // A member whose headers claim 10 bytes is still stopped by what it inflates to.
    let mut bytes = fs_err::read(&path).unwrap();
    lie_about_sizes(&mut bytes, 10);
    let liar = dir.path().join("liar").join("demo-1.0-py3-none-any.whl");
    fs_err::create_dir_all(liar.parent().unwrap()).unwrap();
    fs_err::write(&liar, bytes).unwrap();
    let lies = ArchiveLimits {
        member_size: 1 << 20,
        ..w
    };
    let err = format!("{:#}", Wheel::open(&liar, lies).unwrap_err());
    has(&err, "unpacks to more than 1 MiB");
}
