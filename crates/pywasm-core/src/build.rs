//! The build driver: runs the stages in order and reports each with its timing.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::builtins::{self, Builtin};
use crate::bundle::ImageBuilder;
use crate::collect::{self, Collected, FileEntry};
use crate::describe::{self, BuildManifest, FileDigest};
use crate::extensions::ExtensionModule;
use crate::imports::{ImportGraph, StdlibMode};
use crate::install::{self, Installed, InstalledDist};
use crate::library::ModuleKind;
use crate::lock::Source;
use crate::manifest::{EntryPoint, Manifest};
use crate::pins::{Pins, ToolchainKind};
use crate::plan::{BuildPlan, DEFAULT_SOURCE_DATE_EPOCH, GuestLayout};
use crate::postprocess::optimize::{self, Optimize, Profile};
use crate::preinit::{Training, Unavailable};
use crate::pycompile::{Bytecode, Compiled, Compiler};
use crate::resolve::Resolution;
use crate::sdk::{self, Sdk, SdkHome};
use crate::shell::{human_size, seconds, timed};
use crate::wheel::Platform;
use crate::{Shell, checksum, codegen, link, postprocess, preinit, resolve, stdlib};

/// The bundle's import graph and where it starts: every module of the app, the Python modules
/// the extension modules import, and `preinit-imports`. Dependencies are in the graph but are
/// not roots: they are kept as far as the app reaches them.
struct Reach {
    graph: ImportGraph,
    roots: Vec<String>,
    stdlib_modules: Vec<String>,
}

impl Reach {
    fn new(plan: &BuildPlan, compiled: &[Compiled; 3], installed: &Installed) -> Reach {
        let guest = &plan.guest;
        let mut graph = ImportGraph::default();
        // Dependencies are not roots: a package nothing imports is left out like a stdlib module.
        let mut roots = graph.add_root(&guest.app_dir, &compiled[0].imports);
        graph.add_root(&guest.site_dir, &compiled[2].imports);
        let stdlib_modules = graph.add_root(&guest.stdlib_dir, &compiled[1].imports);
        for module in &installed.extensions.modules {
            roots.extend(module.imports.iter().cloned());
        }
        roots.extend(plan.preinit_imports.iter().cloned());
        Reach {
            graph,
            roots,
            stdlib_modules,
        }
    }
}

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
    /// Extras chosen on the command line, on top of `[tool.pywasm] extras`.
    pub extras: Vec<String>,
    /// Overrides `[tool.pywasm] optimize`.
    pub optimize: Option<Optimize>,
    /// `--release`: overrides `[tool.pywasm] profile`.
    pub release: bool,
    /// Keep names and debug information.
    pub debug: bool,
    /// Overrides `[tool.pywasm] component`.
    pub component: Option<bool>,
    /// Overrides `[tool.pywasm] preinit`.
    pub preinit: Option<bool>,
    /// Build the module `pywasm test` runs instead of the app's.
    pub tests: Option<crate::testing::TestBuild>,
}

/// What went into a module, for `pywasm build --list`.
#[derive(Clone, Debug, Default)]
pub struct Contents {
    pub dists: Vec<InstalledDist>,
    /// Extension modules with the size of their archive.
    pub extensions: Vec<(ExtensionModule, u64)>,
    pub app_files: usize,
    pub app_size: u64,
    pub stdlib_files: usize,
    pub stdlib_size: u64,
}

#[derive(Clone, Debug)]
pub struct BuildOutcome {
    pub output: PathBuf,
    pub checksum_path: PathBuf,
    pub sha256: String,
    pub size: u64,
    /// Set when the work directory was kept.
    pub work_dir: Option<PathBuf>,
    pub contents: Contents,
    /// The WIT world of a library built as a component.
    pub wit: Option<String>,
}

