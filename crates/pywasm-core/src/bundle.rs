//! Builds the image of the read-only file system that `templates/embedfs.c` serves inside the
//! module.
//!
//! Layout (little-endian, offsets from the start of the image):
//!
//! ```text
//! header   magic "PYWFS\0\2\0", node_count u32, mount_count u32, nodes_offset u32,
//!          mounts_offset u32, names_offset u32, reserved u32, data_offset u64, mtime_ns u64
//! nodes    node_count × {name_offset u32, name_len u32, parent u32, kind u32 (0 file, 1 dir,
//!          2 dropped: set inside the module, see below, 3 file stored as raw DEFLATE),
//!          first_child u32, child_count u32, data_offset u64, size u64, stored_size u64}
//! mounts   mount_count × {path_offset u32, path_len u32, node u32, reserved u32}
//! names    NUL-terminated names
//! data     file contents (`stored_size` bytes each), each 8-byte aligned
//! ```
//!
//! Node 0 is the root. Nodes are in breadth-first order so that every directory's children are
//! contiguous and sorted by name: a lookup is a binary search per path component, and nothing
//! is unpacked when the module starts. The output depends only on the paths and contents given:
//! entries are sorted and the one timestamp is the source date.
//!
//! Pre-initialisation drops the `.pyc` of every module it imported (`pywasm_embedfs_drop` in
//! embedfs.c): the file's bytes are zeroed and its kind becomes 2, so the snapshot keeps it
//! once, as live objects, instead of twice.
//!
//! A file is stored compressed (kind 3, raw DEFLATE, `templates/inflate.c` inflates it when it is
//! opened) when that saves at least an eighth of it: most of an image is bytecode that a run
//! never reads, and compressed it costs the module and its linear memory 40% of its size.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};

use anyhow::{Result, bail};
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;

pub const MAGIC: &[u8; 8] = b"PYWFS\0\x02\0";
const HEADER_SIZE: usize = 48;
const NODE_SIZE: usize = 48;
const MOUNT_SIZE: usize = 16;

/// A tree of embedded files keyed by absolute guest path.
#[derive(Debug, Default)]
pub struct ImageBuilder {
    files: BTreeMap<String, Vec<u8>>,
    mounts: Vec<String>,
}

#[derive(Debug, Default)]
struct Dir {
    dirs: BTreeMap<String, Dir>,
    files: BTreeMap<String, usize>,
}

#[derive(Clone, Copy, Default)]
struct Node {
    name_offset: u32,
    name_len: u32,
    parent: u32,
    kind: u32,
    first_child: u32,
    child_count: u32,
    data_offset: u64,
    size: u64,
    stored_size: u64,
}

const KIND_DIR: u32 = 1;
const KIND_DROPPED: u32 = 2;
const KIND_DEFLATED: u32 = 3;

/// Files smaller than this are stored as they are: DEFLATE's block headers eat the gain.
const COMPRESS_FROM: usize = 128;

enum Pending<'a> {
    Dir(&'a Dir),
    File(usize),
}

/// What went into an image, for status lines and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageStats {
    pub files: usize,
    pub dirs: usize,
    /// The files' own sizes.
    pub bytes: usize,
    /// Of those files, how many are stored compressed.
    pub compressed: usize,
}

