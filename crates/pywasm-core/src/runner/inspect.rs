//! `pywasm inspect`: what a module says it contains (its `pywasm.manifest` section), and with
//! `--verify`, whether that is still true: every embedded file re-hashed against the manifest,
//! and the module against the `<module>.sha256` written beside it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::diagnostic::Diagnostic;
use crate::fsutil;
use crate::module::bundle;
use crate::module::describe::{self, BuildManifest};
use crate::shell::human_size;
use crate::size::size_text;

#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub manifest: BuildManifest,
    /// The linear memory a host must grant, and the C stack's share of it.
    pub memory: Option<describe::MemoryLayout>,
    /// Present with `--verify`.
    pub verification: Option<Verification>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    pub files_checked: usize,
    /// Files whose bytes pre-initialisation dropped (their modules live in the snapshot): listed
    /// in the manifest, not re-hashable.
    pub files_in_snapshot: usize,
    /// Whether a `.sha256` file was there to check the module against.
    pub checksum_checked: bool,
    pub problems: Vec<String>,
}

/// What `pywasm inspect` reads at most unless `--max-size` says otherwise: 40 times the largest
/// module the examples build.
pub const DEFAULT_MAX_SIZE: u64 = 1 << 30;

/// Reads `path` (at most `max_size` bytes) and its manifest; with `verify`, checks both.
pub fn inspect(path: &Path, verify: bool, max_size: u64) -> Result<Inspection> {
    let bytes = read_bounded(path, max_size)?;
    let Some(manifest) = describe::read(&bytes)
        .with_context(|| format!("`{}` is not a module pywasm can read", path.display()))?
    else {
        bail!(
            "`{}` has no `{}` section: it was not built by pywasm, or the section was stripped",
            path.display(),
            describe::SECTION
        );
    };
    let sha256 = fsutil::sha256_hex(&bytes);
    let memory = describe::memory_layout(&bytes)
        .with_context(|| format!("cannot read the memory of `{}`", path.display()))?;
    let verification = if verify {
        Some(check(path, &bytes, &sha256, &manifest, max_size)?)
    } else {
        None
    };
    Ok(Inspection {
        path: path.to_path_buf(),
        size: bytes.len() as u64,
        sha256,
        manifest,
        memory,
        verification,
    })
}