pub fn build(options: &BuildOptions, shell: &Shell) -> Result<BuildOutcome> {
    let start = Instant::now();
    let (pins, home, manifest) = inputs(&options.home, &options.project_dir)?;
    let manifest = match &options.tests {
        Some(tests) => tests.manifest(manifest),
        None => manifest,
    };
    let kind = toolchain_kind(options, &pins)?;
    let sdk = sdk::ensure(&pins, &home, shell, kind, options.offline)?;
    let plan = plan(&manifest, &sdk, options)?;
    let binaryen = match plan.optimize {
        Optimize::None => None,
        _ => Some(sdk::ensure_binaryen(&pins, &home, shell, options.offline)?),
    };
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
    let stages = Stages {
        shell,
        home: &home,
        sdk: &sdk,
        binaryen: binaryen.as_ref(),
        plan: &plan,
        manifest: &manifest,
        work: work.path(),
    };
    let run = stages.run(options);
    let (collected, installed, bytes, wit) = match run {
        Ok(done) => done,
        Err(err) if options.keep_work => {
            let dir = work.keep();
            shell.status("Kept", &format!("work directory `{}`", dir.display()));
            return Err(err);
        }
        Err(err) => return Err(err),
    };

    let contents = contents(&collected, installed)?;
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
    shell.artifact(
        &published.path,
        published.size,
        &published.sha256,
        &published.checksum_path,
    );
    Ok(BuildOutcome {
        output: published.path,
        checksum_path: published.checksum_path,
        sha256: published.sha256,
        size: published.size,
        work_dir,
        contents,
        wit,
    })
}

/// The stdlib C modules this CPython for WASI lacks, and the `cargo xtask build-wheel` recipe
/// whose wheel provides each.
const STDLIB_WHEEL_MODULES: &[(&str, &str)] = &[("zlib", "zlib"), ("_sqlite3", "sqlite3")];

/// The stages of one build, each reported with its timing.
struct Stages<'a> {
    shell: &'a Shell,
    home: &'a SdkHome,
    sdk: &'a Sdk,
    /// Set when the plan optimises.
    binaryen: Option<&'a sdk::Binaryen>,
    plan: &'a BuildPlan,
    manifest: &'a Manifest,
    work: &'a Path,
}

