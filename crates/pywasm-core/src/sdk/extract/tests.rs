use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use super::*;

#[derive(Clone, Copy)]
enum Entry<'a> {
    File(&'a str, &'a [u8], u32),
    Link(&'a str, &'a str),
}

/// A tar.gz built from raw headers, so that paths the `tar` crate refuses to write (`..`)
/// can be tested too.
fn tar_gz(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        let (path, data) = match entry {
            Entry::File(path, data, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(data.len() as u64);
                (path, *data)
            }
            Entry::Link(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_link_name(target).unwrap();
                header.set_size(0);
                (path, &b""[..])
            }
        };
        let name = &mut header.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn unpack(bytes: &[u8], format: Format, layout: &Layout) -> (tempfile::TempDir, Result<()>) {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    fs_err::write(&archive, bytes).unwrap();
    let dest = dir.path().join("out");
    fs_err::create_dir(&dest).unwrap();
    let result = extract(&archive, format, layout, &dest);
    (dir, result)
}

#[test]
fn strip_top_keeps_modes_and_inner_links() {
    let bytes = tar_gz(&[
        Entry::File("sdk-1/bin/clang-19", b"elf", 0o755),
        Entry::Link("sdk-1/bin/clang", "clang-19"),
        Entry::File("sdk-1/share/x.h", b"h", 0o644),
    ]);
    let (dir, result) = unpack(&bytes, Format::TarGz, &Layout::StripTop);
    result.unwrap();
    let out = dir.path().join("out");
    assert_eq!(fs_err::read(out.join("bin/clang")).unwrap(), b"elf");
    let mode = fs_err::metadata(out.join("bin/clang-19"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(fs_err::read(out.join("share/x.h")).unwrap(), b"h");
}

#[test]
fn strip_top_refuses_two_top_level_directories() {
    let bytes = tar_gz(&[
        Entry::File("a/x", b"", 0o644),
        Entry::File("b/y", b"", 0o644),
    ]);
    let err = unpack(&bytes, Format::TarGz, &Layout::StripTop)
        .1
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("more than one top-level directory (`a` and `b`)"),
        "{err:#}"
    );
}

#[test]
fn subdir_keeps_only_that_directory() {
    let bytes = tar_gz(&[
        Entry::File("p/other.txt", b"", 0o644),
        Entry::File("p/keep/lib/x.a", b"ar", 0o644),
    ]);
    let (dir, result) = unpack(&bytes, Format::TarGz, &Layout::Subdir("p/keep".to_owned()));
    result.unwrap();
    assert_eq!(fs_err::read(dir.path().join("out/lib/x.a")).unwrap(), b"ar");
    assert!(!dir.path().join("out/other.txt").exists());
    let err = unpack(&bytes, Format::TarGz, &Layout::Subdir("p/gone".to_owned()))
        .1
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("no directory `p/gone`"),
        "{err:#}"
    );
}

#[test]
fn entries_that_climb_out_are_refused() {
    for path in ["../evil", "/abs/evil", "top/../../evil"] {
        let bytes = tar_gz(&[Entry::File(path, b"x", 0o644)]);
        let (dir, result) = unpack(&bytes, Format::TarGz, &Layout::AsIs);
        let err = format!("{:#}", result.unwrap_err());
        assert!(err.contains(path) && err.contains("outside"), "{err}");
        assert!(!dir.path().join("evil").exists());
    }
}

#[test]
fn links_that_point_out_are_refused() {
    let bytes = tar_gz(&[Entry::Link("top/bin/evil", "../../../etc/passwd")]);
    let err = format!(
        "{:#}",
        unpack(&bytes, Format::TarGz, &Layout::StripTop)
            .1
            .unwrap_err()
    );
    assert!(err.contains("points outside"), "{err}");
    let bytes = tar_gz(&[Entry::Link("top/evil", "/etc/passwd")]);
    assert!(unpack(&bytes, Format::TarGz, &Layout::StripTop).1.is_err());
}

#[test]
fn links_through_planted_links_are_refused() {
    // `d/s` resolves to dest itself, so `d/s/t -> ..` is dest's parent.
    let bytes = tar_gz(&[Entry::Link("d/s", ".."), Entry::Link("d/s/t", "..")]);
    let err = format!(
        "{:#}",
        unpack(&bytes, Format::TarGz, &Layout::AsIs).1.unwrap_err()
    );
    assert!(
        err.contains("`d/s/t` -> `..`") && err.contains("points outside"),
        "{err}"
    );
}

/// `x -> a/b/..` points inside when made; `a/b -> ..`, made later, turns it outwards.
const TURNED: [Entry<'static>; 3] = [
    Entry::File("a/keep", b"", 0o644),
    Entry::Link("x", "a/b/.."),
    Entry::Link("a/b", ".."),
];

#[test]
fn links_turned_outwards_by_later_links_are_refused() {
    let bytes = tar_gz(&TURNED);
    let err = format!(
        "{:#}",
        unpack(&bytes, Format::TarGz, &Layout::AsIs).1.unwrap_err()
    );
    assert!(
        err.contains("`x` -> `a/b/..`") && err.contains("points outside"),
        "{err}"
    );
}

#[test]
fn writes_through_a_link_that_leads_out_are_refused() {
    let mut entries = Vec::from(TURNED);
    entries.push(Entry::File("x/evil", b"x", 0o644));
    let (dir, result) = unpack(&tar_gz(&entries), Format::TarGz, &Layout::AsIs);
    let err = format!("{:#}", result.unwrap_err());
    assert!(err.contains("`x/evil`"), "{err}");
    assert!(!dir.path().join("evil").exists());
}

fn zip_bytes(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data, mode) in entries {
        let options = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
        zip.start_file(*name, options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[test]
fn wheels_unpack_as_they_are() {
    let bytes = zip_bytes(&[
        ("ziglang/zig", b"#!/bin/sh\n", 0o755),
        ("ziglang/lib/a.h", b"h", 0o644),
    ]);
    let (dir, result) = unpack(&bytes, Format::Zip, &Layout::AsIs);
    result.unwrap();
    let mode = fs_err::metadata(dir.path().join("out/ziglang/zig"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(
        fs_err::read(dir.path().join("out/ziglang/lib/a.h")).unwrap(),
        b"h"
    );
}

#[test]
fn zip_entries_that_climb_out_are_refused() {
    let bytes = zip_bytes(&[("../evil", b"x", 0o644)]);
    let (dir, result) = unpack(&bytes, Format::Zip, &Layout::AsIs);
    assert!(format!("{:#}", result.unwrap_err()).contains("`../evil`"));
    assert!(!dir.path().join("evil").exists());
}

/// A release tarball as CPython ships it: tar in xz, one top-level directory.
#[test]
fn tar_xz_unpacks_like_tar_gz() {
    let gz = tar_gz(&[
        Entry::File("Python-3.13.5/configure", b"#!/bin/sh", 0o755),
        Entry::File("Python-3.13.5/Lib/os.py", b"import abc", 0o644),
        Entry::File("../evil", b"x", 0o644),
    ]);
    let mut tar = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut tar).unwrap();
    let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
    std::io::Write::write_all(&mut xz, &tar).unwrap();
    let bytes = xz.finish().unwrap();
    let (dir, result) = unpack(&bytes, Format::TarXz, &Layout::StripTop);
    // The entry that climbs out fails the whole archive, after the ones before it landed.
    assert!(format!("{:#}", result.unwrap_err()).contains("../evil"));
    let out = dir.path().join("out");
    assert_eq!(fs_err::read(out.join("Lib/os.py")).unwrap(), b"import abc");
    let mode = fs_err::metadata(out.join("configure"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
}

#[test]
fn formats_come_from_the_file_name() {
    assert_eq!(Format::of("z.whl").unwrap(), Format::Zip);
    assert_eq!(Format::of("s.tar.gz").unwrap(), Format::TarGz);
    assert_eq!(Format::of("s.tar.xz").unwrap(), Format::TarXz);
    assert!(Format::of("s.tar.bz2").is_err());
}

fn unpack_with(bytes: &[u8], format: Format, limits: ArchiveLimits) -> String {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    fs_err::write(&archive, bytes).unwrap();
    let dest = dir.path().join("out");
    fs_err::create_dir(&dest).unwrap();
    let result = extract_with(&archive, format, &Layout::StripTop, &dest, limits);
    format!("{:#}", result.unwrap_err())
}

const LOOSE: ArchiveLimits = ArchiveLimits {
    member_size: 1 << 40,
    total_size: 1 << 40,
    members: 1 << 40,
    ratio: 1 << 40,
};

#[test]
fn archives_past_a_limit_are_refused_naming_the_member_and_the_limit() {
    let zeros = vec![0u8; 3 << 20];
    let tar = tar_gz(&[
        Entry::File("sdk-1/a", b"a", 0o644),
        Entry::File("sdk-1/zeros", &zeros, 0o644),
    ]);
    let cases = [
        (
            ArchiveLimits {
                ratio: 100,
                ..LOOSE
            },
            "`ratio`",
        ),
        (
            ArchiveLimits {
                member_size: 2 << 20,
                ..LOOSE
            },
            "`member-size`",
        ),
        (
            ArchiveLimits {
                total_size: 2 << 20,
                ..LOOSE
            },
            "`total-size`",
        ),
    ];
    for (limits, key) in cases {
        let err = unpack_with(&tar, Format::TarGz, limits);
        assert!(
            err.contains("member `sdk-1/zeros`") && err.contains(key),
            "{err}"
        );
    }
    let err = unpack_with(
        &tar,
        Format::TarGz,
        ArchiveLimits {
            members: 1,
            ..LOOSE
        },
    );
    assert!(
        err.contains("member `sdk-1/zeros`") && err.contains("`members`"),
        "{err}"
    );
    let zip = zip_bytes(&[("sdk-1/a", b"a", 0o644), ("sdk-1/zeros", &zeros, 0o644)]);
    let err = unpack_with(
        &zip,
        Format::Zip,
        ArchiveLimits {
            ratio: 100,
            ..LOOSE
        },
    );
    assert!(
        err.contains("member `sdk-1/zeros`") && err.contains("`ratio`"),
        "{err}"
    );
    let err = unpack_with(
        &zip,
        Format::Zip,
        ArchiveLimits {
            members: 1,
            ..LOOSE
        },
    );
    assert!(err.contains("`members`"), "{err}");
    // Within the SDK's own limits, the same archive unpacks.
    let (_dir, result) = unpack(&tar, Format::TarGz, &Layout::StripTop);
    result.unwrap();
}

#[test]
fn tar_members_keep_their_modification_time() {
    let bytes = tar_gz(&[Entry::File("sdk-1/configure", b"#!/bin/sh", 0o755)]);
    let (dir, result) = unpack(&bytes, Format::TarGz, &Layout::StripTop);
    result.unwrap();
    let modified = fs_err::metadata(dir.path().join("out/configure"))
        .unwrap()
        .modified()
        .unwrap();
    // The helper's headers carry time 0; a member written now would say otherwise.
    assert_eq!(modified, std::time::SystemTime::UNIX_EPOCH);
}