impl ImageBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file at `guest`, an absolute `/`-separated path without `.` or `..` parts.
    pub fn add_file(&mut self, guest: &str, contents: Vec<u8>) -> Result<()> {
        check_path(guest)?;
        if self.files.insert(guest.to_string(), contents).is_some() {
            bail!("`{guest}` was added to the bundle twice");
        }
        Ok(())
    }

    /// Every file's path, size and sha256, for the module's build manifest.
    pub fn digests(&self) -> Vec<crate::describe::FileDigest> {
        self.files
            .iter()
            .map(|(path, bytes)| crate::describe::FileDigest {
                path: path.clone(),
                size: bytes.len() as u64,
                sha256: crate::fsutil::sha256_hex(bytes),
            })
            .collect()
    }

    /// Makes `guest` (a directory in the image) visible at that same absolute path.
    pub fn add_mount(&mut self, guest: &str) -> Result<()> {
        check_path(guest)?;
        self.mounts.push(guest.to_string());
        Ok(())
    }

    pub fn build(self, mtime_secs: u64) -> Result<(Vec<u8>, ImageStats)> {
        let mut root = Dir::default();
        let contents: Vec<&Vec<u8>> = self.files.values().collect();
        let stored = deflate_all(&contents)?;
        for (index, path) in self.files.keys().enumerate() {
            insert(&mut root, path, index)?;
        }
        for mount in &self.mounts {
            insert_dir(&mut root, mount)?;
        }

        // Breadth-first: reserve each directory's children as one contiguous run of indices.
        let mut nodes: Vec<Node> = vec![Node::default()];
        let mut names: Vec<u8> = vec![0];
        let mut data: Vec<u8> = Vec::new();
        let mut paths: BTreeMap<String, u32> = BTreeMap::new();
        let mut queue: VecDeque<(u32, Pending, String)> = VecDeque::new();
        queue.push_back((0, Pending::Dir(&root), String::new()));
        let mut stats = ImageStats {
            files: 0,
            dirs: 0,
            bytes: 0,
            compressed: 0,
        };
        while let Some((index, pending, path)) = queue.pop_front() {
            paths.insert(
                if path.is_empty() {
                    "/".into()
                } else {
                    path.clone()
                },
                index,
            );
            match pending {
                Pending::Dir(dir) => {
                    stats.dirs += 1;
                    let mut children: Vec<(&String, Pending)> = dir
                        .dirs
                        .iter()
                        .map(|(n, d)| (n, Pending::Dir(d)))
                        .chain(dir.files.iter().map(|(n, f)| (n, Pending::File(*f))))
                        .collect();
                    children.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                    let first_child = u32::try_from(nodes.len())?;
                    let dir_node = &mut nodes[index as usize];
                    dir_node.kind = KIND_DIR;
                    dir_node.first_child = first_child;
                    dir_node.child_count = u32::try_from(children.len())?;
                    for (name, child) in children {
                        let child_index = u32::try_from(nodes.len())?;
                        nodes.push(Node {
                            name_offset: u32::try_from(names.len())?,
                            name_len: u32::try_from(name.len())?,
                            parent: index,
                            ..Node::default()
                        });
                        names.extend_from_slice(name.as_bytes());
                        names.push(0);
                        queue.push_back((child_index, child, format!("{path}/{name}")));
                    }
                }
                Pending::File(file) => {
                    stats.files += 1;
                    let bytes = contents[file];
                    data.resize(data.len().next_multiple_of(8), 0);
                    let node = &mut nodes[index as usize];
                    node.data_offset = data.len() as u64;
                    node.size = bytes.len() as u64;
                    stats.bytes += bytes.len();
                    match &stored[file] {
                        Some(smaller) => {
                            node.kind = KIND_DEFLATED;
                            node.stored_size = smaller.len() as u64;
                            stats.compressed += 1;
                            data.extend_from_slice(smaller);
                        }
                        None => {
                            node.stored_size = bytes.len() as u64;
                            data.extend_from_slice(bytes);
                        }
                    }
                }
            }
        }

        let mut mounts = Vec::new();
        for mount in &self.mounts {
            let node = paths[mount.as_str()];
            mounts.push((names.len() as u32, mount.len() as u32, node));
            names.extend_from_slice(mount.as_bytes());
            names.push(0);
        }

        let nodes_offset = HEADER_SIZE;
        let mounts_offset = nodes_offset + nodes.len() * NODE_SIZE;
        let names_offset = mounts_offset + mounts.len() * MOUNT_SIZE;
        let data_offset = (names_offset + names.len()).next_multiple_of(16);
        let mut out = Vec::with_capacity(data_offset + data.len());
        out.extend_from_slice(MAGIC);
        for v in [
            nodes.len(),
            mounts.len(),
            nodes_offset,
            mounts_offset,
            names_offset,
            0,
        ] {
            out.extend_from_slice(&u32::try_from(v)?.to_le_bytes());
        }
        out.extend_from_slice(&(data_offset as u64).to_le_bytes());
        out.extend_from_slice(&mtime_secs.saturating_mul(1_000_000_000).to_le_bytes());
        for n in &nodes {
            for v in [
                n.name_offset,
                n.name_len,
                n.parent,
                n.kind,
                n.first_child,
                n.child_count,
            ] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            for v in [n.data_offset, n.size, n.stored_size] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        for (offset, len, node) in mounts {
            for v in [offset, len, node, 0] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out.extend_from_slice(&names);
        out.resize(data_offset, 0);
        out.extend_from_slice(&data);
        Ok((out, stats))
    }
}

/// [`deflated`] of each file, on every core: level 9 is most of the time an image takes.
fn deflate_all(contents: &[&Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = contents.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = contents
            .chunks(chunk)
            .map(|files| scope.spawn(move || files.iter().map(|f| deflated(f)).collect::<Vec<_>>()))
            .collect();
        let mut stored = Vec::with_capacity(contents.len());
        for worker in workers {
            let done = worker
                .join()
                .map_err(|_| anyhow::anyhow!("a compression thread panicked"))?;
            for file in done {
                stored.push(file?);
            }
        }
        Ok(stored)
    })
}

/// `bytes` as raw DEFLATE, as the image stores it, when that is at least an eighth smaller. Level 9 of miniz_oxide, whose
/// output depends only on its input, so images stay reproducible.
pub fn deflated(bytes: &[u8]) -> Result<Option<Vec<u8>>> {
    if bytes.len() < COMPRESS_FROM {
        return Ok(None);
    }
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes)?;
    let smaller = encoder.finish()?;
    Ok((smaller.len() <= bytes.len() - bytes.len() / 8).then_some(smaller))
}