impl Stages<'_> {
    /// Every stage up to a validated module: what was collected and installed, and its bytes.
    /// Also the WIT world of a library built as a component.
    fn run(
        &self,
        options: &BuildOptions,
    ) -> Result<(Collected, Installed, Vec<u8>, Option<String>)> {
        let resolution = self.resolve(options)?;
        let mut collected = self.collect()?;
        let entry_files = entry_files(self.plan, &collected.app)?;
        let mut installed = self.install(&resolution)?;
        let compiled = self.compile(&collected, &entry_files, &installed)?;
        let reach = Reach::new(self.plan, &compiled, &installed);
        let unavailable = self.stdlib_extensions(&reach, &mut installed)?;
        let mut bytecode = compiled.map(|c| c.bytecode);
        let builtins =
            self.select_modules(&reach, &mut collected, &mut installed, &mut bytecode)?;
        let (image_path, image_size, files) = self.bundle(&collected, &installed, bytecode)?;
        let linked = self.link(&installed, &builtins, &image_path, image_size)?;
        let bytes = fs_err::read(&linked)?;
        timed(self.shell, "Validated", || {
            let facts = postprocess::validate(&bytes, self.library())?;
            let exports = match self.library() {
                Some(library) => match library.exports.len() {
                    1 => "a library of 1 function".to_string(),
                    n => format!("a library of {n} functions"),
                },
                None => "`_start`".into(),
            };
            Ok((
                (),
                format!("{} imports, exports {exports}", facts.imports.len()),
            ))
        })?;
        let bytes = if self.plan.preinit {
            self.preinitialize(bytes, &image_path, &unavailable)?
        } else {
            bytes
        };
        let mut bytes = self.optimize(bytes)?;
        let manifest = self.manifest(&installed, files);
        describe::embed(&mut bytes, &manifest)?;
        let mut wit = None;
        if self.plan.component {
            (bytes, wit) = self.componentize(&bytes)?;
        }
        Ok((collected, installed, bytes, wit))
    }

    /// Snapshots the started interpreter into the module; cached by the linked bytes, the image
    /// and the training run's arguments, since the snapshot depends on nothing else.
    fn preinitialize(
        &self,
        linked: Vec<u8>,
        image: &Path,
        unavailable: &[Unavailable],
    ) -> Result<Vec<u8>> {
        let train = match &self.plan.kind {
            ModuleKind::Command(_) => self.plan.preinit_train.as_deref(),
            ModuleKind::Library(_) => None,
        };
        let training = train.map_or(String::new(), |args| {
            let args = crate::fsutil::sha256_hex(format!("{args:?}").as_bytes());
            format!("-train-{}", &args[..16])
        });
        let image_bytes = fs_err::read(image)?;
        let (image_len, image_hash) = (image_bytes.len(), crate::fsutil::sha256_hex(&image_bytes));
        let cached = self.home.cache("preinit").join(format!(
            "{}-{}{training}.wasm",
            crate::fsutil::sha256_hex(&linked),
            &image_hash[..32]
        ));
        // What the snapshot adds besides the image, which the linked module leaves out.
        let before = linked.len() + image_len;
        let describe = |after: usize, how: &str| {
            format!(
                "interpreter started and `{}` imported at build time (+{}){how}",
                self.plan.kind.modules().join("`, `"),
                human_size(after.saturating_sub(before) as u64)
            )
        };
        if let Ok(hit) = fs_err::read(&cached) {
            let message = describe(hit.len(), ", cached");
            self.shell.stage_started("Snapshotted");
            self.shell
                .stage_done("Snapshotted", &message, std::time::Duration::ZERO);
            return Ok(hit);
        }
        timed(self.shell, "Snapshotted", || {
            let inputs = preinit::Inputs {
                linked: &linked,
                image_dir: crate::fsutil::parent_dir(image),
                code_cache: &self.home.cache("cwasm"),
            };
            let snapshot = preinit::snapshot(&inputs, unavailable, self.library(), train)?;
            if snapshot.reused_code {
                self.shell
                    .verbose("the linked module's compiled code came from the cache");
            }
            postprocess::validate(&snapshot.bytes, self.library())
                .context("the pre-initialised module does not pass the checks its input passed")?;
            crate::fsutil::atomic_write(&cached, &snapshot.bytes)?;
            let trained = match &snapshot.training {
                None => String::new(),
                Some(Training::Imports(found)) => {
                    format!(", with the {} modules a training run imported", found.len())
                }
                Some(Training::Failed(why)) => format!(" (training run: {why})"),
            };
            let message = describe(snapshot.bytes.len(), &trained);
            Ok((snapshot.bytes, message))
        })
    }

    /// wasm-opt's passes over the module as it is by now (the snapshot, when pre-initialised),
    /// or just stripping (unless `--debug`). The result is cached by those bytes and the
    /// settings, since binaryen takes tens of seconds on a module with CPython in it.
    fn optimize(&self, bytes: Vec<u8>) -> Result<Vec<u8>> {
        let plan = self.plan;
        if plan.optimize == Optimize::None {
            return if plan.debug {
                Ok(bytes)
            } else {
                postprocess::strip_debug(&bytes)
            };
        }
        let binaryen = self
            .binaryen
            .context("internal error: an optimising plan without binaryen")?;
        let key = format!(
            "{}-{}.wasm",
            crate::fsutil::sha256_hex(&bytes),
            &crate::fsutil::sha256_hex(
                plan.optimize
                    .cache_key(plan.debug, &binaryen.identity)
                    .as_bytes()
            )[..16]
        );
        let cached = self.home.cache("wasm-opt").join(key);
        let verb = "Optimized";
        let before = bytes.len() as u64;
        let describe = |after: u64, how: &str| {
            format!(
                "for {} ({}): {} -> {} ({:+.1}%){how}",
                plan.optimize.name(),
                plan.optimize.binaryen_flag(),
                human_size(before),
                human_size(after),
                (after as f64 - before as f64) * 100.0 / before as f64
            )
        };
        if let Ok(hit) = fs_err::read(&cached) {
            let message = describe(hit.len() as u64, ", cached");
            self.shell.stage_started(verb);
            self.shell
                .stage_done(verb, &message, std::time::Duration::ZERO);
            return Ok(hit);
        }
        timed(self.shell, verb, || {
            let optimized = optimize::run(plan.optimize, plan.debug, &binaryen.library, &bytes)?
                .context("internal error: an optimising plan that binaryen skipped")?;
            postprocess::validate(&optimized, self.library())
                .context("binaryen's output does not pass the checks its input passed")?;
            crate::fsutil::atomic_write(&cached, &optimized)?;
            let message = describe(optimized.len() as u64, "");
            Ok((optimized, message))
        })
    }

    fn componentize(&self, module: &[u8]) -> Result<(Vec<u8>, Option<String>)> {
        if let (Some(library), Some(names)) = (self.library(), &self.plan.wit) {
            return timed(self.shell, "Wrapped", || {
                let typed = postprocess::typed::describe(module, library)?;
                let described: Vec<&str> = typed.exports.iter().map(|e| e.name.as_str()).collect();
                if described != names.exports {
                    bail!(
                        "internal error: the library describes exports {described:?}, not {:?}",
                        names.exports
                    );
                }
                let replaced: Vec<String> =
                    library.exports.iter().map(|e| e.name.clone()).collect();
                let core = postprocess::typed::add_exports(module, &typed.exports, &replaced)?;
                let component = postprocess::typed::encode(&core, &typed.wit)?;
                let message = format!(
                    "into a WASI 0.2 component of world `{}` with {} typed exports (+{})",
                    names.world,
                    typed.exports.len(),
                    human_size(component.len().saturating_sub(module.len()) as u64)
                );
                Ok(((component, Some(typed.wit)), message))
            });
        }
        timed(self.shell, "Wrapped", || {
            let component = postprocess::component::encode(module)?;
            let message = format!(
                "into a WASI 0.2 command component (+{})",
                human_size(component.len().saturating_sub(module.len()) as u64)
            );
            Ok(((component, None), message))
        })
    }

    /// What the module says about itself in its `pywasm.manifest` section.
    fn manifest(&self, installed: &Installed, files: Vec<FileDigest>) -> BuildManifest {
        let (plan, sdk) = (self.plan, self.sdk);
        let distributions = installed
            .dists
            .iter()
            .map(|d| describe::Distribution {
                name: d.name.clone(),
                version: d.version.clone(),
                kind: match (&d.platform, d.source) {
                    (_, Source::Sdist) => "sdist".into(),
                    (Platform::Wasi, _) => "wasi".into(),
                    _ => "pure".into(),
                },
                sha256: d.sha256.clone(),
            })
            .collect();
        let extensions = installed
            .extensions
            .modules
            .iter()
            .map(|m| describe::Extension {
                name: m.name.clone(),
                init: m.init.clone(),
                distribution: m.dist.clone(),
            })
            .collect();
        BuildManifest {
            format: describe::FORMAT,
            pywasm: crate::VERSION.into(),
            project: describe::Named {
                name: plan.name.clone(),
                version: plan.version.clone(),
            },
            entry: plan.kind.display(),
            library: self.library().map(|l| describe::LibraryAbi {
                abi: crate::library::ABI_VERSION,
                exports: l
                    .exports
                    .iter()
                    .map(|e| (e.name.clone(), e.target.display()))
                    .collect(),
                imports: l
                    .imports
                    .iter()
                    .map(|h| (format!("{}.{}", h.module, h.name), h.name.clone()))
                    .collect(),
            }),
            python: describe::Component {
                version: sdk.python.version.clone(),
                identity: sdk.python.identity.clone(),
                digest: sdk.python.digest.clone(),
            },
            toolchain: describe::Component {
                version: sdk.toolchain.kind.name().into(),
                identity: sdk.toolchain.identity.clone(),
                digest: sdk.toolchain.digest.clone(),
            },
            source_date_epoch: plan.source_date_epoch,
            output: describe::Output {
                optimize: plan.optimize.name().into(),
                debug: plan.debug,
                preinit: plan.preinit,
                component_adapter: match (plan.component, &plan.wit) {
                    (true, Some(_)) => Some(postprocess::typed::adapter_sha256()),
                    (true, None) => Some(postprocess::component::adapter_sha256()),
                    (false, _) => None,
                },
            },
            distributions,
            extensions,
            files,
        }
    }

    fn resolve(&self, options: &BuildOptions) -> Result<Resolution> {
        timed(self.shell, "Resolved", || {
            let cx = resolve::ResolveContext {
                shell: self.shell,
                home: self.home,
                project_dir: &self.plan.lock_dir,
                manifest_path: &self.plan.manifest_path,
                python_minor: &self.sdk.python.minor,
                offline: options.offline,
            };
            let resolution = resolve::dependencies(&cx, &self.manifest.deps, &options.extras)?;
            let message = format!("{} distributions", resolution.dists.len());
            Ok((resolution, message))
        })
    }

    fn library(&self) -> Option<&crate::library::Library> {
        match &self.plan.kind {
            ModuleKind::Library(library) => Some(library),
            ModuleKind::Command(_) => None,
        }
    }

    fn collect(&self) -> Result<Collected> {
        timed(self.shell, "Collected", || {
            let plan = self.plan;
            let mut sources = plan.sources.clone();
            if self.library().is_some() {
                sources.push(crate::library::write_guest_package(
                    self.work,
                    self.plan.wit.is_some(),
                )?);
            }
            let app = collect::app_files(&sources, &plan.guest.app_dir)?;
            let stdlib =
                collect::stdlib_files(&self.sdk.python.stdlib_dir(), &plan.guest.stdlib_dir)?;
            let message = format!("{} app files, {} stdlib files", app.len(), stdlib.len());
            Ok((Collected { app, stdlib }, message))
        })
    }

    fn site_host(&self) -> PathBuf {
        install::host_site_dir(self.work)
    }

    fn install(&self, resolution: &Resolution) -> Result<Installed> {
        timed(self.shell, "Installed", || {
            let plan = self.plan;
            let site_host = self.site_host();
            let site = install::SiteDirs {
                host: &site_host,
                guest: &plan.guest.site_dir,
            };
            let project = install::ProjectMetadata {
                name: &plan.name,
                version: &plan.version,
                entry_points: &self.manifest.entry_points,
            };
            let installed = install::install(resolution, &project, &site, &self.sdk.python.minor)?;
            let message = format!(
                "{} distributions, {} extension modules",
                installed.dists.len(),
                installed.extensions.modules.len()
            );
            Ok((installed, message))
        })
    }

    fn compile(
        &self,
        collected: &Collected,
        entry_files: &[(&EntryPoint, FileEntry)],
        installed: &Installed,
    ) -> Result<[Compiled; 3]> {
        timed(self.shell, "Compiled", || {
            let (plan, home) = (self.plan, self.home);
            let compiler = Compiler::new(&self.sdk.python, home, self.shell)?;
            let entries: Vec<(&EntryPoint, &FileEntry)> =
                entry_files.iter().map(|(e, f)| (*e, f)).collect();
            let app = compiler.app(&collected.app, &entries, self.work)?;
            let stdlib = compiler.stdlib(&collected.stdlib, plan.docstrings, &home.cache("pyc"))?;
            let site = compiler.packages(
                &installed.files,
                (&self.site_host(), &plan.guest.site_dir),
                &home.cache("pyc-site"),
            )?;
            let message = format!(
                "{} app modules to bytecode ({} stdlib, {} from dependencies)",
                app.bytecode.len(),
                stdlib.bytecode.len(),
                site.bytecode.len()
            );
            Ok(([app, stdlib, site], message))
        })
    }

    /// Links the stdlib extension modules this CPython lacks (zlib, _sqlite3) when the bundle's
    /// imports reach them and `cargo xtask build-wheel` has built them; returns those reached
    /// and not built, each with a warning.
    fn stdlib_extensions(
        &self,
        reach: &Reach,
        installed: &mut Installed,
    ) -> Result<Vec<Unavailable>> {
        let guest = &self.plan.guest;
        let reached = reach.graph.reachable(&reach.roots);
        let available = install::stdlib_wheels(&self.home.wheels_index(), &self.sdk.python.minor)?;
        let wanted: Vec<&install::StdlibWheel> = available
            .iter()
            .filter(|w| w.modules.iter().any(|m| reached.contains(m)))
            .collect();
        let unavailable: Vec<Unavailable> = STDLIB_WHEEL_MODULES
            .iter()
            .filter(|(module, _)| {
                reached.contains(*module)
                    && !available
                        .iter()
                        .any(|w| w.modules.iter().any(|m| m == module))
            })
            .map(|(module, recipe)| Unavailable {
                module: module.to_string(),
                help: format!(
                    "this CPython for WASI has no `{module}`; pywasm links it from the WASI wheel \
                     that `cargo xtask build-wheel {recipe}` builds (once per machine): run it and \
                     build again"
                ),
            })
            .collect();
        for missing in &unavailable {
            self.shell.warn(&format!(
                "the bundle imports `{}`, which is not available: {}",
                missing.module, missing.help
            ));
        }
        if wanted.is_empty() {
            return Ok(unavailable);
        }
        let site_host = self.site_host();
        let site = install::SiteDirs {
            host: &site_host,
            guest: &guest.site_dir,
        };
        install::add_stdlib_wheels(installed, &wanted, &site, &self.sdk.python.minor)?;
        for wheel in wanted {
            self.shell.status(
                "Adding",
                &format!("stdlib module {}", wheel.modules.join(", ")),
            );
        }
        Ok(unavailable)
    }

    /// Drops the stdlib modules and the dependencies' top-level packages nothing reaches
    /// (`[tool.pywasm] stdlib`), and embeds their names for the error that says how to put them
    /// back. Returns the table of the C modules to link.
    fn select_modules(
        &self,
        reach: &Reach,
        collected: &mut Collected,
        installed: &mut Installed,
        bytecode: &mut [Bytecode; 3],
    ) -> Result<Vec<Builtin>> {
        let (plan, manifest) = (self.plan, self.manifest);
        let available = builtins::available(&self.sdk.python.libpython())?;
        timed(self.shell, "Selected", || {
            let request = stdlib::Request {
                mode: manifest.stdlib,
                include: &manifest.include,
                exclude: &manifest.exclude,
                builtins: &available,
            };
            let mut selection =
                stdlib::select(&reach.graph, &reach.roots, &reach.stdlib_modules, &request)?;
            let included: Vec<&str> = manifest.include.iter().map(|i| i.value.as_str()).collect();
            let table = builtins::table(&available, selection.kept.as_ref(), &included);
            let dir = &plan.guest.stdlib_dir;
            collected.stdlib.retain(|f| selection.keeps(dir, &f.guest));
            bytecode[1].retain(|(guest, _)| selection.keeps(dir, guest));
            let total = reach.stdlib_modules.len();
            let kept = total - selection.left_out.len();
            let packages = match &selection.kept {
                Some(reached) => {
                    let dropped = drop_unreached_packages(
                        &plan.guest.site_dir,
                        reached,
                        installed,
                        &mut bytecode[2],
                    );
                    let message = match dropped.len() {
                        0 => String::new(),
                        n => format!(", {n} unused packages of dependencies left out"),
                    };
                    selection.left_out.extend(dropped);
                    message
                }
                None => String::new(),
            };
            // C modules not linked are named by the same error as left-out Python modules.
            selection.left_out.extend(
                available
                    .iter()
                    .filter(|m| !table.iter().any(|b| &b.name == *m))
                    .cloned(),
            );
            let host = self.work.join(stdlib::LEFT_OUT_FILE);
            fs_err::write(&host, selection.left_out_file())?;
            collected.stdlib.push(FileEntry {
                guest: format!("{dir}/{}", stdlib::LEFT_OUT_FILE),
                host,
            });
            let which = if manifest.stdlib == StdlibMode::Full {
                "(stdlib = \"full\")"
            } else {
                "the ones the bundle imports"
            };
            let message = format!(
                "{kept} of {total} stdlib modules and {} C modules, {which}{packages}",
                table.len()
            );
            Ok((table, message))
        })
    }

    fn bundle(
        &self,
        collected: &Collected,
        installed: &Installed,
        bytecode: [Bytecode; 3],
    ) -> Result<(PathBuf, usize, Vec<FileDigest>)> {
        // In a directory of its own, which a pre-initialised build's snapshot run is given.
        let image_path = self.work.join("image").join(preinit::IMAGE_FILE);
        let (size, digests) = timed(self.shell, "Bundled", || {
            let (image, stats, digests) = image(self.plan, collected, &installed.files, bytecode)?;
            fs_err::create_dir_all(crate::fsutil::parent_dir(&image_path))?;
            fs_err::write(&image_path, &image)?;
            let message = format!(
                "{} files in {} directories ({}, {} compressed to {})",
                stats.files,
                stats.dirs,
                human_size(stats.bytes as u64),
                stats.compressed,
                human_size(image.len() as u64)
            );
            Ok(((image.len(), digests), message))
        })?;
        Ok((image_path, size, digests))
    }

    fn link(
        &self,
        installed: &Installed,
        builtins: &[Builtin],
        image: &Path,
        image_size: usize,
    ) -> Result<PathBuf> {
        timed(self.shell, "Linked", || {
            let extensions = &installed.extensions;
            let generated = codegen::write_sources(
                self.plan,
                &extensions.modules,
                builtins,
                self.work,
                image,
                image_size,
            )?;
            let linked = link::link(
                self.sdk,
                &generated,
                extensions,
                self.work,
                self.plan,
                &link::LinkCache {
                    objects: self.home.cache("objects"),
                    modules: self.home.cache("linked"),
                },
                self.shell,
            )?;
            Ok((linked, format!("with {}", self.sdk.toolchain.identity)))
        })
    }
}

