//! What went into a module, for `pywasm build --list`.

use anyhow::Result;

use super::select::Selected;
use crate::python::extensions::ExtensionModule;
use crate::python::install::{self, InstalledDist};
use crate::python::lock::Source;
use crate::python::wheel::Platform;
use crate::shell::human_size;

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

impl Contents {
    pub(super) fn new(selected: &Selected) -> Result<Contents> {
        let mut extensions = Vec::new();
        for module in &selected.extensions.modules {
            let size = fs_err::metadata(&module.archive)?.len();
            extensions.push((module.clone(), size));
        }
        Ok(Contents {
            dists: selected.dists.clone(),
            extensions,
            app_files: selected.app.len(),
            app_size: install::total_size(&selected.app)?,
            stdlib_files: selected.stdlib.len(),
            stdlib_size: install::total_size(&selected.stdlib)?,
        })
    }
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
