//! Every seed and every regression input of the fuzz targets, run through the same entry points
//! on stable Rust; and the generated seeds, checked to be what this code generates
//! (`PYWASM_UPDATE_SEEDS=1 cargo test -p pywasm-core fuzzing` writes them).

use std::collections::BTreeMap;
use std::io::Write;

use super::*;
use crate::module::bundle::ImageBuilder;
use crate::module::describe::{self, BuildManifest, FileDigest, Named, Output, Pinned};
use crate::python::wheel::{WheelName, WheelWriter, record_line};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_seed_and_regression_input_passes_every_check() {
    for (target, run) in TARGETS {
        let seeds = seed_files(&repo(), target).unwrap();
        assert!(seeds.len() >= 2, "`{target}` has {} seeds", seeds.len());
        for file in seeds
            .iter()
            .chain(&regression_files(&repo(), target).unwrap())
        {
            let data = fs_err::read(file).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "`{target}` fails on `{}`", file.display());
        }
    }
}

#[test]
fn the_generated_seeds_are_current() {
    let dir = repo().join("fuzz/seeds");
    let update = std::env::var_os("PYWASM_UPDATE_SEEDS").is_some();
    for (target, files) in generated() {
        for (name, bytes) in files {
            let path = dir.join(target).join(name);
            if update {
                fs_err::create_dir_all(path.parent().unwrap()).unwrap();
                fs_err::write(&path, &bytes).unwrap();
            }
            let found = fs_err::read(&path).unwrap_or_default();
            assert!(
                found == bytes,
                "`{}` is not what the seed generator writes; run `PYWASM_UPDATE_SEEDS=1 cargo test -p pywasm-core fuzzing` and commit it",
                path.display()
            );
        }
    }
}

type Seeds = BTreeMap<&'static str, Vec<(&'static str, Vec<u8>)>>;

/// The seeds made by code: well-formed inputs of each format, and a few that each reader must
/// refuse, for the fuzzer to mutate.
fn generated() -> Seeds {
    let image = image();
    BTreeMap::from([
        (
            "wheel",
            vec![("pure.whl", pure_wheel()), ("data-dirs.whl", data_wheel())],
        ),
        ("record", records()),
        ("archive", archives()),
        (
            "module",
            vec![
                ("empty.wasm", wasm_encoder::Module::new().finish()),
                ("with-image.wasm", module_with(&image)),
            ],
        ),
        (
            "image",
            vec![("image.bin", image.0), ("mounted.bin", mounted_image())],
        ),
    ])
}