/// One file read back from an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFile<'a> {
    pub path: String,
    /// `None` for a file dropped at pre-initialisation: only the snapshot holds what it was.
    /// Inflated when the image stores it compressed.
    pub contents: Option<Cow<'a, [u8]>>,
}

/// Finds an image inside `haystack` (a module's data) by its magic and reads its files back, for
/// `pywasm inspect --verify`. Every offset is bounds-checked: the bytes may be tampered with.
pub fn read_image(haystack: &[u8]) -> Result<Vec<ImageFile<'_>>> {
    let Some(start) = haystack.windows(MAGIC.len()).position(|w| w == MAGIC) else {
        bail!("the module holds no pywasm file system image");
    };
    let image = &haystack[start..];
    let u32_at = |at: usize| -> Result<usize> {
        let bytes = image
            .get(at..at + 4)
            .ok_or_else(|| anyhow::anyhow!("the image is truncated"))?;
        Ok(u32::from_le_bytes(bytes.try_into()?) as usize)
    };
    let u64_at = |at: usize| -> Result<usize> {
        let bytes = image
            .get(at..at + 8)
            .ok_or_else(|| anyhow::anyhow!("the image is truncated"))?;
        Ok(usize::try_from(u64::from_le_bytes(bytes.try_into()?))?)
    };
    let (node_count, nodes_offset) = (u32_at(8)?, u32_at(16)?);
    let (names_offset, data_offset) = (u32_at(24)?, u64_at(32)?);
    let name_of = |node: usize| -> Result<String> {
        let base = nodes_offset + node * NODE_SIZE;
        let (offset, len) = (u32_at(base)?, u32_at(base + 4)?);
        let at = names_offset + offset;
        let bytes = image
            .get(at..at + len)
            .ok_or_else(|| anyhow::anyhow!("a name is out of bounds"))?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    };
    let mut paths: Vec<String> = vec![String::new(); node_count];
    let mut files = Vec::new();
    for node in 1..node_count {
        let base = nodes_offset + node * NODE_SIZE;
        let parent = u32_at(base + 8)?;
        if parent >= node {
            bail!("the image's node {node} has a bad parent");
        }
        paths[node] = format!("{}/{}", paths[parent], name_of(node)?);
        let kind = u32_at(base + 12)?;
        if kind == KIND_DROPPED as usize {
            files.push(ImageFile {
                path: paths[node].clone(),
                contents: None,
            });
        } else if kind != KIND_DIR as usize {
            let (offset, size) = (u64_at(base + 24)?, u64_at(base + 32)?);
            let stored_size = u64_at(base + 40)?;
            let out_of_bounds = || anyhow::anyhow!("`{}` is out of bounds", paths[node]);
            let at = data_offset.checked_add(offset).ok_or_else(out_of_bounds)?;
            let stored = image
                .get(at..at.saturating_add(stored_size))
                .ok_or_else(out_of_bounds)?;
            let contents = if kind == KIND_DEFLATED as usize {
                // A stream that does not inflate to its size was tampered with: its stored
                // bytes then stand for it, and their digest names the file as changed.
                inflated(stored, size).map_or(Cow::Borrowed(stored), Cow::Owned)
            } else if stored_size == size {
                Cow::Borrowed(stored)
            } else {
                bail!("`{}` has a stored size unlike its size", paths[node]);
            };
            files.push(ImageFile {
                path: paths[node].clone(),
                contents: Some(contents),
            });
        }
    }
    Ok(files)
}

/// Inflates `stored` (raw DEFLATE), which must give exactly `size` bytes; reads no more than that
/// whatever the data says, since a tampered module could claim anything.
fn inflated(stored: &[u8], size: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(size.min(64 << 20));
    DeflateDecoder::new(stored)
        .take(size as u64 + 1)
        .read_to_end(&mut out)?;
    if out.len() != size {
        bail!("it inflates to {} bytes instead of {size}", out.len());
    }
    Ok(out)
}

fn check_path(guest: &str) -> Result<()> {
    let ok = guest.starts_with('/')
        && guest.len() > 1
        && !guest.contains('\0')
        && guest[1..]
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if !ok {
        bail!("`{guest}` is not a clean absolute path for the bundle");
    }
    Ok(())
}

fn insert(root: &mut Dir, path: &str, index: usize) -> Result<()> {
    let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
    let dir = insert_dir(root, parent)?;
    if dir.dirs.contains_key(name) {
        bail!("`{path}` is both a file and a directory in the bundle");
    }
    dir.files.insert(name.to_string(), index);
    Ok(())
}

fn insert_dir<'a>(root: &'a mut Dir, path: &str) -> Result<&'a mut Dir> {
    let mut dir = root;
    let mut so_far = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        so_far.push('/');
        so_far.push_str(part);
        if dir.files.contains_key(part) {
            bail!("`{so_far}` is both a file and a directory in the bundle");
        }
        dir = dir.dirs.entry(part.to_string()).or_default();
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
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
}
