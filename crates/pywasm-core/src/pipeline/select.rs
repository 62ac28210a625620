//! What goes into the module: the stdlib modules and the dependencies' packages the bundle's
//! imports reach (`[tool.pywasm] stdlib`), the stdlib C modules this CPython lacks (from their
//! WASI wheels), and the table of C modules to link.

use std::collections::BTreeSet;

use anyhow::Result;

use super::compile::Compiled;
use super::{Context, site_host};
use crate::module::preinit::Unavailable;
use crate::python::builtins::{self, Builtin};
use crate::python::collect::{Collected, FileEntry};
use crate::python::extensions::Extensions;
use crate::python::imports::{ImportGraph, StdlibMode};
use crate::python::install::{self, Installed, InstalledDist};
use crate::python::pycompile::Bytecode;
use crate::python::stdlib;
use crate::recipes;
use crate::shell::timed;

/// Everything the module embeds and links, as selected.
pub(super) struct Selected {
    /// Files for the image, by where they come from.
    pub app: Vec<FileEntry>,
    pub stdlib: Vec<FileEntry>,
    pub site: Vec<FileEntry>,
    pub app_code: Bytecode,
    pub stdlib_code: Bytecode,
    pub site_code: Bytecode,
    pub dists: Vec<InstalledDist>,
    pub extensions: Extensions,
    /// The C modules libpython registers.
    pub builtins: Vec<Builtin>,
    /// Stdlib C modules the bundle imports that are not linked; a snapshot taken with them
    /// missing says how to get each.
    pub unavailable: Vec<Unavailable>,
}

/// The bundle's import graph and where it starts: every module of the app, the Python modules
/// the extension modules import, and `preinit-imports`. Dependencies are in the graph but are
/// not roots: they are kept as far as the app reaches them.
struct Reach {
    graph: ImportGraph,
    roots: Vec<String>,
    stdlib_modules: Vec<String>,
}

impl Reach {
    fn new(cx: &Context, compiled: &Compiled, installed: &Installed) -> Reach {
        let guest = &cx.plan.guest;
        let mut graph = ImportGraph::default();
        let mut roots = graph.add_root(&guest.app_dir, &compiled.app.imports);
        graph.add_root(&guest.site_dir, &compiled.site.imports);
        let stdlib_modules = graph.add_root(&guest.stdlib_dir, &compiled.stdlib.imports);
        for module in &installed.extensions.modules {
            roots.extend(module.imports.iter().cloned());
        }
        roots.extend(
            cx.plan
                .settings
                .preinit_imports
                .iter()
                .map(|m| m.value.clone()),
        );
        Reach {
            graph,
            roots,
            stdlib_modules,
        }
    }
}

/// Takes what was collected, installed and compiled, and keeps what the bundle reaches.
pub(super) fn select(
    cx: &Context,
    collected: Collected,
    installed: Installed,
    compiled: Compiled,
) -> Result<Selected> {
    let reach = Reach::new(cx, &compiled, &installed);
    let (installed, unavailable) = stdlib_extensions(cx, &reach, installed)?;
    let available = builtins::available(&cx.sdk.python.libpython())?;
    timed(cx.shell, "Selected", || {
        let (plan, settings) = (cx.plan, &cx.plan.settings);
        let request = stdlib::Request {
            mode: settings.stdlib,
            include: &settings.include,
            exclude: &settings.exclude,
            builtins: &available,
        };
        let mut selection =
            stdlib::select(&reach.graph, &reach.roots, &reach.stdlib_modules, &request)?;
        let included: Vec<&str> = settings.include.iter().map(|i| i.value.as_str()).collect();
        let builtins = builtins::table(&available, selection.kept.as_ref(), &included);
        let dir = &plan.guest.stdlib_dir;
        let mut stdlib: Vec<FileEntry> = collected
            .stdlib
            .into_iter()
            .filter(|f| selection.keeps(dir, &f.guest))
            .collect();
        let stdlib_code: Bytecode = compiled
            .stdlib
            .bytecode
            .into_iter()
            .filter(|(guest, _)| selection.keeps(dir, guest))
            .collect();
        let total = reach.stdlib_modules.len();
        let kept = total - selection.left_out.len();
        let mut site = Site {
            files: installed.files,
            code: compiled.site.bytecode,
            extensions: installed.extensions,
        };
        let mut packages = String::new();
        if let Some(reached) = &selection.kept {
            let dropped;
            (site, dropped) = site.reached(&plan.guest.site_dir, reached);
            if !dropped.is_empty() {
                packages = format!(
                    ", {} unused packages of dependencies left out",
                    dropped.len()
                );
            }
            selection.left_out.extend(dropped);
        }
        // C modules not linked are named by the same error as left-out Python modules.
        selection.left_out.extend(
            available
                .iter()
                .filter(|m| !builtins.iter().any(|b| &b.name == *m))
                .cloned(),
        );
        let host = cx.work.join(stdlib::LEFT_OUT_FILE);
        fs_err::write(&host, selection.left_out_file())?;
        stdlib.push(FileEntry {
            guest: format!("{dir}/{}", stdlib::LEFT_OUT_FILE),
            host,
        });
        let which = if settings.stdlib == StdlibMode::Full {
            "(stdlib = \"full\")"
        } else {
            "the ones the bundle imports"
        };
        let message = format!(
            "{kept} of {total} stdlib modules and {} C modules, {which}{packages}",
            builtins.len()
        );
        let selected = Selected {
            app: collected.app,
            stdlib,
            site: site.files,
            app_code: compiled.app.bytecode,
            stdlib_code,
            site_code: site.code,
            dists: installed.dists,
            extensions: site.extensions,
            builtins,
            unavailable,
        };
        Ok((selected, message))
    })
}

