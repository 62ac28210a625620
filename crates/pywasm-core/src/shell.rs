//! Cargo-style status output on stderr: a right-aligned verb, a message and, for stages, the time
//! they took. Colour only on a terminal and never when `NO_COLOR` is set.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

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
}

impl Shell {
    pub fn new(verbosity: Verbosity) -> Self {
        let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stderr().is_terminal();
        Shell { verbosity, color }
    }

    /// A shell that prints nothing; for tests and library callers.
    pub fn quiet() -> Self {
        Shell {
            verbosity: Verbosity::Quiet,
            color: false,
        }
    }

    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    /// Whether progress bars may be drawn.
    pub fn interactive(&self) -> bool {
        self.verbosity >= Verbosity::Normal && std::io::stderr().is_terminal()
    }

    /// `   Compiling hello.wasm`
    pub fn status(&self, verb: &str, message: &str) {
        if self.verbosity >= Verbosity::Normal {
            self.print(verb, message, 32);
        }
    }

    /// A finished stage with its duration.
    pub fn stage_done(&self, verb: &str, message: &str, took: Duration) {
        self.status(verb, &format!("{message} ({})", seconds(took)));
    }

    pub fn warn(&self, message: &str) {
        if self.verbosity >= Verbosity::Normal {
            self.print("warning", message, 33);
        }
    }

    /// Detail shown with `-v` only.
    pub fn verbose(&self, message: &str) {
        if self.verbosity >= Verbosity::Verbose {
            self.print("Note", message, 36);
        }
    }

    /// A command about to run, shown with `-v` as cargo does.
    pub fn command(&self, command_line: &str) {
        if self.verbosity >= Verbosity::Verbose {
            self.print("Running", &format!("`{command_line}`"), 36);
        }
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

/// Runs one stage and reports it with its timing once it has finished.
pub fn timed<T>(
    shell: &Shell,
    verb: &str,
    f: impl FnOnce() -> anyhow::Result<(T, String)>,
) -> anyhow::Result<T> {
    let start = Instant::now();
    let (value, message) = f()?;
    shell.stage_done(verb, &message, start.elapsed());
    Ok(value)
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
    fn sizes_are_human() {
        assert_eq!(human_size(12), "12 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(33 * 1024 * 1024), "33.0 MiB");
    }
}