fn wheel_bytes(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = WheelWriter::new(WheelName::parse("demo-1.0-py3-none-any.whl").unwrap());
    // METADATA and WHEEL as the record target's wheel has them.
    let meta = &RECORDED[1..];
    for (path, bytes) in meta.iter().chain(files) {
        w.add(path, bytes.to_vec()).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    fs_err::read(w.write(dir.path()).unwrap()).unwrap()
}

fn pure_wheel() -> Vec<u8> {
    wheel_bytes(&[
        ("demo/__init__.py", b"VALUE = 1\n"),
        ("demo/data/table.json", b"{\"a\": [1, 2, 3]}\n"),
        (
            "demo-1.0.dist-info/entry_points.txt",
            b"[console_scripts]\ndemo = demo:main\n",
        ),
    ])
}

fn data_wheel() -> Vec<u8> {
    wheel_bytes(&[
        ("demo/__init__.py", b""),
        ("demo-1.0.data/purelib/demo_extra.py", b"EXTRA = True\n"),
        ("demo-1.0.data/scripts/run", b"#!python\nimport demo\n"),
        ("demo-1.0.data/headers/demo.h", b"int demo(void);\n"),
    ])
}

/// RECORDs for the members [`super::record`] writes: right, quoted, with another hash, and
/// wrong in the ways a reader must catch.
fn records() -> Vec<(&'static str, Vec<u8>)> {
    let line = |(path, bytes): &(&str, &[u8])| record_line(path, Some(bytes)) + "\n";
    let valid: String = RECORDED.iter().map(line).collect::<String>()
        + &record_line("demo-1.0.dist-info/RECORD", None)
        + "\n";
    let quoted = valid.replace("demo/__init__.py,", "\"demo/__init__.py\",");
    let missing: String = RECORDED[1..].iter().map(line).collect();
    let wrong_size = valid.replace(",10\n", ",11\n");
    vec![
        ("valid.csv", valid.into_bytes()),
        ("quoted.csv", quoted.into_bytes()),
        ("missing-member.csv", missing.into_bytes()),
        ("wrong-size.csv", wrong_size.into_bytes()),
        ("md5.csv", b"demo/__init__.py,md5=abc,10\n".to_vec()),
    ]
}

enum Entry {
    Dir(&'static str),
    File(&'static str, &'static [u8], u32),
    Symlink(&'static str, &'static str),
    HardLink(&'static str, &'static str),
}

/// A tar of `entries` with fixed times and owners, paths written as they are (`..` too).
fn tar(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(315_532_800);
        let (path, data): (&str, &[u8]) = match entry {
            Entry::Dir(path) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                (path, b"")
            }
            Entry::File(path, data, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                (path, data)
            }
            Entry::Symlink(path, target) | Entry::HardLink(path, target) => {
                let kind = match entry {
                    Entry::Symlink(..) => tar::EntryType::Symlink,
                    _ => tar::EntryType::Link,
                };
                header.set_entry_type(kind);
                header.set_link_name(target).unwrap();
                (path, b"")
            }
        };
        header.set_size(data.len() as u64);
        let name = &mut header.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    for (name, data) in entries {
        if let Some(dir) = name.strip_suffix('/') {
            zip.add_directory(dir, options).unwrap();
        } else {
            zip.start_file(*name, options).unwrap();
            zip.write_all(data).unwrap();
        }
    }
    zip.finish().unwrap().into_inner()
}

/// The archive target's inputs: a byte that picks format and layout (see [`super::archive`]),
/// then the archive, a tar uncompressed.
fn archives() -> Vec<(&'static str, Vec<u8>)> {
    let release = tar(&[
        Entry::Dir("tool-1/"),
        Entry::File("tool-1/bin/tool", b"#!/bin/sh\necho tool\n", 0o755),
        Entry::File("tool-1/lib/a.txt", b"a", 0o644),
        Entry::Symlink("tool-1/lib/current", "a.txt"),
        Entry::HardLink("tool-1/lib/b.txt", "tool-1/lib/a.txt"),
    ]);
    let with = |pick: u8, body: Vec<u8>| [vec![pick], body].concat();
    vec![
        ("tar-gz-strip-top", with(4, release.clone())),
        ("tar-xz-strip-top", with(5, release)),
        (
            "tar-gz-as-is",
            with(
                1,
                tar(&[
                    Entry::File("a/b.txt", b"b", 0o600),
                    Entry::Symlink("c", "a"),
                ]),
            ),
        ),
        (
            "tar-gz-subdir",
            with(
                7,
                tar(&[
                    Entry::File("sub/x", b"x", 0o644),
                    Entry::File("other/y", b"y", 0o644),
                ]),
            ),
        ),
        (
            "tar-gz-climbing",
            with(
                1,
                tar(&[
                    Entry::Symlink("up", ".."),
                    Entry::File("up/evil", b"!", 0o644),
                ]),
            ),
        ),
        (
            "zip-as-is",
            with(0, zip(&[("pkg/", b""), ("pkg/a.py", b"A = 1\n")])),
        ),
        (
            "zip-strip-top",
            with(3, zip(&[("top/a", b"a"), ("top/b/c", b"c")])),
        ),
    ]
}

/// An image of a few files (one compressible, so stored deflated) and the digests a manifest
/// lists for them.
fn image() -> (Vec<u8>, Vec<FileDigest>) {
    let mut builder = ImageBuilder::new();
    builder
        .add_file("/app/main.py", b"print('hi')\n".to_vec())
        .unwrap();
    builder
        .add_file("/app/data/zeros.bin", vec![0; 4096])
        .unwrap();
    builder
        .add_file("/usr/lib/os.py", b"import abc\n".to_vec())
        .unwrap();
    let digests = builder.digests();
    (builder.build(315_532_800).unwrap().0, digests)
}

/// An image with a deeper tree, an empty directory mounted, and a file too short to compress.
fn mounted_image() -> Vec<u8> {
    let mut builder = ImageBuilder::new();
    builder
        .add_file(
            "/usr/local/lib/python3.13/json/__init__.py",
            b"from .decoder import *\n".to_vec(),
        )
        .unwrap();
    builder
        .add_file(
            "/usr/local/lib/python3.13/json/decoder.py",
            b"import re\n".repeat(40),
        )
        .unwrap();
    builder.add_file("/app/x", b"x".to_vec()).unwrap();
    builder.add_mount("/data").unwrap();
    builder.build(0).unwrap().0
}

/// A module as `pywasm inspect` expects one: a memory whose data holds the image, the C stack's
/// top as the first global, and a `pywasm.manifest` section listing the image's files.
fn module_with((image, files): &(Vec<u8>, Vec<FileDigest>)) -> Vec<u8> {
    use wasm_encoder::{
        ConstExpr, DataSection, GlobalSection, GlobalType, MemorySection, MemoryType, Module,
        ValType,
    };
    let mut module = Module::new();
    let mut memory = MemorySection::new();
    memory.memory(MemoryType {
        minimum: 2,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    module.section(&memory);
    let mut globals = GlobalSection::new();
    let global = GlobalType {
        val_type: ValType::I32,
        mutable: true,
        shared: false,
    };
    globals.global(global, &ConstExpr::i32_const(1024));
    module.section(&globals);
    let mut data = DataSection::new();
    data.active(0, &ConstExpr::i32_const(1024), image.iter().copied());
    module.section(&data);
    let mut bytes = module.finish();
    let pinned = Pinned {
        version: "1".into(),
        identity: "seed".into(),
        digest: "0".repeat(64),
    };
    let manifest = BuildManifest {
        format: describe::FORMAT,
        pywasm: "0.0.0".into(),
        project: Named {
            name: "seed".into(),
            version: "1.0".into(),
        },
        entry: "main:main".into(),
        library: None,
        python: pinned.clone(),
        toolchain: pinned,
        source_date_epoch: 315_532_800,
        output: Output::default(),
        distributions: Vec::new(),
        extensions: Vec::new(),
        files: files.clone(),
    };
    describe::embed(&mut bytes, &manifest).unwrap();
    bytes
}
