//! The build manifest embedded in every module: a `pywasm.manifest` custom section holding JSON
//! that says what went in (pywasm, CPython and SDK identities, the entry point, every
//! distribution, every embedded file with its sha256, the source date). `pywasm inspect` reads
//! it; `--verify` re-hashes the embedded files against it.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use wasm_encoder::{CustomSection, Encode};
use wasmparser::{Parser, Payload};

pub const SECTION: &str = "pywasm.manifest";
pub const FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildManifest {
    pub format: u32,
    pub pywasm: String,
    pub project: Named,
    pub entry: String,
    /// Set for a library module: the ABI it follows and what it exports and imports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<LibraryAbi>,
    pub python: Pinned,
    pub toolchain: Pinned,
    pub source_date_epoch: u64,
    /// How the linked module was post-processed.
    #[serde(default)]
    pub output: Output,
    pub distributions: Vec<Distribution>,
    pub extensions: Vec<Extension>,
    pub files: Vec<FileDigest>,
}

/// What a host needs to know to call a library module (docs/abi.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryAbi {
    /// The version of docs/abi.md.
    pub abi: u32,
    /// Export name -> `module:function`.
    pub exports: Vec<(String, String)>,
    /// Host import `module.name` -> the Python name (`pywasm.host.NAME`).
    pub imports: Vec<(String, String)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// `size`, `speed` or `none`.
    pub optimize: String,
    /// Whether names and debug information were kept (`--debug`).
    pub debug: bool,
    /// Whether the module was pre-initialised; its imported modules' bytecode is then dropped
    /// from the image (see bundle.rs).
    #[serde(default)]
    pub preinit: bool,
    /// The sha256 of the WASI preview1 command adapter when the module is wrapped into a
    /// component.
    pub component_adapter: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    pub name: String,
    pub version: String,
}

/// An SDK component: its identity (version and source) and content digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pinned {
    pub version: String,
    pub identity: String,
    pub digest: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distribution {
    pub name: String,
    pub version: String,
    /// `pure`, `wasi`, or `sdist` (built by pywasm without native modules).
    pub kind: String,
    /// The wheel's sha256, as in `pywasm.lock`; empty for wheels pywasm added itself.
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub name: String,
    pub init: String,
    pub distribution: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// Appends the manifest to `module` as a custom section (custom sections may follow any other
/// section, so nothing else in the module moves).
pub fn embed(module: &mut Vec<u8>, manifest: &BuildManifest) -> Result<()> {
    if read(module)?.is_some() {
        bail!("internal error: the module already has a `{SECTION}` section");
    }
    let json = serde_json::to_vec(manifest).context("failed to render the build manifest")?;
    let section = CustomSection {
        name: SECTION.into(),
        data: json.into(),
    };
    // A section is its id byte followed by its encoded body.
    module.push(0);
    section.encode(module);
    Ok(())
}

/// The manifest of a module built by pywasm, if it has one.
pub fn read(module: &[u8]) -> Result<Option<BuildManifest>> {
    for payload in Parser::new(0).parse_all(module) {
        if let Payload::CustomSection(reader) =
            payload.context("the file is not a WebAssembly module")?
            && reader.name() == SECTION
        {
            let manifest: BuildManifest =
                serde_json::from_slice(reader.data()).with_context(|| {
                    format!("the `{SECTION}` section is not a manifest pywasm can read")
                })?;
            if manifest.format != FORMAT {
                bail!(
                    "the module's manifest has format {}, this pywasm reads format {FORMAT}",
                    manifest.format
                );
            }
            return Ok(Some(manifest));
        }
    }
    Ok(None)
}

/// Every active and passive data segment's bytes, where the embedded image lives.
/// The initial contents of each core module's memory (one for a module; a component's own
/// module and its adapter for a component): every active data segment placed at its offset.
/// Pre-initialisation rewrites the data as a snapshot of the whole memory, split wherever the
/// snapshot has a run of zeros, so embedded data is looked for here, not in any one segment.
/// A memory whose data would reach past `limit` bytes is refused: a few bytes of segment offset
/// could otherwise ask for 4 GiB.
pub fn initial_memories(bytes: &[u8], limit: u64) -> Result<Vec<Vec<u8>>> {
    let mut memories: Vec<Vec<u8>> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload?;
        if let Payload::Version {
            encoding: wasmparser::Encoding::Module,
            ..
        } = payload
        {
            memories.push(Vec::new());
        }
        if let (Payload::DataSection(reader), Some(memory)) = (payload, memories.last_mut()) {
            for data in reader {
                let data = data?;
                let wasmparser::DataKind::Active { offset_expr, .. } = data.kind else {
                    continue;
                };
                let start = match offset_expr.get_operators_reader().read()? {
                    wasmparser::Operator::I32Const { value } => value as u32 as usize,
                    wasmparser::Operator::I64Const { value } => usize::try_from(value)?,
                    _ => anyhow::bail!("a data segment's offset is not a constant"),
                };
                let end = start
                    .checked_add(data.data.len())
                    .filter(|end| *end as u64 <= limit)
                    .with_context(|| {
                        format!(
                            "a data segment at {start} reaches past {}, the most read of a memory",
                            crate::size::size_text(limit)
                        )
                    })?;
                if memory.len() < end {
                    memory.resize(end, 0);
                }
                memory[start..end].copy_from_slice(data.data);
            }
        }
    }
    Ok(memories)
}

