//! Bounds on what an archive may unpack to. A wheel is untrusted input (any index, any mirror),
//! and a zip bomb, a member that claims 10 bytes and inflates to 10 GiB, or a million empty
//! members must stop with an error that names the member and the limit, after reading at most
//! one limit's worth, before memory or the disk fill up. The SDK's archives are checked against
//! their pinned sha256 before they are unpacked, so their limits are a generous backstop.

use std::cell::Cell;
use std::fmt;
use std::io::{self, Read, Write};

use serde::Serialize;

use crate::size::size_text;

/// The four bounds of one archive. Sizes are bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ArchiveLimits {
    /// What one member may unpack to.
    #[serde(serialize_with = "crate::size::serialize_size")]
    pub member_size: u64,
    /// What all members together may unpack to.
    #[serde(serialize_with = "crate::size::serialize_size")]
    pub total_size: u64,
    /// How many members the archive may hold.
    pub members: u64,
    /// How many times its stored (compressed) size a member may unpack to, once it is past
    /// [`RATIO_FLOOR`]: deflate cannot go past about 1 032, and honest files rarely pass 20.
    pub ratio: u64,
}

/// Members (for a tar stream: the whole archive) smaller than this are not held to the ratio:
/// a small file of one repeated byte is honest.
pub const RATIO_FLOOR: u64 = 1 << 20;

impl ArchiveLimits {
    /// For wheels, `[tool.pywasm] wheel-limits`' defaults: far above the wheels the tests use
    /// (pydantic-core's WASI wheel unpacks to 7.5 MB with a ratio of 3.6 at most; pip's holds
    /// 524 members).
    pub const WHEEL: ArchiveLimits = ArchiveLimits {
        member_size: 256 << 20,
        total_size: 1 << 30,
        members: 65_536,
        ratio: 100,
    };

    /// For the SDK's pinned archives (zig, CPython's sources, binaryen, wasmtime): several
    /// times the largest of them.
    pub const SDK: ArchiveLimits = ArchiveLimits {
        member_size: 1 << 30,
        total_size: 8 << 30,
        members: 1_000_000,
        ratio: 1_000,
    };
}

/// Which bound an archive passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceeded {
    MemberSize(u64),
    TotalSize(u64),
    Members(u64),
    Ratio(u64),
}

impl Exceeded {
    /// The key of `[tool.pywasm] wheel-limits` that raises this bound.
    pub fn key(self) -> &'static str {
        match self {
            Exceeded::MemberSize(_) => "member-size",
            Exceeded::TotalSize(_) => "total-size",
            Exceeded::Members(_) => "members",
            Exceeded::Ratio(_) => "ratio",
        }
    }
}

impl fmt::Display for Exceeded {
    /// A phrase about the member that passed the bound.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Exceeded::MemberSize(n) => write!(
                f,
                "unpacks to more than {}, the limit on one member (`member-size`)",
                size_text(n)
            ),
            Exceeded::TotalSize(n) => write!(
                f,
                "takes the archive's unpacked size past {}, the limit on all members together \
                 (`total-size`)",
                size_text(n)
            ),
            Exceeded::Members(n) => {
                write!(f, "is past the {n} members an archive may hold (`members`)")
            }
            Exceeded::Ratio(n) => write!(
                f,
                "unpacks to more than {n} times its compressed size (`ratio`), as a zip bomb does"
            ),
        }
    }
}

/// Why a copy stopped.
#[derive(Debug)]
pub enum Stop {
    Io(io::Error),
    Limit(Exceeded),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        Stop::Io(e)
    }
}

/// What a member's unpacked size is compared with for the ratio.
#[derive(Clone, Copy)]
pub enum Stored<'a> {
    /// The member's own compressed size (zip).
    Member(u64),
    /// The bytes of the compressed stream read so far, against the archive's unpacked total
    /// (tar inside gzip or xz, where members have no compressed size of their own).
    Stream(&'a Cell<u64>),
}

/// The running counts of one pass over an archive.
#[derive(Debug)]
pub struct Budget {
    limits: ArchiveLimits,
    members: u64,
    total: u64,
}

impl Budget {
    pub fn new(limits: ArchiveLimits) -> Budget {
        Budget {
            limits,
            members: 0,
            total: 0,
        }
    }

    /// Checks an archive's member count before anything is read.
    pub fn check_count(&self, members: u64) -> Result<(), Exceeded> {
        if members > self.limits.members {
            return Err(Exceeded::Members(self.limits.members));
        }
        Ok(())
    }

    /// Counts one more member of a stream whose count is not known up front.
    pub fn count_member(&mut self) -> Result<(), Exceeded> {
        self.members += 1;
        self.check_count(self.members)
    }

    /// Checks a member's declared size, so that a member declaring too much fails before it is
    /// read; the declaration is untrusted, so [`Budget::copy`] checks what is actually read too.
    pub fn check_declared(&self, size: u64) -> Result<(), Exceeded> {
        if size > self.limits.member_size {
            return Err(Exceeded::MemberSize(self.limits.member_size));
        }
        Ok(())
    }

    /// Copies one member from `reader` to `out`, stopping at the first bound it passes: at most
    /// one chunk past the bound is ever read.
    pub fn copy(
        &mut self,
        reader: &mut impl Read,
        stored: Stored<'_>,
        out: &mut impl Write,
    ) -> Result<u64, Stop> {
        let mut chunk = vec![0u8; 64 << 10];
        let mut member = 0u64;
        loop {
            let n = match reader.read(&mut chunk) {
                Ok(0) => return Ok(member),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Stop::Io(e)),
            };
            member += n as u64;
            self.total += n as u64;
            self.check(member, stored).map_err(Stop::Limit)?;
            out.write_all(&chunk[..n])?;
        }
    }

    fn check(&self, member: u64, stored: Stored<'_>) -> Result<(), Exceeded> {
        let limits = &self.limits;
        if member > limits.member_size {
            return Err(Exceeded::MemberSize(limits.member_size));
        }
        if self.total > limits.total_size {
            return Err(Exceeded::TotalSize(limits.total_size));
        }
        let (unpacked, compressed) = match stored {
            Stored::Member(compressed) => (member, compressed),
            Stored::Stream(read) => (self.total, read.get()),
        };
        if unpacked > RATIO_FLOOR && unpacked / compressed.max(1) > limits.ratio {
            return Err(Exceeded::Ratio(limits.ratio));
        }
        Ok(())
    }
}

/// A reader that counts the bytes read through it into a shared cell, for [`Stored::Stream`].
pub struct Counting<'a, R> {
    pub inner: R,
    pub count: &'a Cell<u64>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
