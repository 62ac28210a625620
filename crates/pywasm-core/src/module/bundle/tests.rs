use std::borrow::Cow;
use std::io::Read;

use flate2::read::DeflateDecoder;

use super::deflate::COMPRESS_FROM;
use super::*;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// A reader written independently of the builder, following the layout in the module docs:
/// walks from the root by binary search like embedfs.c does.
fn read(image: &[u8], path: &str) -> Option<Vec<u8>> {
    let nodes = u32_at(image, 16) as usize;
    let names = u32_at(image, 24) as usize;
    let data = u64_at(image, 32) as usize;
    let node = |i: usize| nodes + i * NODE_SIZE;
    let name = |i: usize| {
        let at = node(i);
        let off = names + u32_at(image, at) as usize;
        &image[off..off + u32_at(image, at + 4) as usize]
    };
    let mut current = 0usize;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        let at = node(current);
        if u32_at(image, at + 12) != 1 {
            return None;
        }
        let first = u32_at(image, at + 16) as usize;
        let count = u32_at(image, at + 20) as usize;
        let kids: Vec<usize> = (first..first + count).collect();
        let found = kids
            .binary_search_by(|k| name(*k).cmp(part.as_bytes()))
            .ok()?;
        current = kids[found];
    }
    let at = node(current);
    let off = data + u64_at(image, at + 24) as usize;
    let stored = &image[off..off + u64_at(image, at + 40) as usize];
    if u32_at(image, at + 12) != 3 {
        return Some(stored.to_vec());
    }
    let mut out = Vec::new();
    DeflateDecoder::new(stored).read_to_end(&mut out).ok()?;
    assert_eq!(out.len() as u64, u64_at(image, at + 32));
    Some(out)
}

fn sample(order: &[(&str, &str)]) -> Vec<u8> {
    let mut b = ImageBuilder::new();
    for (path, text) in order {
        b.add_file(path, text.as_bytes().to_vec()).unwrap();
    }
    b.add_mount("/app").unwrap();
    b.add_mount("/usr/local/lib/python3.11").unwrap();
    b.build(1_700_000_000).unwrap().0
}

#[test]
fn images_read_back_from_inside_other_bytes() {
    let image = sample(&[("/app/a.py", "print(1)"), ("/app/pkg/b.txt", "bee")]);
    let mut module = b"some data segment".to_vec();
    module.extend_from_slice(&image);
    module.extend_from_slice(b"trailing");
    let files = read_image(&module).unwrap();
    let got: Vec<(&str, Option<&[u8]>)> = files
        .iter()
        .map(|f| (f.path.as_str(), f.contents.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("/app/a.py", Some(&b"print(1)"[..])),
            ("/app/pkg/b.txt", Some(&b"bee"[..]))
        ]
    );
    assert!(read_image(&image[..image.len() - 2]).is_err());
    assert!(read_image(b"no image here").is_err());
}

/// A file the module dropped at pre-initialisation (kind 2) reads back without contents.
#[test]
fn dropped_files_read_back_as_such() {
    let mut image = sample(&[("/app/a.py", "print(1)"), ("/app/b.pyc", "code")]);
    let nodes = u32_at(&image, 16) as usize;
    let count = u32_at(&image, 8) as usize;
    let names = u32_at(&image, 24) as usize;
    let b = (0..count)
        .find(|i| {
            let at = nodes + i * NODE_SIZE;
            let off = names + u32_at(&image, at) as usize;
            &image[off..off + u32_at(&image, at + 4) as usize] == b"b.pyc"
        })
        .unwrap();
    image[nodes + b * NODE_SIZE + 12..][..4].copy_from_slice(&KIND_DROPPED.to_le_bytes());
    let files = read_image(&image).unwrap();
    assert_eq!(files[0].contents.as_deref(), Some(&b"print(1)"[..]));
    assert_eq!(
        (files[1].path.as_str(), files[1].contents.as_deref()),
        ("/app/b.pyc", None)
    );
}

/// Files that compress by an eighth or more are stored as raw DEFLATE and read back whole;
/// small ones are stored as they are; a corrupt stream is an error.
#[test]
fn compressible_files_are_stored_deflated() {
    let text = "def f():\n    return 'pywasm'\n".repeat(200);
    let small = "x".repeat(COMPRESS_FROM - 1);
    let mut image = sample(&[("/app/big.py", &text), ("/app/small.txt", &small)]);
    assert!(image.len() < text.len(), "{} bytes", image.len());
    assert_eq!(read(&image, "/app/big.py").unwrap(), text.as_bytes());
    assert_eq!(read(&image, "/app/small.txt").unwrap(), small.as_bytes());
    let files = read_image(&image).unwrap();
    assert_eq!(files[0].contents.as_deref(), Some(text.as_bytes()));
    assert!(matches!(files[0].contents, Some(Cow::Owned(_))));
    assert!(matches!(files[1].contents, Some(Cow::Borrowed(_))));

    // The compressed file's data comes first: garbled, it reads back as something else.
    let data = u64_at(&image, 32) as usize;
    image[data + 2..data + 40].fill(0xff);
    let files = read_image(&image).unwrap();
    assert_ne!(files[0].contents.as_deref(), Some(text.as_bytes()));
}

