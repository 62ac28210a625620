//! Compiles the generated sources with the SDK's C toolchain and links them with libpython into
//! one WASI module.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use crate::module::codegen::Generated;
use crate::plan::{BuildPlan, OutputKind};
use crate::python::extensions::Extensions;
use crate::sdk::Sdk;
use crate::{Shell, process};

/// libpython for WASI was built against wasi-libc's emulations of these POSIX pieces.
const EMULATED: &[&str] = &["signal", "getpid", "process-clocks"];

/// Where compiled objects and linked modules are kept, by what they were made from.
pub struct LinkCache {
    pub objects: PathBuf,
    pub modules: PathBuf,
}

/// Compiles and links; returns the path of the linked module inside `work`. Objects of the C
/// sources are kept in the cache by content: a rebuild that changed only Python files assembles
/// the image and links, nothing more; or, when pre-initialised (no image is linked in), takes
/// the linked module from the cache.
pub fn link(
    sdk: &Sdk,
    generated: &Generated,
    extensions: &Extensions,
    work: &Path,
    plan: &BuildPlan,
    cache: &LinkCache,
    shell: &Shell,
) -> Result<PathBuf> {
    let python = &sdk.python;
    let library = matches!(plan.kind, crate::module::library::ModuleKind::Library(_));
    let mut objects = Vec::new();
    let main = (
        &generated.main_c,
        vec![format!("-I{}", python.include_dir().display())],
        true,
    );
    // library.c is the one runtime source that calls into Python.
    let python_include = format!("-I{}", python.include_dir().display());
    let runtime = generated
        .runtime_c
        .iter()
        .map(|c| (c, vec![python_include.clone()], true));
    // Its content is the image (`.incbin`), new on every change; assembling it is quick.
    let image = generated.image_s.as_ref().map(|s| (s, vec![], false));
    for (source, extra, cached) in std::iter::once(main).chain(runtime).chain(image) {
        let object = source.with_extension("o");
        let mut flags = vec!["-O2".to_string()];
        if plan.settings.preinit {
            flags.push("-DPYWASM_PREINIT".into());
            flags.extend(crate::module::preinit::image_defines());
        }
        if library {
            flags.push("-DPYWASM_LIBRARY".into());
        }
        match plan.output_kind {
            OutputKind::LibraryComponent(_) => flags.push("-DPYWASM_COMPONENT".into()),
            OutputKind::Module | OutputKind::CommandComponent { .. } => {}
        }
        // zig's cc writes DWARF unless told not to; only `--debug` keeps it.
        if !plan.debug {
            flags.push("-g0".into());
        }
        flags.push(format!(
            "-I{}",
            relative_to(work, &generated.include_dir).display()
        ));
        flags.extend(emulation_defines());
        flags.extend(extra);
        let key = if cached {
            Some(object_key(sdk, source, &flags)?)
        } else {
            None
        };
        let hit = key.as_ref().map(|k| cache.objects.join(k));
        if let Some(hit) = hit.as_ref().filter(|h| h.is_file()) {
            fs_err::copy(hit, &object)?;
            objects.push(object);
            continue;
        }
        let mut cmd = compiler(sdk, work);
        cmd.args(&flags)
            .arg("-c")
            .arg(relative_to(work, source))
            .arg("-o")
            .arg(&object);
        process::run(shell, &format!("compile `{}`", file_name(source)), &mut cmd)?;
        if let Some(hit) = hit {
            crate::fsutil::atomic_write(&hit, &fs_err::read(&object)?)?;
        }
        objects.push(object);
    }

    let output = work.join("linked.wasm");
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
    let mut flags: Vec<String> = extensions
        .libraries
        .iter()
        .map(|l| format!("-l{l}"))
        .collect();
    flags.push(format!("-L{}", python.lib_dir().display()));
    flags.extend(python.libraries()?.iter().map(|l| format!("-l{l}")));
    flags.extend(runtime_link_flags(plan.debug, plan.settings.stack_size));
    if library {
        // A reactor: wasi-libc's `_initialize` runs the constructors, main.c's start among them.
        flags.push("-mexec-model=reactor".into());
    }
    // A module with the image in it is new on every change: it is not worth keeping.
    let key = match generated.image_s {
        Some(_) => None,
        None => Some(module_key(sdk, &objects, &archives, &flags)?),
    };
    let hit = key.map(|k| cache.modules.join(k));
    if let Some(hit) = hit.as_ref().filter(|h| h.is_file()) {
        fs_err::copy(hit, &output)?;
        return Ok(output);
    }
    let mut cmd = compiler(sdk, work);
    cmd.args(&objects)
        .args(archives)
        .args(&flags)
        .arg("-o")
        .arg(&output);
    process::run(shell, "link the module", &mut cmd)?;
    if let Some(hit) = hit {
        crate::fsutil::atomic_write(&hit, &fs_err::read(&output)?)?;
    }
    Ok(output)
}

