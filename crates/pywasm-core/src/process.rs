//! The one way pywasm runs another program: the full command is logged in verbose mode, and a
//! failure carries the command line and what the program wrote to stderr.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, bail};

use crate::Shell;

/// Renders a command as a shell would show it, for logs and error messages.
pub fn display(cmd: &Command) -> String {
    let mut line = String::new();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            let _ = write!(line, "{}={} ", key.to_string_lossy(), quote(value));
        }
    }
    line.push_str(&quote(cmd.get_program()));
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    line
}

fn quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Makes the program `cmd` starts die with the thread that starts it (Linux's
/// `PR_SET_PDEATHSIG`): a pywasm killed outright (SIGKILL, the out-of-memory killer, a CI
/// timeout) must not leave a pip or a compiler writing into a work directory that the next
/// pywasm, seeing no live owner, removes; pip's `download -d` would even create it again. Only
/// for commands whose thread waits for them. Elsewhere than Linux a child outlives a killed
/// pywasm.
pub fn dies_with_pywasm(cmd: &mut Command) -> &mut Command {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: between fork and exec the closure calls only async-signal-safe functions
        // (prctl, getppid) and allocates nothing.
        let parent = std::process::id();
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before the prctl: then nothing will signal.
                if libc::getppid() as u32 != parent {
                    return Err(std::io::Error::other(
                        "pywasm ended before its child started",
                    ));
                }
                Ok(())
            });
        }
    }
    cmd
}

/// Runs `cmd` to completion with stdout and stderr captured. `what` names the step for the error
/// ("compile `main.c`"). A non-zero exit is an error that shows the command and its stderr.
pub fn run(shell: &Shell, what: &str, cmd: &mut Command) -> Result<Output> {
    let output = run_unchecked(shell, what, cmd)?;
    if !output.status.success() {
        return Err(failure(what, cmd, &output));
    }
    Ok(output)
}

/// Like [`run`], but a non-zero exit is returned, not an error, for callers that read a failing
/// tool's output to explain it better (pip's resolver errors).
pub fn run_unchecked(shell: &Shell, what: &str, cmd: &mut Command) -> Result<Output> {
    shell.command(&display(cmd));
    dies_with_pywasm(cmd)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("failed to start `{}` to {what}", display(cmd)))
}

/// The error for a command that exited unsuccessfully: the command line and the end of stderr
/// (or of stdout when stderr is empty).
pub fn failure(what: &str, cmd: &Command, output: &Output) -> anyhow::Error {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut detail = tail(stderr.trim_end(), 40);
    if detail.is_empty() {
        detail = tail(stdout.trim_end(), 40);
    }
    anyhow::anyhow!(
        "failed to {what}: `{}` exited with {}\n{}",
        display(cmd),
        output.status,
        indent(&detail)
    )
}

/// Runs `cmd` with the terminal's stdin, stdout and stderr, for long tools whose output the user
/// should watch (cargo, test runners). A non-zero exit is an error naming the command.
pub fn run_streaming(shell: &Shell, what: &str, cmd: &mut Command) -> Result<()> {
    shell.command(&display(cmd));
    let status = dies_with_pywasm(cmd)
        .status()
        .with_context(|| format!("failed to start `{}` to {what}", display(cmd)))?;
    if !status.success() {
        bail!("failed to {what}: `{}` exited with {status}", display(cmd));
    }
    Ok(())
}

/// Runs `cmd` with the terminal's stdio and returns its exit code: for programs whose non-zero
/// exit is an answer, not a failure (a test run). Killed by a signal counts as 128 + signal.
pub fn run_inherited(shell: &Shell, what: &str, cmd: &mut Command) -> Result<i32> {
    shell.command(&display(cmd));
    let status = dies_with_pywasm(cmd)
        .status()
        .with_context(|| format!("failed to start `{}` to {what}", display(cmd)))?;
    Ok(exit_code(status))
}

#[cfg(unix)]
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

#[cfg(not(unix))]
fn exit_code(status: std::process::ExitStatus) -> i32 {
    status.code().unwrap_or(1)
}

/// The last `lines` lines of `text`, so one failing compiler cannot flood the screen.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let skip = all.len().saturating_sub(lines);
    let mut out = String::new();
    if skip > 0 {
        let _ = writeln!(out, "... ({skip} earlier lines not shown)");
    }
    out.push_str(&all[skip..].join("\n"));
    out
}

pub(crate) fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_only_what_needs_it() {
        let mut cmd = Command::new("zig");
        cmd.args(["cc", "-o", "a b.wasm", "it's"]);
        assert_eq!(display(&cmd), r"zig cc -o 'a b.wasm' 'it'\''s'");
    }

    #[test]
    fn failure_carries_stderr_and_command() {
        let shell = Shell::quiet();
        let err = run(
            &shell,
            "fail on purpose",
            Command::new("sh").args(["-c", "echo boom >&2; exit 3"]),
        )
        .unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("failed to fail on purpose"), "{text}");
        assert!(text.contains("sh -c 'echo boom >&2; exit 3'"), "{text}");
        assert!(text.contains("boom"), "{text}");
    }

    #[test]
    fn missing_program_is_an_error_not_a_panic() {
        let shell = Shell::quiet();
        let err = run(
            &shell,
            "run nothing",
            &mut Command::new("/nonexistent/pywasm-test"),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("failed to start"));
    }
}