#[test]
fn files_are_found_by_path() {
    let files = [
        ("/app/pkg/__init__.py", ""),
        ("/app/pkg/data.txt", "some data"),
        ("/app/pkg.txt", "x"),
        ("/usr/local/lib/python3.11/os.py", "import sys"),
    ];
    let image = sample(&files);
    assert_eq!(&image[..8], MAGIC);
    for (path, text) in files {
        assert_eq!(
            read(&image, path).as_deref(),
            Some(text.as_bytes()),
            "{path}"
        );
    }
    assert_eq!(read(&image, "/app/missing"), None);
    assert_eq!(u32_at(&image, 12), 2, "two mounts");
    assert_eq!(u64_at(&image, 40), 1_700_000_000_000_000_000);
}

/// The table that embedfs.c checks its structs against is the one the writer follows: every
/// header, node and mount field read through the table holds what the image says.
#[test]
fn the_writer_follows_the_layout_table() {
    let image = sample(&[("/app/a.py", "print(1)")]);
    let value = |base: usize, (offset, size): (usize, usize)| match size {
        4 => u64::from(u32_at(&image, base + offset)),
        8 => u64_at(&image, base + offset),
        _ => unreachable!(),
    };
    let header = |name| value(0, field(HEADER, name)) as usize;
    assert_eq!(&image[..8], MAGIC);
    assert_eq!(field(HEADER, "magic"), (0, 8));
    let (nodes, count) = (header("nodes_offset"), header("node_count"));
    let (mounts, mount_count) = (header("mounts_offset"), header("mount_count"));
    assert_eq!((nodes, mount_count), (HEADER_SIZE, 2));
    assert_eq!(mounts, nodes + count * NODE_SIZE);
    assert_eq!(header("names_offset"), mounts + mount_count * MOUNT_SIZE);
    assert_eq!(header("data_offset") % 16, 0);
    assert_eq!(header("mtime_ns"), 1_700_000_000_000_000_000);
    let node = |i: usize, name| value(nodes + i * NODE_SIZE, field(NODE, name));
    let file = (0..count)
        .find(|&i| node(i, "kind") == u64::from(KIND_FILE) && node(i, "size") == 8)
        .expect("a.py's node");
    assert_eq!(node(file, "stored_size"), 8);
    let parent = node(file, "parent") as usize;
    assert_eq!(node(parent, "kind"), u64::from(KIND_DIR));
    assert_eq!(node(parent, "child_count"), 1);
    assert_eq!(node(parent, "first_child") as usize, file);
    let mount = |i: usize, name| value(mounts + i * MOUNT_SIZE, field(MOUNT, name));
    assert_eq!(
        mount(0, "node") as usize,
        parent,
        "/app is mounted at its node"
    );
    assert_eq!(mount(0, "path_len"), 4);
}

#[test]
fn the_c_header_lists_every_field() {
    let header = c_header();
    for line in [
        "#define PYWASM_IMAGE_MAGIC \"PYWFS\\000\\002\\000\"",
        "#define PYWASM_NODE_DEFLATED 3u",
        "X(image_header, mtime_ns, 40, 8)",
        "X(image_node, stored_size, 40, 8)",
        "X(image_mount, reserved, 12, 4)",
        "X(image_header, 48)",
        "X(image_mount, 16)",
    ] {
        assert!(header.contains(line), "{line} missing from\n{header}");
    }
}

#[test]
fn output_does_not_depend_on_insertion_order() {
    let a = sample(&[("/app/b.py", "b"), ("/app/a.py", "a"), ("/app/z/y.py", "y")]);
    let b = sample(&[("/app/z/y.py", "y"), ("/app/a.py", "a"), ("/app/b.py", "b")]);
    assert_eq!(a, b);
}

#[test]
fn bad_paths_and_conflicts_are_refused() {
    let mut b = ImageBuilder::new();
    assert!(b.add_file("relative.py", vec![]).is_err());
    assert!(b.add_file("/app/../etc/passwd", vec![]).is_err());
    b.add_file("/app/x", vec![]).unwrap();
    assert!(b.add_file("/app/x", vec![]).is_err());
    b.add_file("/app/x/y", vec![]).unwrap();
    assert!(b.build(0).is_err());
}
