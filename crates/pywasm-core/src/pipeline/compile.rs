//! Bytecode for every Python file the module may run, and what each imports.

use anyhow::{Result, bail};

use super::{Context, display_rel, site_host};
use crate::manifest::EntryPoint;
use crate::module::library::ModuleKind;
use crate::plan::BuildPlan;
use crate::python::collect::{self, Collected, FileEntry};
use crate::python::install::Installed;
use crate::python::pycompile::{Compilation, Compiler};
use crate::shell::timed;

/// The bytecode and imports of the three places files come from.
pub(super) struct Compiled {
    pub app: Compilation,
    pub stdlib: Compilation,
    pub site: Compilation,
}

pub(super) fn compile(
    cx: &Context,
    collected: &Collected,
    entry_files: &[(&EntryPoint, FileEntry)],
    installed: &Installed,
) -> Result<Compiled> {
    timed(cx.shell, "Compiled", || {
        let (plan, home) = (cx.plan, cx.home);
        let compiler = Compiler::new(&cx.sdk.python, home, cx.shell)?;
        let entries: Vec<(&EntryPoint, &FileEntry)> =
            entry_files.iter().map(|(e, f)| (*e, f)).collect();
        let app = compiler.app(&collected.app, &entries, cx.work)?;
        let stdlib = compiler.stdlib(
            &collected.stdlib,
            plan.settings.docstrings,
            &home.cache("pyc"),
        )?;
        let site = compiler.packages(
            &installed.files,
            (&site_host(cx), &plan.guest.site_dir),
            &home.cache("pyc-site"),
        )?;
        let message = format!(
            "{} app modules to bytecode ({} stdlib, {} from dependencies)",
            app.bytecode.len(),
            stdlib.bytecode.len(),
            site.bytecode.len()
        );
        Ok((Compiled { app, stdlib, site }, message))
    })
}

/// The file of each function the module runs: the entry point, or every export.
pub(super) fn entry_files<'p>(
    plan: &'p BuildPlan,
    app: &[FileEntry],
) -> Result<Vec<(&'p EntryPoint, FileEntry)>> {
    let entries: Vec<&EntryPoint> = match &plan.kind {
        ModuleKind::Command(entry) => vec![entry],
        ModuleKind::Library(library) => library.exports.iter().map(|e| &e.target).collect(),
    };
    entries
        .into_iter()
        .map(|entry| Ok((entry, entry_file(plan, entry, app)?)))
        .collect()
}

fn entry_file(plan: &BuildPlan, entry: &EntryPoint, app: &[FileEntry]) -> Result<FileEntry> {
    if let Some(file) = collect::module_file(app, &plan.guest.app_dir, &entry.module) {
        return Ok(file.clone());
    }
    let rel = entry.module.replace('.', "/");
    let roots: Vec<String> = plan
        .sources
        .iter()
        .map(|r| format!("`{}`", display_rel(&r.path, &plan.project_dir)))
        .collect();
    let message = format!(
        "module `{}` not found: no `{rel}.py` or `{rel}/__init__.py` in {}",
        entry.module,
        roots.join(", ")
    );
    let help = "fix the module path, or set `[tool.pywasm] sources` to where the package lives";
    match &entry.origin {
        Some(origin) => Err(origin.error(&message, Some(help))),
        None => bail!(crate::diagnostic::Diagnostic::new(message).help(help)),
    }
}