/// Adds the stdlib extension modules this CPython lacks (zlib, _sqlite3) when the bundle's
/// imports reach them and their recipes' wheels are built (`--build-missing` builds them);
/// returns those reached and not built, each with a warning.
fn stdlib_extensions(
    cx: &Context,
    reach: &Reach,
    mut installed: Installed,
) -> Result<(Installed, Vec<Unavailable>)> {
    let reached = reach.graph.reachable(&reach.roots);
    let python = &cx.sdk.python;
    let limits = cx.plan.settings.wheel_limits;
    let index = cx.home.wheels_index();
    let mut available = install::stdlib_wheels(&index, &python.minor, limits)?;
    let not_built = |available: &[install::StdlibWheel]| -> Vec<(String, &'static str)> {
        let mut missing: Vec<(String, &'static str)> = reached
            .iter()
            .filter_map(|module| Some((module.clone(), recipes::for_stdlib_module(module)?)))
            .filter(|(module, _)| {
                !available
                    .iter()
                    .any(|w| w.modules.iter().any(|m| m == module))
            })
            .collect();
        missing.sort();
        missing
    };
    let missing = not_built(&available);
    if cx.plan.build_missing && !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|(_, r)| r.to_string()).collect();
        recipes::build_for(cx.shell, cx.home, &names, &python.minor)?;
        available = install::stdlib_wheels(&index, &python.minor, limits)?;
    }
    let wanted: Vec<&install::StdlibWheel> = available
        .iter()
        .filter(|w| w.modules.iter().any(|m| reached.contains(m)))
        .collect();
    let unavailable: Vec<Unavailable> = not_built(&available)
        .into_iter()
        .map(|(module, recipe)| Unavailable {
            help: format!(
                "this CPython for WASI has no `{module}`; pywasm links it from the WASI wheel \
                 that `{}` builds (once per machine): run it, or `pywasm build --build-missing`",
                recipes::command(recipe, &python.minor)
            ),
            module,
        })
        .collect();
    for missing in &unavailable {
        cx.shell.warn(&format!(
            "the bundle imports `{}`, which is not available: {}",
            missing.module, missing.help
        ));
    }
    if wanted.is_empty() {
        return Ok((installed, unavailable));
    }
    let site_host = site_host(cx);
    let site = install::SiteDirs {
        host: &site_host,
        guest: &cx.plan.guest.site_dir,
    };
    install::add_stdlib_wheels(&mut installed, &wanted, &site, &python.minor, limits)?;
    for wheel in wanted {
        cx.shell.status(
            "Adding",
            &format!("stdlib module {}", wheel.modules.join(", ")),
        );
    }
    Ok((installed, unavailable))
}

/// What site-packages contributes: files, their bytecode, extension modules.
struct Site {
    files: Vec<FileEntry>,
    code: Bytecode,
    extensions: Extensions,
}

impl Site {
    /// Without the top-level packages and modules `reached` does not name; `.dist-info`
    /// directories stay, so metadata lookups still work. Also returns the names left out.
    fn reached(self, site_dir: &str, reached: &BTreeSet<String>) -> (Site, Vec<String>) {
        let mut dropped = BTreeSet::new();
        let mut keep = |guest: &str| match site_top_level(site_dir, guest) {
            Some(name) if !reached.contains(&name) => {
                dropped.insert(name);
                false
            }
            _ => true,
        };
        let files = self.files.into_iter().filter(|f| keep(&f.guest)).collect();
        let code = self
            .code
            .into_iter()
            .filter(|(guest, _)| keep(guest))
            .collect();
        let mut extensions = self.extensions;
        extensions.modules.retain(|m| {
            let top = m.name.split('.').next().unwrap_or_default();
            reached.contains(top)
        });
        let site = Site {
            files,
            code,
            extensions,
        };
        (site, dropped.into_iter().collect())
    }
}

/// The top-level module or package a file below site-packages belongs to; `None` for
/// distribution metadata and anything that is not importable.
fn site_top_level(site_dir: &str, guest: &str) -> Option<String> {
    let rel = guest.strip_prefix(site_dir)?.strip_prefix('/')?;
    let mut parts = rel.split('/');
    let first = parts.next()?;
    let name = if first == "__pycache__" {
        parts.next()?.split('.').next()?
    } else if let Some(module) = first.strip_suffix(".py") {
        module
    } else if !rel.contains('/') {
        // A loose file at the top (a `.pth`, a license): not a module.
        return None;
    } else {
        first
    };
    (crate::manifest::is_identifier(name)).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_files_belong_to_their_top_level_package() {
        let site = "/usr/local/lib/python3.11/site-packages";
        let top = |rel: &str| site_top_level(site, &format!("{site}/{rel}"));
        assert_eq!(top("lxml/etree.pyi").as_deref(), Some("lxml"));
        assert_eq!(top("six.py").as_deref(), Some("six"));
        assert_eq!(
            top("__pycache__/six.cpython-311.pyc").as_deref(),
            Some("six")
        );
        assert_eq!(top("lxml-5.4.0.dist-info/RECORD"), None);
        assert_eq!(top("distutils-precedence.pth"), None);
    }
}
