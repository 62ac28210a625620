//! `component = true`: the core module wrapped into a WASI 0.2 command component by
//! wit-component, with the preview1 command adapter that ships with wasmtime. The adapter comes
//! from the `wasi-preview1-component-adapter-provider` crate, so Cargo.lock pins it.
//!
//! The adapter's `proc_exit` can only say success or failure, so component builds link
//! `templates/exit_code.c`, which calls `wasi:cli/exit.exit-with-code` (WASI 0.2.12) for a
//! non-zero status; the module's `component-type` metadata (`templates/wasi-cli-exit.wit`) tells
//! wit-component what that import is.

use anyhow::{Context, Result};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
};
use wit_component::ComponentEncoder;

/// Identifies the adapter in the build manifest: its digest, since Cargo.lock holds the version.
pub fn adapter_sha256() -> String {
    crate::fsutil::sha256_hex(WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER)
}

/// The WIT of the exit import, embedded as the module's `component-type` metadata.
const EXIT_WIT: &str = include_str!("../../../templates/wasi-cli-exit.wit");

pub fn encode(module: &[u8]) -> Result<Vec<u8>> {
    let mut module = module.to_vec();
    if imports_exit_with_code(&module)? {
        embed_exit_metadata(&mut module)?;
    }
    ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .context("wit-component refused the core module")?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        )
        .context("wit-component refused the WASI preview1 command adapter")?
        .encode()
        .context("failed to encode the WASI component")
}

/// Whether the module was linked with `templates/exit_code.c` (`component-exit-codes`).
fn imports_exit_with_code(module: &[u8]) -> Result<bool> {
    let (module_name, name) = crate::module::postprocess::EXIT_WITH_CODE;
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        if let wasmparser::Payload::ImportSection(reader) = payload? {
            for import in reader {
                let import = import?;
                if (import.module, import.name) == (module_name, name) {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

fn embed_exit_metadata(module: &mut Vec<u8>) -> Result<()> {
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve
        .push_str("wasi-cli-exit.wit", EXIT_WIT)
        .context("internal error: templates/wasi-cli-exit.wit does not parse")?;
    let world = resolve.select_world(&[package], Some("pywasm-exit-code"))?;
    wit_component::embed_component_metadata(
        module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .context("failed to embed the component metadata of the exit import")
}