impl Contents {
    /// The dotted names of the extension modules linked in.
    pub fn extension_names(&self) -> Vec<&str> {
        self.extensions
            .iter()
            .map(|(m, _)| m.name.as_str())
            .collect()
    }

    /// A plain-text table of the module's contents.
    pub fn table(&self) -> String {
        let mut rows: Vec<[String; 4]> = vec![[
            "distribution".into(),
            "version".into(),
            "kind".into(),
            "size".into(),
        ]];
        for d in &self.dists {
            let kind = match (&d.platform, d.source) {
                (_, Source::Sdist) => "pure (built from sdist)".to_string(),
                (Platform::Wasi, _) => "WASI".to_string(),
                (Platform::Pure, _) => "pure".to_string(),
                (Platform::Other(tag), _) => tag.clone(),
            };
            rows.push([
                d.name.clone(),
                d.version.clone(),
                kind,
                format!("{} files, {}", d.files, human_size(d.size)),
            ]);
        }
        for (what, files, size) in [
            ("(app)", self.app_files, self.app_size),
            ("(stdlib)", self.stdlib_files, self.stdlib_size),
        ] {
            rows.push([
                what.into(),
                String::new(),
                String::new(),
                format!("{files} files, {}", human_size(size)),
            ]);
        }
        let mut out = render_table(&rows);
        if !self.extensions.is_empty() {
            let mut ext: Vec<[String; 4]> = vec![[
                "extension module".into(),
                "init".into(),
                "distribution".into(),
                "archive".into(),
            ]];
            for (m, size) in &self.extensions {
                ext.push([
                    m.name.clone(),
                    m.init.clone(),
                    m.dist.clone(),
                    human_size(*size),
                ]);
            }
            out.push('\n');
            out.push_str(&render_table(&ext));
        }
        out
    }
}

