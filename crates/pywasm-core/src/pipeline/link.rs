//! The C entry point generated from `templates/`, linked with libpython and the extension
//! modules into a module, then validated.

use anyhow::Result;

use super::Context;
use super::bundle::Image;
use super::select::Selected;
use crate::shell::timed;
use crate::{module::codegen, module::postprocess};

/// A module that passed validation.
pub(super) struct Linked {
    pub bytes: Vec<u8>,
}

pub(super) fn link(cx: &Context, selected: &Selected, image: &Image) -> Result<Linked> {
    let path = timed(cx.shell, "Linked", || {
        let generated = codegen::write_sources(
            cx.plan,
            &selected.extensions.modules,
            &selected.builtins,
            cx.work,
            &image.path,
            image.size,
        )?;
        let linked = crate::module::link::link(
            cx.sdk,
            &generated,
            &selected.extensions,
            cx.work,
            cx.plan,
            &crate::module::link::LinkCache {
                objects: cx.home.cache("objects"),
                modules: cx.home.cache("linked"),
            },
            cx.shell,
        )?;
        Ok((linked, format!("with {}", cx.sdk.toolchain.identity)))
    })?;
    let bytes = fs_err::read(&path)?;
    timed(cx.shell, "Validated", || {
        let library = cx.plan.library();
        let facts = postprocess::validate(&bytes, library)?;
        let exports = match library {
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
    Ok(Linked { bytes })
}
