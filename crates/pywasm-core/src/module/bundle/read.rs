//! Reading an image back out of a built module, for `pywasm inspect --verify`.

use std::borrow::Cow;

use anyhow::{Result, bail};

use super::deflate::inflated;
use super::{HEADER, KIND_DEFLATED, KIND_DIR, KIND_DROPPED, MAGIC, NODE, NODE_SIZE, field};

/// One file read back from an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFile<'a> {
    pub path: String,
    /// `None` for a file dropped at pre-initialisation: only the snapshot holds what it was.
    /// Inflated when the image stores it compressed.
    pub contents: Option<Cow<'a, [u8]>>,
}

/// The longest path an image may hold: Linux's `PATH_MAX`; pywasm writes none near it.
const MAX_PATH: usize = 4096;

/// Finds an image inside `haystack` (a module's data) by its magic and reads its files back, for
/// `pywasm inspect --verify`. Every offset is bounds-checked: the bytes may be tampered with.
pub fn read_image(haystack: &[u8]) -> Result<Vec<ImageFile<'_>>> {
    let Some(start) = haystack.windows(MAGIC.len()).position(|w| w == MAGIC) else {
        bail!("the module holds no pywasm file system image");
    };
    let image = &haystack[start..];
    // The field `name` of struct `index` of the layout, in the struct at `base`.
    let value = |base: usize, index: usize, name: &str| -> Result<usize> {
        let (offset, size) = field(index, name);
        let from = base.checked_add(offset);
        let bytes = from
            .and_then(|from| image.get(from..from.checked_add(size)?))
            .ok_or_else(|| anyhow::anyhow!("the image is truncated"))?;
        let mut le = [0u8; 8];
        le[..size].copy_from_slice(bytes);
        Ok(usize::try_from(u64::from_le_bytes(le))?)
    };
    let header = |name: &str| value(0, HEADER, name);
    let (node_count, nodes_offset) = (header("node_count")?, header("nodes_offset")?);
    let (names_offset, data_offset) = (header("names_offset")?, header("data_offset")?);
    // Every node must lie inside the image before anything is allocated for them: the count is
    // read from the bytes, which may claim billions.
    let table_end = node_count
        .checked_mul(NODE_SIZE)
        .and_then(|size| size.checked_add(nodes_offset));
    if table_end.is_none_or(|end| end > image.len()) {
        bail!("the image's node table is out of bounds");
    }
    let node_field = |node: usize, name: &str| value(nodes_offset + node * NODE_SIZE, NODE, name);
    let name_of = |node: usize| -> Result<String> {
        let (offset, len) = (
            node_field(node, "name_offset")?,
            node_field(node, "name_len")?,
        );
        let at = names_offset.checked_add(offset);
        let bytes = at
            .and_then(|at| image.get(at..at.checked_add(len)?))
            .ok_or_else(|| anyhow::anyhow!("a name is out of bounds"))?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    };
    let mut paths: Vec<String> = vec![String::new(); node_count];
    let mut files = Vec::new();
    for node in 1..node_count {
        let parent = node_field(node, "parent")?;
        if parent >= node {
            bail!("the image's node {node} has a bad parent");
        }
        paths[node] = format!("{}/{}", paths[parent], name_of(node)?);
        // Nodes may share their names' bytes, so paths could otherwise grow with the square of
        // the image's size.
        if paths[node].len() > MAX_PATH {
            bail!("the image's node {node} has a path longer than {MAX_PATH} bytes");
        }
        let kind = node_field(node, "kind")?;
        if kind == KIND_DROPPED as usize {
            files.push(ImageFile {
                path: paths[node].clone(),
                contents: None,
            });
        } else if kind != KIND_DIR as usize {
            let (offset, size) = (node_field(node, "data_offset")?, node_field(node, "size")?);
            let stored_size = node_field(node, "stored_size")?;
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
