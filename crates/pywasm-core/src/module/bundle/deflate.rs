//! Compression of the image's files: raw DEFLATE, written reproducibly and read back without
//! trusting the sizes an image claims.

use std::io::{Read, Write};

use anyhow::{Result, bail};
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;

/// Files smaller than this are stored as they are: DEFLATE's block headers eat the gain.
pub(super) const COMPRESS_FROM: usize = 128;

/// [`deflated`] of each file, on every core: level 9 is most of the time an image takes.
pub(super) fn deflate_all(contents: &[&Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>> {
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

/// Inflates `stored` (raw DEFLATE), which must give exactly `size` bytes; reads no more than that
/// whatever the data says, since a tampered module could claim anything.
pub(super) fn inflated(stored: &[u8], size: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(size.min(64 << 20));
    DeflateDecoder::new(stored)
        .take((size as u64).saturating_add(1))
        .read_to_end(&mut out)?;
    if out.len() != size {
        bail!("it inflates to {} bytes instead of {size}", out.len());
    }
    Ok(out)
}
