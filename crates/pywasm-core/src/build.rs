//! The build driver: runs the stages in order and reports each with its timing.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::bundle::ImageBuilder;
use crate::collect::{self, Collected, FileEntry};
use crate::manifest::Manifest;
use crate::pins::{Pins, ToolchainKind};
use crate::plan::{BuildPlan, DEFAULT_SOURCE_DATE_EPOCH, GuestLayout};
use crate::pycompile::{Bytecode, Compiler};
use crate::sdk::{self, Sdk, SdkHome};
use crate::shell::{human_size, seconds, timed};
use crate::{Shell, checksum, codegen, link, postprocess};

/// What the command line (or a test) asks of a build.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    pub project_dir: PathBuf,
    /// Overrides `[tool.pywasm] output`.
    pub output: Option<PathBuf>,
    /// Overrides the pinned default toolchain (`PYWASM_TOOLCHAIN` does too).
    pub toolchain: Option<ToolchainKind>,
    /// Never download: a missing SDK is an error naming the command that fetches it.
    pub offline: bool,
    /// Keep the work directory (generated C, objects, image) and print where it is.
    pub keep_work: bool,
    /// Defaults to `SOURCE_DATE_EPOCH`, then to [`DEFAULT_SOURCE_DATE_EPOCH`].
    pub source_date_epoch: Option<u64>,
    /// Defaults to `PYWASM_HOME`, then the user's cache directory.
    pub home: Option<SdkHome>,
}

#[derive(Clone, Debug)]
pub struct BuildOutcome {
    pub output: PathBuf,
    pub checksum_path: PathBuf,
    pub sha256: String,
    pub size: u64,
    /// Set when the work directory was kept.
    pub work_dir: Option<PathBuf>,
}

pub fn build(options: &BuildOptions, shell: &Shell) -> Result<BuildOutcome> {
    let start = Instant::now();
    let pins = Pins::embedded()?;
    let home = match &options.home {
        Some(home) => home.clone(),
        None => SdkHome::from_env()?,
    };
    let manifest = Manifest::load(&options.project_dir)?;
    let kind = toolchain_kind(options, &pins)?;
    let sdk = sdk::ensure(&pins, &home, shell, kind, options.offline)?;
    let plan = plan(&manifest, &sdk, options)?;
    shell.status(
        "Building",
        &format!(
            "{} v{} ({})",
            plan.name,
            plan.version,
            plan.project_dir.display()
        ),
    );

    let work = tempfile::Builder::new()
        .prefix("pywasm-build-")
        .tempdir()
        .context("failed to create a work directory")?;
    let collected = timed(shell, "Collected", || {
        let app = collect::app_files(&plan.sources, &plan.guest.app_dir)?;
        let stdlib = collect::stdlib_files(&sdk.python.stdlib_dir(), &plan.guest.stdlib_dir)?;
        let message = format!("{} app files, {} stdlib files", app.len(), stdlib.len());
        Ok((Collected { app, stdlib }, message))
    })?;
    let entry_file = entry_file(&plan, &collected.app)?;

    let (app_pyc, stdlib_pyc) = timed(shell, "Compiled", || {
        let compiler = Compiler::new(&sdk.python, home.cache("cwasm"), shell)?;
        let app = compiler.app(&collected.app, &plan.entry, &entry_file, work.path())?;
        let stdlib = compiler.stdlib(&collected.stdlib, &home.cache("pyc"))?;
        let message = format!(
            "{} app modules to bytecode ({} stdlib)",
            app.len(),
            stdlib.len()
        );
        Ok(((app, stdlib), message))
    })?;

    let image_path = work.path().join("image.bin");
    let image_size = timed(shell, "Bundled", || {
        let (image, stats) = image(&plan, &collected, [app_pyc, stdlib_pyc])?;
        fs_err::write(&image_path, &image)?;
        Ok((
            image.len(),
            format!(
                "{} files in {} ({})",
                stats.files,
                stats.dirs,
                human_size(image.len() as u64)
            ),
        ))
    })?;

    let linked = timed(shell, "Linked", || {
        let generated = codegen::write_sources(&plan, work.path(), &image_path, image_size)?;
        let linked = link::link(&sdk, &generated, work.path(), shell)?;
        Ok((linked, format!("with {}", sdk.toolchain.identity)))
    })?;

    let bytes = fs_err::read(&linked)?;
    timed(shell, "Validated", || {
        let facts = postprocess::validate(&bytes)?;
        Ok((
            (),
            format!("{} WASI imports, exports `_start`", facts.imports.len()),
        ))
    })?;

    let published = checksum::publish(&bytes, &plan.output)?;
    let work_dir = options.keep_work.then(|| work.keep());
    if let Some(dir) = &work_dir {
        shell.status("Kept", &format!("work directory `{}`", dir.display()));
    }
    shell.status(
        "Finished",
        &format!(
            "`{}` ({}, sha256 {}) in {}",
            display_rel(&published.path, &plan.project_dir),
            human_size(published.size),
            &published.sha256[..16],
            seconds(start.elapsed())
        ),
    );
    Ok(BuildOutcome {
        output: published.path,
        checksum_path: published.checksum_path,
        sha256: published.sha256,
        size: published.size,
        work_dir,
    })
}