/// What a linked module depends on: the toolchain, the flags and the contents of the objects
/// and archives (extension archives are unpacked into the work directory on every build).
fn module_key(
    sdk: &Sdk,
    objects: &[PathBuf],
    archives: &[&PathBuf],
    flags: &[String],
) -> Result<String> {
    let mut key = format!("{}\n{}\n", sdk.toolchain.digest, flags.join(" "));
    for input in objects.iter().chain(archives.iter().copied()) {
        key.push_str(&crate::fsutil::sha256_hex(&fs_err::read(input)?));
        key.push('\n');
    }
    Ok(format!(
        "{}.wasm",
        &crate::fsutil::sha256_hex(key.as_bytes())[..32]
    ))
}

/// `path` as the compiler sees it from `work`, its working directory. Every build has a new
/// work directory: its name in a flag would make each object's cache key new (no rebuild ever
/// reused an object while it was there), and in a source path it would reach the object.
fn relative_to(work: &Path, path: &Path) -> PathBuf {
    match path.strip_prefix(work) {
        Ok(rel) if rel.as_os_str().is_empty() => PathBuf::from("."),
        Ok(rel) => rel.to_path_buf(),
        Err(_) => path.to_path_buf(),
    }
}

/// What an object depends on: the toolchain and CPython (headers), the flags, the source and
/// the one local header every generated source includes.
fn object_key(sdk: &Sdk, source: &Path, flags: &[String]) -> Result<String> {
    let mut key = format!(
        "{}\n{}\n{}\n{}\n",
        sdk.toolchain.digest,
        sdk.python.digest,
        flags.join(" "),
        crate::module::codegen::FS_H.1
    );
    key.push_str(crate::module::codegen::LIBRARY_H.1);
    key.push_str(&crate::module::bundle::c_header());
    key.push_str(&crate::fsutil::sha256_hex(&fs_err::read(source)?));
    Ok(format!(
        "{}.o",
        &crate::fsutil::sha256_hex(key.as_bytes())[..32]
    ))
}

/// Compiles and links a program that needs what every module needs (libc, the WASI
/// emulations), so that a toolchain that builds its libraries on first use (zig) has them.
pub fn warm_toolchain(sdk: &Sdk, work: &Path, shell: &Shell) -> Result<()> {
    let source = work.join("warm.c");
    fs_err::write(
        &source,
        "#include <stdio.h>\nint main(void) { puts(\"\"); return 0; }\n",
    )?;
    let object = work.join("warm.o");
    let mut cmd = compiler(sdk, work);
    cmd.arg("-O2")
        .args(emulation_defines())
        .arg("-c")
        .arg(&source)
        .arg("-o")
        .arg(&object);
    process::run(shell, "compile a C test program", &mut cmd)?;
    // Linked exactly like a module, so the libraries built are the ones modules use.
    let mut cmd = compiler(sdk, work);
    cmd.arg(&object)
        .args(runtime_link_flags(
            false,
            crate::settings::DEFAULT_STACK_SIZE,
        ))
        .arg("-o")
        .arg(work.join("warm.wasm"));
    process::run(shell, "build the C toolchain's runtime", &mut cmd)?;
    Ok(())
}

/// The link flags for libc and what CPython needs of it; `debug` keeps names and DWARF. The
/// linker puts the stack first in linear memory, so overflowing it traps on an out-of-bounds
/// access instead of overwriting data (tests/real_projects.rs checks the layout).
fn runtime_link_flags(debug: bool, stack_size: u64) -> Vec<String> {
    let mut flags: Vec<String> = EMULATED
        .iter()
        .map(|e| format!("-lwasi-emulated-{e}"))
        .collect();
    flags.push(format!("-Wl,-z,stack-size={stack_size}"));
    // The name section and whatever DWARF the archives carry are kept for `--debug` only.
    flags.push(if debug { "-g" } else { "-Wl,--strip-debug" }.into());
    flags
}

/// Flags every C file compiled against this SDK's libpython needs: its headers and the WASI
/// emulations it was built with. Extension builders use them too.
pub fn python_cflags(sdk: &Sdk) -> Vec<String> {
    let mut flags = vec![format!("-I{}", sdk.python.include_dir().display())];
    flags.extend(emulation_defines());
    flags
}

/// The `-D_WASI_EMULATED_*` defines of the WASI emulations this SDK's libpython was built with,
/// which every C file that includes wasi-libc's headers with them needs.
pub fn emulation_defines() -> impl Iterator<Item = String> {
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
