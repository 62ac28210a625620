//! `pywasm wit`: the WIT world a library project's component exports, computed by building it
//! as a component (the world comes from the functions' annotations, read inside the module).
//! Hosts check the text in and generate their bindings from it.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::diagnostic::Diagnostic;
use crate::manifest::Manifest;
use crate::module::library::ModuleKind;
use crate::{BuildOptions, Shell};

/// Builds the project as a component into a scratch directory and returns its world.
pub fn world(options: &BuildOptions, shell: &Shell) -> Result<String> {
    let manifest = Manifest::load(&options.project_dir)?;
    if let ModuleKind::Command(entry) = &manifest.kind {
        bail!(
            Diagnostic::new(format!(
                "`{}` is a command (entry point `{}`), which has no WIT world of its own",
                manifest.path.display(),
                entry.display()
            ))
            .help(
                "`pywasm wit` is for library projects, whose `[tool.pywasm.exports]` become the \
                 world's exports; see docs/abi.md"
            )
        );
    }
    let scratch = tempfile::Builder::new()
        .prefix("pywasm-wit-")
        .tempdir()
        .context("failed to create a scratch directory")?;
    let output: PathBuf = scratch.path().join(format!("{}.wasm", manifest.name));
    let mut options = BuildOptions {
        output: Some(output),
        ..options.clone()
    };
    options.overrides.component = Some(true);
    let outcome = crate::build(&options, shell)?;
    outcome
        .wit
        .context("internal error: a library built as a component has no world")
}