/// The file's bytes, refusing it once it passes `max_size`: the size the file system reports is
/// checked first, and the read stops one byte past the limit (a pipe, `/dev/zero` or a file
/// still growing report none, or less).
fn read_bounded(path: &Path, max_size: u64) -> Result<Vec<u8>> {
    let too_big = || -> anyhow::Error {
        Diagnostic::new(format!(
            "`{}` is larger than {}, the most `pywasm inspect` reads",
            path.display(),
            size_text(max_size)
        ))
        .help("if it is a module you expect to be this large, pass `--max-size` with its size, for instance `--max-size 4G`")
        .into()
    };
    let file = fs_err::File::open(path)?;
    if file.metadata()?.len() > max_size {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    let mut limited = std::io::Read::take(file, max_size.saturating_add(1));
    std::io::Read::read_to_end(&mut limited, &mut bytes)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    if bytes.len() as u64 > max_size {
        return Err(too_big());
    }
    Ok(bytes)
}

fn check(
    path: &Path,
    bytes: &[u8],
    sha256: &str,
    manifest: &BuildManifest,
    max_size: u64,
) -> Result<Verification> {
    let mut problems = Vec::new();
    let memories = describe::initial_memories(bytes, max_size)?;
    // The magic also appears in the code that checks it, so every occurrence is tried.
    let image = memories
        .iter()
        .flat_map(|memory| {
            memory
                .windows(bundle::MAGIC.len())
                .enumerate()
                .filter(|(_, w)| *w == bundle::MAGIC)
                .map(move |(at, _)| &memory[at..])
        })
        .find_map(|rest| bundle::read_image(rest).ok())
        .context("the module's data holds no readable pywasm file system image")?;
    let embedded: BTreeMap<&str, Option<&[u8]>> = image
        .iter()
        .map(|f| (f.path.as_str(), f.contents.as_deref()))
        .collect();
    let mut files_in_snapshot = 0;
    for file in &manifest.files {
        match embedded.get(file.path.as_str()) {
            None => problems.push(format!(
                "`{}` is in the manifest but not in the module",
                file.path
            )),
            Some(None) if manifest.output.preinit && file.path.ends_with(".pyc") => {
                files_in_snapshot += 1;
            }
            Some(None) => problems.push(format!(
                "`{}` was dropped from the image, which only pre-initialisation does, to bytecode",
                file.path
            )),
            Some(Some(contents)) => {
                let got = fsutil::sha256_hex(contents);
                if got != file.sha256 {
                    problems.push(format!(
                        "`{}` was changed: sha256 {got}, the manifest says {}",
                        file.path, file.sha256
                    ));
                }
            }
        }
    }
    let listed: std::collections::BTreeSet<&str> =
        manifest.files.iter().map(|f| f.path.as_str()).collect();
    for path in embedded.keys().filter(|p| !listed.contains(*p)) {
        problems.push(format!("`{path}` is in the module but not in its manifest"));
    }
    let checksum_path = PathBuf::from(format!("{}.sha256", path.display()));
    let checksum_checked = checksum_path.is_file();
    if checksum_checked {
        let text = fs_err::read_to_string(&checksum_path)?;
        let expected = text.split_whitespace().next().unwrap_or_default();
        if expected != sha256 {
            problems.push(format!(
                "the module's sha256 is {sha256}, `{}` says {expected}",
                checksum_path.display()
            ));
        }
    }
    Ok(Verification {
        files_checked: manifest.files.len() - files_in_snapshot,
        files_in_snapshot,
        checksum_checked,
        problems,
    })
}

impl Inspection {
    /// A human summary; `files` adds every embedded file.
    pub fn table(&self, files: bool) -> String {
        let m = &self.manifest;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "module       {} ({}, sha256 {})",
            self.path.display(),
            human_size(self.size),
            self.sha256
        );
        let _ = writeln!(out, "project      {} {}", m.project.name, m.project.version);
        let _ = writeln!(out, "entry        {}", m.entry);
        if let Some(library) = &m.library {
            let _ = writeln!(
                out,
                "abi          pywasm library ABI {} (docs/abi.md)",
                library.abi
            );
            for (name, target) in &library.exports {
                let _ = writeln!(out, "export       {name} -> {target}");
            }
            for (import, name) in &library.imports {
                let _ = writeln!(out, "import       {import} (pywasm.host.{name})");
            }
        }
        let _ = writeln!(out, "built by     pywasm {}", m.pywasm);
        let _ = writeln!(
            out,
            "python       {} ({})",
            m.python.version, m.python.identity
        );
        let _ = writeln!(out, "toolchain    {}", m.toolchain.identity);
        let _ = writeln!(out, "source date  {}", m.source_date_epoch);
        let _ = writeln!(
            out,
            "output       optimize = {}, {}, {}{}",
            if m.output.optimize.is_empty() {
                "?"
            } else {
                &m.output.optimize
            },
            if m.output.debug {
                "names kept"
            } else {
                "stripped"
            },
            match &m.output.component_adapter {
                Some(adapter) => format!("WASI 0.2 component (adapter sha256 {})", short(adapter)),
                None => "core module".to_string(),
            },
            if m.output.preinit {
                ", pre-initialised"
            } else {
                ""
            }
        );
        if let Some(memory) = &self.memory {
            let _ = writeln!(
                out,
                "memory       {} pages at start ({}), {} of it the C stack",
                memory.initial_pages,
                human_size(memory.initial_pages * 65536),
                human_size(memory.stack_top)
            );
        }
        let total: u64 = m.files.iter().map(|f| f.size).sum();
        let _ = writeln!(
            out,
            "files        {} ({})",
            m.files.len(),
            human_size(total)
        );
        if !m.distributions.is_empty() {
            out.push_str("\ndistributions\n");
            for d in &m.distributions {
                let _ = writeln!(
                    out,
                    "  {:<24} {:<12} {:<6} {}",
                    d.name,
                    d.version,
                    d.kind,
                    short(&d.sha256)
                );
            }
        }
        if !m.extensions.is_empty() {
            out.push_str("\nextension modules\n");
            for e in &m.extensions {
                let _ = writeln!(out, "  {:<32} {:<28} {}", e.name, e.init, e.distribution);
            }
        }
        if files {
            out.push_str("\nfiles\n");
            for f in &m.files {
                let _ = writeln!(out, "  {} {:>10}  {}", short(&f.sha256), f.size, f.path);
            }
        }
        if let Some(v) = &self.verification {
            out.push('\n');
            let checksum = if v.checksum_checked {
                "and the module against its .sha256"
            } else {
                "(no .sha256 beside the module)"
            };
            if v.problems.is_empty() {
                let _ = writeln!(
                    out,
                    "verified     {} files against the manifest {checksum}",
                    v.files_checked
                );
                if v.files_in_snapshot > 0 {
                    let _ = writeln!(
                        out,
                        "             {} more are bytecode that only the pre-initialised snapshot \
                         holds (dropped from the image)",
                        v.files_in_snapshot
                    );
                }
            } else {
                let _ = writeln!(out, "FAILED       {} problems:", v.problems.len());
                for p in v.problems.iter().take(20) {
                    let _ = writeln!(out, "  {p}");
                }
            }
        }
        out
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).context("failed to render the inspection as JSON")
    }

    /// Whether `--verify` found the module as its manifest describes it.
    pub fn verified(&self) -> bool {
        self.verification
            .as_ref()
            .is_none_or(|v| v.problems.is_empty())
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}