fn toolchain_kind(options: &BuildOptions, pins: &Pins) -> Result<ToolchainKind> {
    if let Some(kind) = options.toolchain {
        return Ok(kind);
    }
    match std::env::var("PYWASM_TOOLCHAIN") {
        Ok(name) if !name.is_empty() => {
            ToolchainKind::parse(&name).context("in the environment variable `PYWASM_TOOLCHAIN`")
        }
        _ => Ok(pins.toolchain.default),
    }
}

/// Everything later stages need, as plain data.
pub fn plan(manifest: &Manifest, sdk: &Sdk, options: &BuildOptions) -> Result<BuildPlan> {
    let source_date_epoch = match options.source_date_epoch {
        Some(epoch) => epoch,
        None => source_date_epoch_from_env()?,
    };
    let output = match &options.output {
        Some(out) if out.is_absolute() => out.clone(),
        Some(out) => std::env::current_dir()
            .context("failed to read the current directory")?
            .join(out),
        None => manifest.output.clone(),
    };
    Ok(BuildPlan {
        project_dir: manifest.dir.clone(),
        manifest_path: manifest.path.clone(),
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        entry: manifest.entry.clone(),
        sources: collect::source_roots(manifest)?,
        output,
        source_date_epoch,
        guest: GuestLayout::for_python(&sdk.python.minor),
    })
}

fn source_date_epoch_from_env() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) if !value.trim().is_empty() => value.trim().parse().with_context(|| {
            format!(
                "`SOURCE_DATE_EPOCH` must be a whole number of seconds since 1970, not `{value}`"
            )
        }),
        _ => Ok(DEFAULT_SOURCE_DATE_EPOCH),
    }
}

fn entry_file(plan: &BuildPlan, app: &[FileEntry]) -> Result<FileEntry> {
    if let Some(file) = collect::module_file(app, &plan.guest.app_dir, &plan.entry.module) {
        return Ok(file.clone());
    }
    let rel = plan.entry.module.replace('.', "/");
    let roots: Vec<String> = plan
        .sources
        .iter()
        .map(|r| format!("`{}`", display_rel(&r.path, &plan.project_dir)))
        .collect();
    let message = format!(
        "entry module `{}` not found: no `{rel}.py` or `{rel}/__init__.py` in {}",
        plan.entry.module,
        roots.join(", ")
    );
    let help = "fix the module path in the entry point, or set `[tool.pywasm] sources` to where the package lives";
    match &plan.entry.origin {
        Some(origin) => Err(origin.error(&message, Some(help))),
        None => bail!("{message}\n  = help: {help}"),
    }
}

/// The file system image: app sources and bytecode, the stdlib and its bytecode.
fn image(
    plan: &BuildPlan,
    collected: &Collected,
    bytecode: [Bytecode; 2],
) -> Result<(Vec<u8>, crate::bundle::ImageStats)> {
    let mut builder = ImageBuilder::new();
    for file in collected.app.iter().chain(&collected.stdlib) {
        builder.add_file(&file.guest, fs_err::read(&file.host)?)?;
    }
    for (guest, bytes) in bytecode.into_iter().flatten() {
        builder.add_file(&guest, bytes)?;
    }
    builder.add_mount(&plan.guest.app_dir)?;
    builder.add_mount(&plan.guest.stdlib_dir)?;
    builder.build(plan.source_date_epoch)
}

fn display_rel(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}
