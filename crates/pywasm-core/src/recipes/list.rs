//! `pywasm wheel list`.

use anyhow::Result;

use super::{EMBEDDED, make};
use crate::sdk::SdkHome;
use crate::sdk::pins::Pins;

/// `pywasm wheel list`: each recipe, its distribution and version, what it provides, and the
/// CPython versions whose wheel is in this home's index.
pub fn table(home: &SdkHome) -> Result<String> {
    let pins = Pins::embedded()?;
    let index = home.wheels_index();
    let mut built: Vec<crate::python::wheel::WheelName> = Vec::new();
    if index.is_dir() {
        for entry in fs_err::read_dir(&index)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Ok(wheel) = crate::python::wheel::WheelName::parse(&name) {
                built.push(wheel);
            }
        }
    }
    let mut rows = vec![[
        "recipe".to_owned(),
        "distribution".to_owned(),
        "version".to_owned(),
        "provides".to_owned(),
        "built for".to_owned(),
    ]];
    for embedded in EMBEDDED {
        let recipe = embedded.recipe()?;
        let version = make::version(&recipe, &pins)?;
        let escaped = crate::python::wheel::escape_name(&recipe.wheel.distribution);
        let mut minors: Vec<String> = built
            .iter()
            .filter(|w| w.distribution == escaped && w.version == version)
            .flat_map(|w| w.python_tags.iter())
            .filter_map(|tag| tag.strip_prefix("cp3").map(|rest| format!("3.{rest}")))
            .collect();
        minors.sort();
        minors.dedup();
        let modules: Vec<&str> = recipe.modules.iter().map(|m| m.name.as_str()).collect();
        rows.push([
            embedded.name.to_owned(),
            recipe.wheel.distribution.clone(),
            version,
            modules.join(", "),
            if minors.is_empty() {
                "-".to_owned()
            } else {
                minors.join(", ")
            },
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    Ok(out)
}
