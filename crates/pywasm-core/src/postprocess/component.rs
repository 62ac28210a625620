//! `component = true`: the core module wrapped into a WASI 0.2 command component by
//! wit-component, with the preview1 command adapter that ships with wasmtime. The adapter comes
//! from the `wasi-preview1-component-adapter-provider` crate, so Cargo.lock pins it.
//!
//! The adapter's `proc_exit` can only say success or failure (`wasi:cli/exit` has no code in
//! WASI 0.2.x), so a component that exits with any non-zero code exits with 1.

use anyhow::{Context, Result};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
};
use wit_component::ComponentEncoder;

/// Identifies the adapter in the build manifest: its digest, since Cargo.lock holds the version.
pub fn adapter_sha256() -> String {
    crate::fsutil::sha256_hex(WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER)
}

pub fn encode(module: &[u8]) -> Result<Vec<u8>> {
    ComponentEncoder::default()
        .validate(true)
        .module(module)
        .context("wit-component refused the core module")?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        )
        .context("wit-component refused the WASI preview1 command adapter")?
        .encode()
        .context("failed to encode the WASI component")
}
