//! PEP 427 file names and PEP 503 distribution names: what a wheel is called, and how names
//! compare.

use anyhow::Result;

use crate::diagnostic::Diagnostic;

/// PEP 427 file name: {distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl; tags may
/// be compressed sets with '.'.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WheelName {
    pub distribution: String,
    pub version: String,
    pub build: Option<String>,
    pub python_tags: Vec<String>,
    pub abi_tags: Vec<String>,
    pub platform_tags: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Platform {
    Pure,
    Wasi,
    Other(String),
}

impl WheelName {
    pub fn parse(file_name: &str) -> Result<WheelName> {
        let invalid = |why: &str| {
            anyhow::Error::from(
                Diagnostic::new(format!(
                    "`{file_name}` is not a valid wheel file name: {why}"
                ))
                .help(
                    "wheel file names look like `name-1.0-py3-none-any.whl` (PEP 427); keep \
                         the published name",
                ),
            )
        };
        let stem = file_name.strip_suffix(".whl");
        let stem = stem.ok_or_else(|| invalid("it does not end in `.whl`"))?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (build, tags) = match parts.len() {
            5 => (None, &parts[2..]),
            6 => (Some(parts[2]), &parts[3..]),
            n => return Err(invalid(&format!("{n} `-`-separated parts, not 5 or 6"))),
        };
        let name_char = |c: char| c.is_ascii_alphanumeric() || "_.".contains(c);
        let why = if parts.contains(&"") {
            "an empty `-`-separated part"
        } else if !parts[0].chars().all(name_char) {
            "the distribution may only hold letters, digits, `_` and `.`"
        } else if build.is_some_and(|b| !b.starts_with(|c: char| c.is_ascii_digit())) {
            "the build tag does not start with a digit"
        } else if tags.iter().any(|t| t.split('.').any(str::is_empty)) {
            "a tag set holds an empty tag"
        } else {
            ""
        };
        if !why.is_empty() {
            return Err(invalid(why));
        }
        let set = |i: usize| tags[i].split('.').map(str::to_owned).collect();
        Ok(WheelName {
            distribution: parts[0].to_owned(),
            version: parts[1].to_owned(),
            build: build.map(str::to_owned),
            python_tags: set(0),
            abi_tags: set(1),
            platform_tags: set(2),
        })
    }

    pub fn platform(&self) -> Platform {
        if self.platform_tags.iter().all(|t| t == "any") {
            Platform::Pure
        } else if self.platform_tags.iter().any(|t| t.starts_with("wasi")) {
            Platform::Wasi
        } else {
            Platform::Other(self.platform_tags.join("."))
        }
    }

    /// The distribution is escaped (`zope.interface` → `zope_interface`), the form current
    /// installers expect; a name parsed from a modern file name renders unchanged.
    pub fn file_name(&self) -> String {
        let version = self.version.replace('-', "_");
        let mut parts = vec![escape_name(&self.distribution), version];
        parts.extend(self.build.clone());
        let tags = [&self.python_tags, &self.abi_tags, &self.platform_tags];
        parts.extend(tags.map(|t| t.join(".")));
        format!("{}.whl", parts.join("-"))
    }
}

/// PEP 503 normalisation: lowercase, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    collapse_separators(name, '-').to_lowercase()
}

/// The escaped form used in wheel and .dist-info file names: runs of `-_.` become `_` (case kept).
pub fn escape_name(name: &str) -> String {
    collapse_separators(name, '_')
}

fn collapse_separators(name: &str, sep: char) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        let is_sep = matches!(c, '-' | '_' | '.');
        if !is_sep {
            out.push(c);
        } else if !in_run {
            out.push(sep);
        }
        in_run = is_sep;
    }
    out
}
