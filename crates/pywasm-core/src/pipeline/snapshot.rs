//! Pre-initialisation: the started interpreter, with the entry module imported, snapshotted
//! into the module (`[tool.pywasm] preinit`).

use anyhow::{Context as _, Result};

use super::Context;
use super::bundle::Image;
use super::link::Linked;
use super::select::Selected;
use crate::fsutil::sha256_hex;
use crate::module::library::ModuleKind;
use crate::module::postprocess;
use crate::module::preinit::{self, Training};
use crate::shell::{human_size, timed};

/// The module the later stages take: the snapshot, or the linked module when `preinit` is off.
pub(super) struct Snapshotted {
    pub bytes: Vec<u8>,
}

/// Cached by the linked bytes, the image and the training run's arguments, since the snapshot
/// depends on nothing else.
pub(super) fn snapshot(
    cx: &Context,
    linked: Linked,
    image: &Image,
    selected: &Selected,
) -> Result<Snapshotted> {
    let plan = cx.plan;
    if !plan.settings.preinit {
        return Ok(Snapshotted {
            bytes: linked.bytes,
        });
    }
    let linked = linked.bytes;
    let train = match &plan.kind {
        ModuleKind::Command(_) => plan.settings.preinit_train.as_deref(),
        ModuleKind::Library(_) => None,
    };
    let training = train.map_or(String::new(), |args| {
        let args = sha256_hex(format!("{args:?}").as_bytes());
        format!("-train-{}", &args[..16])
    });
    let cached = cx.home.cache("preinit").join(format!(
        "{}-{}{training}.wasm",
        sha256_hex(&linked),
        &image.sha256[..32]
    ));
    // What the snapshot adds besides the image, which the linked module leaves out.
    let before = linked.len() + image.size;
    let describe = |after: usize, how: &str| {
        format!(
            "interpreter started and `{}` imported at build time (+{}){how}",
            plan.kind.modules().join("`, `"),
            human_size(after.saturating_sub(before) as u64)
        )
    };
    if let Ok(hit) = fs_err::read(&cached) {
        let message = describe(hit.len(), ", cached");
        cx.shell.stage_started("Snapshotted");
        cx.shell
            .stage_done("Snapshotted", &message, std::time::Duration::ZERO);
        return Ok(Snapshotted { bytes: hit });
    }
    timed(cx.shell, "Snapshotted", || {
        let inputs = preinit::Inputs {
            linked: &linked,
            image_dir: crate::fsutil::parent_dir(&image.path),
            code_cache: &cx.home.cache("cwasm"),
        };
        let snapshot = preinit::snapshot(&inputs, &selected.unavailable, plan.library(), train)?;
        if snapshot.reused_code {
            cx.shell
                .verbose("the linked module's compiled code came from the cache");
        }
        postprocess::validate(&snapshot.bytes, plan.library())
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
        Ok((
            Snapshotted {
                bytes: snapshot.bytes,
            },
            message,
        ))
    })
}
