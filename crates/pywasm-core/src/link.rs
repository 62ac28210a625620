//! Compiles the generated sources with the SDK's C toolchain and links them with libpython into
//! one WASI module.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use crate::codegen::Generated;
use crate::extensions::Extensions;
use crate::plan::BuildPlan;
use crate::sdk::Sdk;
use crate::{Shell, process};

/// libpython for WASI was built against wasi-libc's emulations of these POSIX pieces.
const EMULATED: &[&str] = &["signal", "getpid", "process-clocks"];

/// CPython's recursion needs far more than wasm-ld's default 64 KiB stack.
const STACK_SIZE: u32 = 8 << 20;

/// Compiles and links; returns the path of the linked module inside `work`.
pub fn link(
    sdk: &Sdk,
    generated: &Generated,
    extensions: &Extensions,
    work: &Path,
    plan: &BuildPlan,
    shell: &Shell,
) -> Result<PathBuf> {
    let python = &sdk.python;
    let mut objects = Vec::new();
    for (source, extra) in [
        (
            &generated.main_c,
            vec![format!("-I{}", python.include_dir().display())],
        ),
        (&generated.embedfs_c, vec![]),
        (&generated.image_s, vec![]),
    ] {
        let object = source.with_extension("o");
        let mut cmd = compiler(sdk, work);
        if plan.preinit {
            cmd.arg("-DPYWASM_PREINIT");
        }
        cmd.args(["-O2", "-c"])
            .arg(format!("-I{}", generated.include_dir.display()))
            .args(emulation_defines())
            .args(extra)
            .arg(source)
            .arg("-o")
            .arg(&object);
        process::run(shell, &format!("compile `{}`", file_name(source)), &mut cmd)?;
        objects.push(object);
    }

    let output = work.join("linked.wasm");
    let mut cmd = compiler(sdk, work);
    // Extension archives come before libpython, whose API they call; wasm-ld then keeps only the
    // members that main.c's init references (and what those need).
    let mut archives: Vec<&PathBuf> = Vec::new();
    for archive in extensions
        .modules
        .iter()
        .map(|m| &m.archive)
        .chain(&extensions.archives)
    {
        if !archives.contains(&archive) {
            archives.push(archive);
        }
    }
    cmd.args(&objects)
        .args(archives)
        .args(extensions.libraries.iter().map(|l| format!("-l{l}")))
        .arg(format!("-L{}", python.lib_dir().display()))
        .arg(format!("-lpython{}", python.minor))
        .args(["-lexpat", "-lmpdec"])
        .args(EMULATED.iter().map(|e| format!("-lwasi-emulated-{e}")))
        .arg(format!("-Wl,-z,stack-size={STACK_SIZE}"));
    // The name section and whatever DWARF the archives carry are kept for `--debug` only.
    if plan.debug {
        cmd.arg("-g");
    } else {
        cmd.arg("-Wl,--strip-debug");
    }
    cmd.arg("-o").arg(&output);
    process::run(shell, "link the module", &mut cmd)?;
    Ok(output)
}

/// Flags every C file compiled against this SDK's libpython needs: its headers and the WASI
/// emulations it was built with. Extension builders use them too.
pub fn python_cflags(sdk: &Sdk) -> Vec<String> {
    let mut flags = vec![format!("-I{}", sdk.python.include_dir().display())];
    flags.extend(emulation_defines());
    flags
}

fn emulation_defines() -> impl Iterator<Item = String> {
    EMULATED
        .iter()
        .map(|e| format!("-D_WASI_EMULATED_{}", e.to_uppercase().replace('-', "_")))
}

fn compiler(sdk: &Sdk, work: &Path) -> Command {
    let mut cmd = sdk.toolchain.cc();
    // Relative names in the work directory keep host paths out of anything the tools record.
    cmd.current_dir(work);
    cmd
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
