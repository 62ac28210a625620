//! Fills the caches that depend on the SDK alone, so that a project's first build does not pay
//! for them: the stdlib's bytecode (and python3.11.wasm's compiled code, which making it needs),
//! and the C toolchain's own libraries (zig builds wasi-libc on first use). `fetch-sdk` runs it;
//! a build that finds the caches empty fills them the same way.

use anyhow::Result;

use crate::module::link;
use crate::plan::GuestLayout;
use crate::python::pycompile::{Compiler, Docstrings};
use crate::sdk::{Sdk, SdkHome};
use crate::shell::timed;
use crate::{Shell, python::collect};

/// What `fetch-sdk` does: for each of `versions` (the pins' default when empty), fetch (or
/// build) that SDK and warm its caches.
pub fn fetch_each(
    pins: &crate::sdk::pins::Pins,
    versions: &[String],
    home: &SdkHome,
    shell: &Shell,
    opts: &crate::sdk::FetchOptions,
) -> Result<Vec<Sdk>> {
    let mut fetched = Vec::new();
    for pins in pins.each_python(versions)? {
        let sdk = crate::sdk::fetch(&pins, home, shell, opts)?;
        warm_caches(&sdk, home, shell)?;
        fetched.push(sdk);
    }
    Ok(fetched)
}

pub fn warm_caches(sdk: &Sdk, home: &SdkHome, shell: &Shell) -> Result<()> {
    timed(shell, "Prepared", || {
        let guest = GuestLayout::for_python(&sdk.python.minor);
        let files = collect::stdlib_files(&sdk.python.stdlib_dir(), &guest.stdlib_dir)?;
        let compiler = Compiler::new(&sdk.python, home, shell)?;
        let compiled = compiler.stdlib(&files, Docstrings::default(), &home.cache("pyc"))?;
        let work = tempfile::Builder::new()
            .prefix("pywasm-prepare-")
            .tempdir()?;
        link::warm_toolchain(sdk, work.path(), shell)?;
        Ok((
            (),
            format!(
                "stdlib bytecode ({} modules) and the C runtime of {}",
                compiled.bytecode.len(),
                sdk.toolchain.kind.name()
            ),
        ))
    })
}