/// A core module's linear memory at instantiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MemoryLayout {
    /// The memory's minimum size, in 64 KiB pages: what a host must grant to instantiate it.
    pub initial_pages: u64,
    /// The initial `__stack_pointer` (the first global). pywasm modules put the stack first in
    /// memory, growing down towards address 0, so this is the stack's size.
    pub stack_top: u64,
}

/// The memory layout of the first core module in `bytes` (the module itself, or a component's
/// main module); `None` when it has no memory or no `i32.const` first global.
pub fn memory_layout(bytes: &[u8]) -> Result<Option<MemoryLayout>> {
    let (mut initial_pages, mut stack_top) = (None, None);
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::MemorySection(reader) if initial_pages.is_none() => {
                if let Some(memory) = reader.into_iter().next() {
                    initial_pages = Some(memory?.initial);
                }
            }
            Payload::GlobalSection(reader) if stack_top.is_none() => {
                if let Some(global) = reader.into_iter().next()
                    && let wasmparser::Operator::I32Const { value } =
                        global?.init_expr.get_operators_reader().read()?
                {
                    stack_top = Some(u64::from(value as u32));
                }
            }
            _ => {}
        }
        if initial_pages.is_some() && stack_top.is_some() {
            break;
        }
    }
    Ok(initial_pages
        .zip(stack_top)
        .map(|(initial_pages, stack_top)| MemoryLayout {
            initial_pages,
            stack_top,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> BuildManifest {
        let component = Pinned {
            version: "1".into(),
            identity: "x".into(),
            digest: "d".into(),
        };
        BuildManifest {
            format: FORMAT,
            pywasm: "0.1.0".into(),
            project: Named {
                name: "hello".into(),
                version: "1.0".into(),
            },
            entry: "hello.cli:main".into(),
            library: None,
            python: component.clone(),
            toolchain: component,
            source_date_epoch: 315_532_800,
            output: Output {
                optimize: "size".into(),
                debug: false,
                preinit: true,
                component_adapter: None,
            },
            distributions: vec![],
            extensions: vec![],
            files: vec![FileDigest {
                path: "/app/a.py".into(),
                size: 3,
                sha256: "ab".repeat(32),
            }],
        }
    }

    #[test]
    fn embedded_manifests_read_back_and_keep_the_module_valid() {
        let mut module = wasm_encoder::Module::new().finish();
        embed(&mut module, &manifest()).unwrap();
        wasmparser::Validator::new().validate_all(&module).unwrap();
        assert_eq!(read(&module).unwrap(), Some(manifest()));
        assert!(embed(&mut module, &manifest()).is_err());
        assert_eq!(read(&wasm_encoder::Module::new().finish()).unwrap(), None);
    }
}
