//! Cargo-style status output on stderr: a right-aligned verb, a message and, for stages, the time
//! they took. Colour only on a terminal and never when `NO_COLOR` is set.
//!
//! With `--message-format json` the same events go to stdout instead, one JSON object a line,
//! for CI scripts: `stage-started`, `stage-finished` (with `seconds`), `status`, `warning`,
//! `artifact` (`path`, `size`, `sha256`, `checksum_path`) and `error` (`message`, `causes`).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

/// How events are reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum MessageFormat {
    /// Status lines on stderr.
    #[default]
    Human,
    /// One JSON object per event on stdout.
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

#[derive(Clone, Debug)]
pub struct Shell {
    verbosity: Verbosity,
    color: bool,
    format: MessageFormat,
}

impl Shell {
    pub fn new(verbosity: Verbosity) -> Self {
        Shell::with_format(verbosity, MessageFormat::Human)
    }

    pub fn with_format(verbosity: Verbosity, format: MessageFormat) -> Self {
        let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stderr().is_terminal();
        Shell {
            verbosity,
            color,
            format,
        }
    }

    /// A shell that prints nothing; for tests and library callers.
    pub fn quiet() -> Self {
        Shell {
            verbosity: Verbosity::Quiet,
            color: false,
            format: MessageFormat::Human,
        }
    }

    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    pub fn format(&self) -> MessageFormat {
        self.format
    }

    /// Whether progress bars may be drawn: on a terminal, and never between JSON lines.
    pub fn interactive(&self) -> bool {
        self.format == MessageFormat::Human
            && self.verbosity >= Verbosity::Normal
            && std::io::stderr().is_terminal()
    }

    /// `   Compiling hello.wasm`
    pub fn status(&self, verb: &str, message: &str) {
        if self.json(json!({"reason": "status", "verb": verb, "message": message})) {
            return;
        }
        if self.verbosity >= Verbosity::Normal {
            self.print(verb, message, 32);
        }
    }

    /// A stage about to run; only JSON reports it (a status line comes when it is done).
    pub fn stage_started(&self, verb: &str) {
        self.json(json!({"reason": "stage-started", "stage": verb}));
    }

    /// A finished stage with its duration.
    pub fn stage_done(&self, verb: &str, message: &str, took: Duration) {
        let event = json!({
            "reason": "stage-finished",
            "stage": verb,
            "message": message,
            "seconds": took.as_secs_f64(),
        });
        if !self.json(event) {
            self.status(verb, &format!("{message} ({})", seconds(took)));
        }
    }

    /// A file the command wrote for the user.
    pub fn artifact(&self, path: &Path, size: u64, sha256: &str, checksum_path: &Path) {
        self.json(json!({
            "reason": "artifact",
            "path": path,
            "size": size,
            "sha256": sha256,
            "checksum_path": checksum_path,
        }));
    }

    pub fn warn(&self, message: &str) {
        if self.json(json!({"reason": "warning", "message": message})) {
            return;
        }
        if self.verbosity >= Verbosity::Normal {
            self.print("warning", message, 33);
        }
    }

    /// Detail shown with `-v` only.
    pub fn verbose(&self, message: &str) {
        if self.verbosity >= Verbosity::Verbose
            && !self.json(json!({"reason": "note", "message": message}))
        {
            self.print("Note", message, 36);
        }
    }

    /// A command about to run, shown with `-v` as cargo does.
    pub fn command(&self, command_line: &str) {
        if self.verbosity >= Verbosity::Verbose
            && !self.json(json!({"reason": "command", "command": command_line}))
        {
            self.print("Running", &format!("`{command_line}`"), 36);
        }
    }

    /// How `main` reports a failure: `error:` and the `Caused by:` chain on stderr, or an
    /// `error` event.
    pub fn error(&self, err: &anyhow::Error) {
        let causes: Vec<String> = err.chain().skip(1).map(|c| c.to_string()).collect();
        let diagnostic = crate::diagnostic::Diagnostic::find(err);
        let event = json!({
            "reason": "error",
            "message": err.to_string(),
            "causes": causes,
            "diagnostic": diagnostic,
        });
        if !self.json(event) {
            eprintln!("{}", render_error(err));
        }
    }

    /// Writes `event` as one line on stdout when the format is JSON; says whether it did.
    fn json(&self, event: serde_json::Value) -> bool {
        if self.format != MessageFormat::Json {
            return false;
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{event}");
        true
    }

    fn print(&self, verb: &str, message: &str, color: u8) {
        let mut err = std::io::stderr().lock();
        let _ = if self.color {
            writeln!(err, "\x1b[1;{color}m{verb:>12}\x1b[0m {message}")
        } else {
            writeln!(err, "{verb:>12} {message}")
        };
    }
}

/// Runs one stage and reports it with its timing once it has finished; on a terminal a spinner
/// says what is running meanwhile.
pub fn timed<T>(
    shell: &Shell,
    verb: &str,
    f: impl FnOnce() -> anyhow::Result<(T, String)>,
) -> anyhow::Result<T> {
    let start = Instant::now();
    shell.stage_started(verb);
    let spinner = shell.interactive().then(|| {
        let spinner = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner:.cyan} {msg}") {
            spinner.set_style(style);
        }
        spinner.set_message(format!("{}...", in_progress(verb)));
        spinner.enable_steady_tick(Duration::from_millis(100));
        spinner
    });
    let result = f();
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    let (value, message) = result?;
    shell.stage_done(verb, &message, start.elapsed());
    Ok(value)
}

/// `Linked` -> `Linking`: the stage names are past tense, the spinner shows the present.
fn in_progress(verb: &str) -> String {
    match verb.strip_suffix("ed") {
        Some(stem) => format!("{stem}ing"),
        None => verb.to_string(),
    }
}

pub fn seconds(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

/// `1.5 MiB`
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `error: ...` followed by the `Caused by:` chain, as `main` prints a failure.
pub fn render_error(err: &anyhow::Error) -> String {
    let mut text = format!("error: {err}");
    let causes: Vec<String> = err.chain().skip(1).map(|c| c.to_string()).collect();
    if !causes.is_empty() {
        text.push_str("\n\nCaused by:");
        for cause in causes {
            text.push_str(&format!("\n    {}", cause.replace('\n', "\n    ")));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_read_as_in_progress() {
        for (done, doing) in [
            ("Linked", "Linking"),
            ("Compiled", "Compiling"),
            ("Snapshotted", "Snapshotting"),
            ("Wrapped", "Wrapping"),
        ] {
            assert_eq!(in_progress(done), doing);
        }
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_size(12), "12 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(33 * 1024 * 1024), "33.0 MiB");
    }
}