fn render_table(rows: &[[String; 4]]) -> String {
    let mut widths = [0usize; 4];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn contents(collected: &Collected, installed: Installed) -> Result<Contents> {
    let mut extensions = Vec::new();
    for module in installed.extensions.modules {
        let size = fs_err::metadata(&module.archive)?.len();
        extensions.push((module, size));
    }
    Ok(Contents {
        dists: installed.dists,
        extensions,
        app_files: collected.app.len(),
        app_size: install::total_size(&collected.app)?,
        stdlib_files: collected.stdlib.len(),
        stdlib_size: install::total_size(&collected.stdlib)?,
    })
}

/// What `pywasm lock` is asked.
#[derive(Clone, Debug, Default)]
pub struct LockOptions {
    pub project_dir: PathBuf,
    pub extras: Vec<String>,
    pub home: Option<SdkHome>,
}

/// Resolves the project's dependencies afresh with pip and writes `pywasm.lock`.
pub fn lock(options: &LockOptions, shell: &Shell) -> Result<Resolution> {
    let start = Instant::now();
    let (pins, home, manifest) = inputs(&options.home, &options.project_dir)?;
    let cx = resolve::ResolveContext {
        shell,
        home: &home,
        project_dir: &manifest.dir,
        manifest_path: &manifest.path,
        python_minor: pins.python_minor(),
        offline: false,
    };
    let (requirements, inputs) =
        resolve::requirements(&manifest.deps, &options.extras, pins.python_minor())?;
    let resolution = resolve::fresh(&cx, &manifest.deps, &requirements, inputs)?;
    let path = resolution.lock().save(&manifest.dir)?;
    for dist in &resolution.dists {
        shell.verbose(&format!(
            "{} {} ({})",
            dist.locked.name, dist.locked.version, dist.locked.file
        ));
    }
    shell.status(
        "Locked",
        &format!(
            "{} distributions in `{}` in {}",
            resolution.dists.len(),
            display_rel(&path, &manifest.dir),
            seconds(start.elapsed())
        ),
    );
    Ok(resolution)
}

/// What every command starts from: the pins, the home (given, or from the environment) and the
/// project's manifest.
fn inputs(home: &Option<SdkHome>, project_dir: &Path) -> Result<(Pins, SdkHome, Manifest)> {
    let pins = Pins::embedded()?;
    let home = match home {
        Some(home) => home.clone(),
        None => SdkHome::from_env()?,
    };
    let manifest = Manifest::load(project_dir)?;
    Ok((pins, home, manifest))
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
    let component = options.component.unwrap_or(manifest.component);
    let wit = match &manifest.kind {
        ModuleKind::Library(library) if component && options.tests.is_none() => {
            Some(crate::library::WitNames::new(&manifest.name, library)?)
        }
        _ => None,
    };
    let mut sources = collect::source_roots(manifest)?;
    let mut kind = manifest.kind.clone();
    let mut lock_dir = manifest.dir.clone();
    let mut default_output = manifest.output.clone();
    if let Some(tests) = &options.tests {
        tests.extend_sources(&mut sources);
        kind = ModuleKind::Command(crate::testing::TestBuild::entry());
        lock_dir = tests.dir.clone();
        default_output = tests.output(&manifest.name);
    }
    let output = match &options.output {
        Some(out) if out.is_absolute() => out.clone(),
        Some(out) => std::env::current_dir()
            .context("failed to read the current directory")?
            .join(out),
        None => default_output,
    };
    Ok(BuildPlan {
        project_dir: manifest.dir.clone(),
        manifest_path: manifest.path.clone(),
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        kind,
        sources,
        output,
        source_date_epoch,
        guest: GuestLayout::for_python(&sdk.python.minor),
        optimize: options.optimize.or(manifest.optimize).unwrap_or_else(|| {
            if options.release {
                Profile::Release
            } else {
                manifest.profile
            }
            .default_optimize()
        }),
        debug: options.debug,
        component,
        component_exit_codes: manifest.component_exit_codes,
        wit,
        preinit: options.preinit.unwrap_or(manifest.preinit),
        stdlib_sources: manifest.stdlib_sources,
        docstrings: manifest.docstrings,
        preinit_imports: manifest
            .preinit_imports
            .iter()
            .map(|m| m.value.clone())
            .collect(),
        preinit_train: manifest.preinit_train.clone(),
        teardown: manifest.teardown,
        tmp_size: manifest.tmp_size,
        stack_size: manifest.stack_size,
        lock_dir,
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

/// The file of each function the module runs: the entry point, or every export.
fn entry_files<'p>(
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
        None => bail!("{message}\n  = help: {help}"),
    }
}

/// The file system image: app sources, the stdlib, installed distributions, and their bytecode.
fn image(
    plan: &BuildPlan,
    collected: &Collected,
    site: &[FileEntry],
    bytecode: [Bytecode; 3],
) -> Result<(Vec<u8>, crate::bundle::ImageStats, Vec<FileDigest>)> {
    let mut builder = ImageBuilder::new();
    let [app_code, stdlib_code, site_code] = bytecode;
    // Without `stdlib-sources`, a stdlib module that has bytecode is embedded as bytecode only,
    // at the place the sourceless loader looks (`json/decoder.pyc`); its source goes.
    let mut stdlib_code: Vec<(String, Vec<u8>)> = stdlib_code;
    let mut replaced = std::collections::BTreeSet::new();
    if !plan.stdlib_sources {
        for (guest, _) in &mut stdlib_code {
            if let Some((source, legacy)) = sourceless(guest) {
                replaced.insert(source);
                *guest = legacy;
            }
        }
    }
    let stdlib_files = collected
        .stdlib
        .iter()
        .filter(|f| !replaced.contains(&f.guest));
    for file in collected.app.iter().chain(stdlib_files).chain(site) {
        builder.add_file(&file.guest, fs_err::read(&file.host)?)?;
    }
    for (guest, bytes) in [app_code, stdlib_code, site_code].into_iter().flatten() {
        builder.add_file(&guest, bytes)?;
    }
    builder.add_mount(&plan.guest.app_dir)?;
    builder.add_mount(&plan.guest.stdlib_dir)?;
    let digests = builder.digests();
    let (image, stats) = builder.build(plan.source_date_epoch)?;
    Ok((image, stats, digests))
}

/// Removes the files, bytecode and extension modules of the top-level packages and modules in
/// site-packages that `reached` does not name; `.dist-info` directories stay, so metadata
/// lookups still work. Returns the names left out.
fn drop_unreached_packages(
    site_dir: &str,
    reached: &std::collections::BTreeSet<String>,
    installed: &mut Installed,
    bytecode: &mut Bytecode,
) -> Vec<String> {
    let mut dropped = std::collections::BTreeSet::new();
    let mut keep = |guest: &str| match site_top_level(site_dir, guest) {
        Some(name) if !reached.contains(&name) => {
            dropped.insert(name);
            false
        }
        _ => true,
    };
    installed.files.retain(|f| keep(&f.guest));
    bytecode.retain(|(guest, _)| keep(guest));
    installed.extensions.modules.retain(|m| {
        let top = m.name.split('.').next().unwrap_or_default();
        reached.contains(top)
    });
    dropped.into_iter().collect()
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

/// For `<dir>/__pycache__/<name>.<tag>.pyc`: the source `<dir>/<name>.py` and the sourceless
/// bytecode path `<dir>/<name>.pyc`.
fn sourceless(pyc: &str) -> Option<(String, String)> {
    let (cache_dir, file) = pyc.rsplit_once('/')?;
    let dir = cache_dir.strip_suffix("/__pycache__")?;
    let stem = file.strip_suffix(".pyc")?.split('.').next()?;
    Some((format!("{dir}/{stem}.py"), format!("{dir}/{stem}.pyc")))
}

fn display_rel(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
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

    #[test]
    fn bytecode_moves_to_where_the_sourceless_loader_looks() {
        assert_eq!(
            sourceless("/lib/json/__pycache__/decoder.cpython-311.pyc"),
            Some((
                "/lib/json/decoder.py".into(),
                "/lib/json/decoder.pyc".into()
            ))
        );
        assert_eq!(sourceless("/lib/json/decoder.py"), None);
    }
}
