//! Running the build's long steps: output into a log file, a status line with the time each
//! took, a count of compiled files on the terminal meanwhile, and the log's end in the error
//! when a step fails.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::Shell;
use crate::process;

/// One step: its log's name and what the status line says when it is done.
pub(super) struct Step {
    name: &'static str,
    done: &'static str,
    /// Count the compiler's runs in the output, for the terminal.
    counts_compiles: bool,
}

impl Step {
    pub(super) fn new(name: &'static str, done: &'static str) -> Step {
        Step {
            name,
            done,
            counts_compiles: false,
        }
    }

    pub(super) fn compiling(name: &'static str, done: &'static str) -> Step {
        Step {
            counts_compiles: true,
            ..Step::new(name, done)
        }
    }
}

pub(super) struct Steps<'a> {
    shell: &'a Shell,
    what: &'a str,
    logs: &'a Path,
}

impl<'a> Steps<'a> {
    pub(super) fn new(shell: &'a Shell, what: &'a str, logs: &'a Path) -> Steps<'a> {
        Steps { shell, what, logs }
    }

    /// Runs `cmd` with stdout and stderr into `<logs>/<step>.log`.
    pub(super) fn run(&self, step: Step, cmd: &mut Command) -> Result<()> {
        let log_path = self.logs.join(format!("{}.log", step.name));
        let start = Instant::now();
        self.shell.command(&process::display(cmd));
        self.shell.stage_started(step.name);
        let mut log = fs_err::File::create(&log_path)?;
        writeln!(log, "$ {}", process::display(cmd))?;
        let mut child = process::dies_with_pywasm(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("failed to start `{}`", process::display(cmd)))?;
        // stderr joins stdout in the log through a thread, so that neither pipe fills up.
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let tx_err = tx.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx_err.send(line);
            }
        });
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let out_reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let bar = self.progress(&step);
        let mut compiled = 0u64;
        for line in rx {
            writeln!(log, "{line}")?;
            if step.counts_compiles && is_compile(&line) {
                compiled += 1;
                bar.set_message(format!("{}: {} ({compiled} files)", self.what, step.name));
            }
        }
        let _ = reader.join();
        let _ = out_reader.join();
        bar.finish_and_clear();
        let status = child
            .wait()
            .with_context(|| format!("failed to wait for `{}`", process::display(cmd)))?;
        log.flush()?;
        if !status.success() {
            bail!(
                "failed to build {}: `{}` exited with {status}\n{}\n(the whole log: `{}`)",
                self.what,
                process::display(cmd),
                tail(&log_path, 40),
                log_path.display()
            );
        }
        let counted = if compiled > 0 {
            format!(", {compiled} C files")
        } else {
            String::new()
        };
        self.shell.stage_done(
            "Built",
            &format!("{}: {}{counted}", self.what, step.done),
            start.elapsed(),
        );
        Ok(())
    }

    fn progress(&self, step: &Step) -> indicatif::ProgressBar {
        if !self.shell.interactive() {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{spinner:.cyan} {msg} [{elapsed}]")
        {
            bar.set_style(style);
        }
        bar.set_message(format!("{}: {}", self.what, step.name));
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

/// A compiler run as make echoes it (`wasm-cc -c ...`, `gcc ... -c ...`).
fn is_compile(line: &str) -> bool {
    line.split_whitespace().any(|w| w == "-c") && !line.starts_with(' ')
}

/// The last `n` lines of the log at `path`, indented, as other failing commands show theirs.
fn tail(path: &Path, n: usize) -> String {
    let text = fs_err::read_to_string(path).unwrap_or_default();
    process::indent(&process::tail(text.trim_end(), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failing step's error shows the end of its log (stdout and stderr both) and names the
    /// whole log, which stays.
    #[test]
    fn a_failing_step_shows_the_end_of_its_log() {
        let logs = tempfile::tempdir().unwrap();
        let shell = Shell::quiet();
        let steps = Steps::new(&shell, "CPython 3.99.0", logs.path());
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "for i in $(seq 1 60); do echo line $i; done; echo 'wasm-ld: error: undefined symbol' >&2; exit 3",
        ]);
        let err = steps
            .run(Step::compiling("cross-make", "compiled"), &mut cmd)
            .unwrap_err()
            .to_string();
        let log = logs.path().join("cross-make.log");
        assert!(err.contains("failed to build CPython 3.99.0"), "{err}");
        assert!(err.contains("wasm-ld: error: undefined symbol"), "{err}");
        assert!(
            err.contains("line 60") && !err.contains("line 20\n"),
            "{err}"
        );
        assert!(err.contains(&log.display().to_string()), "{err}");
        let text = fs_err::read_to_string(&log).unwrap();
        assert!(text.starts_with("$ sh -c"), "{text}");
        assert!(
            text.contains("line 1\n") && text.contains("undefined symbol"),
            "{text}"
        );
    }

    #[test]
    fn compiler_runs_are_counted_and_continuations_are_not() {
        assert!(is_compile(
            "wasm-cc -c -O2 ../Objects/abstract.c -o Objects/abstract.o"
        ));
        assert!(is_compile(
            "gcc -fPIC -c ../Modules/_json.c -o Modules/_json.o"
        ));
        assert!(!is_compile("      -DGITVERSION=x -c"));
        assert!(!is_compile(
            "wasm-ar rcs libpython3.13.a Modules/getbuildinfo.o"
        ));
    }
}
