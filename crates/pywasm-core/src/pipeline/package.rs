//! The finishing stages: binaryen's passes, the module's description of itself (its
//! `pywasm.manifest` section), and the wrapping the output kind asks for.

use anyhow::{Context as _, Result, bail};

use super::Context;
use super::bundle::Image;
use super::select::Selected;
use super::snapshot::Snapshotted;
use crate::fsutil::sha256_hex;
use crate::module::describe::{self, BuildManifest};
use crate::module::postprocess;
use crate::module::postprocess::optimize::{self, Optimize};
use crate::plan::{BuildPlan, OutputKind};
use crate::python::lock::Source;
use crate::python::wheel::Platform;
use crate::sdk::Sdk;
use crate::shell::{human_size, timed};

/// The module after binaryen (or after stripping).
pub(super) struct Optimized {
    pub bytes: Vec<u8>,
}

/// What is published, and for a library component its WIT world.
pub(super) struct Artifact {
    pub bytes: Vec<u8>,
    pub wit: Option<String>,
}

/// wasm-opt's passes over the module as it is by now, or just stripping (unless `--debug`).
/// Cached by those bytes and the settings, since binaryen takes tens of seconds on a module
/// with CPython in it.
pub(super) fn optimize(cx: &Context, module: Snapshotted) -> Result<Optimized> {
    let plan = cx.plan;
    let level = plan.settings.optimize_level();
    let bytes = module.bytes;
    if level == Optimize::None {
        let bytes = if plan.debug {
            bytes
        } else {
            postprocess::strip_debug(&bytes)?
        };
        return Ok(Optimized { bytes });
    }
    let binaryen = cx
        .binaryen
        .context("internal error: an optimising plan without binaryen")?;
    let key = format!(
        "{}-{}.wasm",
        sha256_hex(&bytes),
        &sha256_hex(level.cache_key(plan.debug, &binaryen.identity).as_bytes())[..16]
    );
    let cached = cx.home.cache("wasm-opt").join(key);
    let verb = "Optimized";
    let before = bytes.len() as u64;
    let describe = |after: u64, how: &str| {
        format!(
            "for {} ({}): {} -> {} ({:+.1}%){how}",
            level.name(),
            level.binaryen_flag(),
            human_size(before),
            human_size(after),
            (after as f64 - before as f64) * 100.0 / before as f64
        )
    };
    if let Ok(hit) = fs_err::read(&cached) {
        let message = describe(hit.len() as u64, ", cached");
        cx.shell.stage_started(verb);
        cx.shell
            .stage_done(verb, &message, std::time::Duration::ZERO);
        return Ok(Optimized { bytes: hit });
    }
    timed(cx.shell, verb, || {
        let optimized = optimize::run(level, plan.debug, &binaryen.library, &bytes)?
            .context("internal error: an optimising plan that binaryen skipped")?;
        postprocess::validate(&optimized, plan.library())
            .context("binaryen's output does not pass the checks its input passed")?;
        crate::fsutil::atomic_write(&cached, &optimized)?;
        let message = describe(optimized.len() as u64, "");
        Ok((Optimized { bytes: optimized }, message))
    })
}

/// The published bytes: the module with its manifest section, wrapped as the output kind says.
pub(super) fn package(
    cx: &Context,
    module: Optimized,
    selected: &Selected,
    image: &Image,
) -> Result<Artifact> {
    let mut bytes = module.bytes;
    describe::embed(&mut bytes, &manifest(cx.plan, cx.sdk, selected, image))?;
    match &cx.plan.output_kind {
        OutputKind::Module => Ok(Artifact { bytes, wit: None }),
        OutputKind::CommandComponent { .. } => timed(cx.shell, "Wrapped", || {
            let component = postprocess::component::encode(&bytes)?;
            let message = format!(
                "into a WASI 0.2 command component (+{})",
                human_size(component.len().saturating_sub(bytes.len()) as u64)
            );
            let artifact = Artifact {
                bytes: component,
                wit: None,
            };
            Ok((artifact, message))
        }),
        OutputKind::LibraryComponent(names) => timed(cx.shell, "Wrapped", || {
            let library = cx
                .plan
                .library()
                .context("internal error: a library component of a command")?;
            let typed = postprocess::typed::describe(&bytes, library)?;
            let described: Vec<&str> = typed.exports.iter().map(|e| e.name.as_str()).collect();
            if described != names.exports {
                bail!(
                    "internal error: the library describes exports {described:?}, not {:?}",
                    names.exports
                );
            }
            let replaced: Vec<String> = library.exports.iter().map(|e| e.name.clone()).collect();
            let core = postprocess::typed::add_exports(&bytes, &typed.exports, &replaced)?;
            let component = postprocess::typed::encode(&core, &typed.wit)?;
            let message = format!(
                "into a WASI 0.2 component of world `{}` with {} typed exports (+{})",
                names.world,
                typed.exports.len(),
                human_size(component.len().saturating_sub(bytes.len()) as u64)
            );
            let artifact = Artifact {
                bytes: component,
                wit: Some(typed.wit),
            };
            Ok((artifact, message))
        }),
    }
}

/// What the module says about itself in its `pywasm.manifest` section.
fn manifest(plan: &BuildPlan, sdk: &Sdk, selected: &Selected, image: &Image) -> BuildManifest {
    let distributions = selected
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
    let extensions = selected
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
        library: plan.library().map(|l| describe::LibraryAbi {
            abi: crate::module::library::ABI_VERSION,
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
        python: describe::Pinned {
            version: sdk.python.version.clone(),
            identity: sdk.python.identity.clone(),
            digest: sdk.python.digest.clone(),
        },
        toolchain: describe::Pinned {
            version: sdk.toolchain.kind.name().into(),
            identity: sdk.toolchain.identity.clone(),
            digest: sdk.toolchain.digest.clone(),
        },
        source_date_epoch: plan.source_date_epoch,
        output: describe::Output {
            optimize: plan.settings.optimize_level().name().into(),
            debug: plan.debug,
            preinit: plan.settings.preinit,
            component_adapter: match &plan.output_kind {
                OutputKind::Module => None,
                OutputKind::CommandComponent { .. } => {
                    Some(postprocess::component::adapter_sha256())
                }
                OutputKind::LibraryComponent(_) => Some(postprocess::typed::adapter_sha256()),
            },
        },
        distributions,
        extensions,
        files: image.digests.clone(),
    }
}
