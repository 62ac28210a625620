//! Errors users act on, as data: what is wrong, where (a span in a file), how to fix it. A
//! [`Diagnostic`] travels inside `anyhow::Error` like any other error; the shell finds it in the
//! chain and renders it for people (rustc style, with the source line) or as a JSON event that
//! keeps the span.

use std::fmt::{self, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// An error with its place and its fix. Build one with [`Diagnostic::new`] (or
/// [`Origin::error`] when it has a place) and return it as `Err(diagnostic.into())`.
#[derive(Clone, Debug, Serialize)]
pub struct Diagnostic {
    pub message: String,
    /// Where the problem is, when it is in a file pywasm read.
    pub span: Option<Origin>,
    /// How to fix it: one sentence, imperative.
    pub help: Option<String>,
    /// Facts that explain it (what was found instead, what pywasm tried).
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            span: None,
            help: None,
            notes: Vec::new(),
        }
    }

    pub fn at(mut self, span: Origin) -> Diagnostic {
        self.span = Some(span);
        self
    }

    /// Sets the place when there is one (values given by default have none).
    pub fn at_opt(mut self, span: Option<&Origin>) -> Diagnostic {
        self.span = span.cloned();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// The diagnostic an error carries, if any: the error itself, a context added to it (which
    /// `chain()` shows only as its wrapper), or a cause further down; or the diagnostic of a
    /// typed error callers match on (`SdkError`, `MissingWheels`).
    pub fn find(err: &anyhow::Error) -> Option<Diagnostic> {
        let own = err
            .downcast_ref::<Diagnostic>()
            .or_else(|| err.chain().find_map(|e| e.downcast_ref::<Diagnostic>()));
        own.cloned()
            .or_else(|| {
                err.chain()
                    .find_map(|e| e.downcast_ref::<crate::sdk::SdkError>())
                    .map(crate::sdk::SdkError::diagnostic)
            })
            .or_else(|| crate::recipes::MissingWheels::find(err).map(|m| m.diagnostic.clone()))
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.message.clone();
        let gutter = self.span.as_ref().map_or(1, |s| s.line.to_string().len());
        if let Some(span) = &self.span {
            let _ = write!(
                text,
                "\n{:gutter$}--> {}:{}:{}\n{:gutter$} |\n{} | {}\n{:gutter$} | {:pad$}{}",
                "",
                span.path.display(),
                span.line,
                span.column,
                "",
                span.line,
                span.source_line,
                "",
                "",
                "^".repeat(span.width),
                pad = span.column.saturating_sub(1)
            );
        }
        for note in &self.notes {
            let _ = write!(text, "\n{:gutter$} = note: {note}", "");
        }
        if let Some(help) = &self.help {
            let _ = write!(text, "\n{:gutter$} = help: {help}", "");
        }
        f.write_str(&text)
    }
}

impl std::error::Error for Diagnostic {}

/// A value with the place in `pyproject.toml` it came from, for errors found later.
#[derive(Clone, Debug)]
pub struct Located<T> {
    pub value: T,
    pub origin: Origin,
}

impl Located<String> {
    /// Each string of a TOML list with its place; `at` turns a span into one.
    pub fn list<'a>(
        items: impl IntoIterator<Item = &'a toml::Spanned<String>>,
        at: &dyn Fn(Range<usize>) -> Origin,
    ) -> Vec<Located<String>> {
        items
            .into_iter()
            .map(|s| Located {
                origin: at(s.span()),
                value: s.get_ref().clone(),
            })
            .collect()
    }
}

/// A place in a file: `pyproject.toml:7:9`, the line itself and how many characters the value
/// spans, rendered under the message.
#[derive(Clone, Debug, Serialize)]
pub struct Origin {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub source_line: String,
    pub width: usize,
}

impl PartialEq for Origin {
    fn eq(&self, other: &Self) -> bool {
        (&self.path, self.line, self.column) == (&other.path, other.line, other.column)
    }
}
impl Eq for Origin {}

impl Origin {
    pub fn new(path: &Path, text: &str, span: Range<usize>) -> Origin {
        let start = span.start.min(text.len());
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line = text[..start].matches('\n').count() + 1;
        let column = text[line_start..start].chars().count() + 1;
        let width = text[start..span.end.clamp(start, line_end)]
            .chars()
            .count()
            .max(1);
        Origin {
            path: path.to_path_buf(),
            line,
            column,
            source_line: text[line_start..line_end]
                .trim_end_matches('\r')
                .to_string(),
            width,
        }
    }

    /// A value given on the command line, shown as `--flag value` in errors.
    pub fn command_line(flag: &str, value: &str) -> Origin {
        let text = format!("{flag} {value}");
        Origin::new(Path::new("command line"), &text, flag.len() + 1..text.len())
    }

    /// An error pointing at this place, with an optional fix.
    pub fn error(&self, message: &str, help: Option<&str>) -> anyhow::Error {
        let diagnostic = Diagnostic::new(message).at(self.clone());
        match help {
            Some(help) => diagnostic.help(help).into(),
            None => diagnostic.into(),
        }
    }
}

/// `path:line:column` for a byte span of `text`, or just the path without one.
pub fn locate(path: &Path, text: &str, span: Option<Range<usize>>) -> String {
    match span {
        Some(span) => {
            let origin = Origin::new(path, text, span);
            format!("{}:{}:{}", path.display(), origin.line, origin.column)
        }
        None => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_as_rustc_does() {
        let text = "[tool.pywasm]\nentry = \"x.main\"\n";
        let origin = Origin::new(Path::new("pyproject.toml"), text, 22..30);
        let diagnostic = Diagnostic::new("bad entry")
            .at(origin)
            .note("found a dot")
            .help("write `module:function`");
        insta::assert_snapshot!(diagnostic.to_string(), @r#"
        bad entry
         --> pyproject.toml:2:9
          |
        2 | entry = "x.main"
          |         ^^^^^^^^
          = note: found a dot
          = help: write `module:function`
        "#);
        insta::assert_snapshot!(Diagnostic::new("no place").help("do this").to_string(), @r"
        no place
          = help: do this
        ");
    }

    #[test]
    fn is_found_under_context() {
        let err = anyhow::Error::from(Diagnostic::new("inner")).context("outer");
        assert_eq!(
            Diagnostic::find(&err).map(|d| d.message),
            Some("inner".to_string())
        );
        let err = anyhow::anyhow!("cause").context(Diagnostic::new("as context"));
        assert_eq!(
            Diagnostic::find(&err).map(|d| d.message),
            Some("as context".to_string())
        );
    }
}
