//! Running a command many times: wall-clock time and peak memory of each run.
//!
//! Each run goes through `cargo xtask measure-child`, a fresh small process that spawns the
//! command, reaps it with `wait4` and writes the child's wall time and peak resident memory to a
//! file. Measuring from the bench process itself would not do: the child is spawned with vfork,
//! and Linux counts the memory of the process it was forked from into its peak.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use pywasm_core::process::display;

#[derive(clap::Args)]
pub struct MeasureChild {
    /// Where to write `<wall nanoseconds> <peak memory KiB>`
    report: PathBuf,
    /// The command and its arguments
    #[arg(last = true, required = true)]
    command: Vec<OsString>,
}

/// `cargo xtask measure-child REPORT -- COMMAND...`: runs COMMAND with this process's stdio,
/// and exits with its exit code.
pub fn measure_child(args: &MeasureChild) -> ExitCode {
    let result = (|| -> Result<i32> {
        let (program, rest) = args.command.split_first().context("no command")?;
        let started = Instant::now();
        let child = Command::new(program)
            .args(rest)
            .spawn()
            .with_context(|| format!("failed to start {program:?}"))?;
        let (status, rusage) = wait4(child.id())?;
        let wall = started.elapsed();
        // Linux reports ru_maxrss in KiB, macOS in bytes.
        let kib = if cfg!(target_os = "macos") {
            rusage.ru_maxrss as u64 / 1024
        } else {
            rusage.ru_maxrss as u64
        };
        fs_err::write(&args.report, format!("{} {kib}", wall.as_nanos()))?;
        Ok(status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
    })();
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(err) => {
            eprintln!("measure-child: {err:#}");
            ExitCode::from(125)
        }
    }
}

/// One run: how long it took, its peak resident memory, its exit code and what it printed.
pub struct Run {
    pub wall: Duration,
    pub max_rss_kib: u64,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// This program's path, as it was when it started: a `cargo build` during the bench may replace
/// the file, and then the running image's own link reads `... (deleted)`. The path itself still
/// names an xtask built from the same sources.
static SELF_PATH: OnceLock<std::io::Result<PathBuf>> = OnceLock::new();

/// Records this program's path; `main` calls it first.
pub fn remember_own_path() {
    SELF_PATH.get_or_init(std::env::current_exe);
}

/// Runs `cmd` to completion with `stdin`; being killed by a signal is an error, an exit code is
/// the caller's to judge.
pub fn run_once(cmd: &mut Command, stdin: &[u8]) -> Result<Run> {
    let report = tempfile::NamedTempFile::new().context("cannot create a report file")?;
    let own = match SELF_PATH.get_or_init(std::env::current_exe) {
        Ok(path) => path,
        Err(err) => bail!("cannot find xtask itself: {err}"),
    };
    let mut wrapped = Command::new(own);
    wrapped
        .arg("measure-child")
        .arg(report.path())
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = wrapped.spawn().with_context(|| {
        format!(
            "failed to start `{}` through `{}`",
            display(cmd),
            own.display()
        )
    })?;
    child
        .stdin
        .take()
        .context("the child has no stdin")?
        .write_all(stdin)?;
    // Drain the pipes on threads so a chatty child cannot block on a full pipe before exiting.
    let mut out = child.stdout.take().context("the child has no stdout")?;
    let mut err = child.stderr.take().context("the child has no stderr")?;
    let out = std::thread::spawn(move || read_all(&mut out));
    let err = std::thread::spawn(move || read_all(&mut err));
    let status = child
        .wait()
        .context("failed to wait for the measured command")?;
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let code = status.code().unwrap_or(-1);
    let measured = fs_err::read_to_string(report.path()).unwrap_or_default();
    let mut fields = measured.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(nanos)), Some(Ok(max_rss_kib))) = (fields.next(), fields.next()) else {
        bail!(
            "`{}` could not be measured:\n{stdout}{stderr}",
            display(cmd)
        );
    };
    if code >= 128 {
        bail!(
            "`{}` was killed by signal {}:\n{stdout}{stderr}",
            display(cmd),
            code - 128
        );
    }
    Ok(Run {
        code,
        stderr,
        wall: Duration::from_nanos(nanos),
        max_rss_kib,
        stdout,
    })
}

fn read_all(reader: &mut impl std::io::Read) -> String {
    let mut bytes = Vec::new();
    let _ = reader.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

fn wait4(pid: u32) -> Result<(ExitStatus, libc::rusage)> {
    let mut status = 0;
    // SAFETY: rusage is plain old data that wait4 fills in; an all-zero value is valid.
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own child, not yet reaped (Child::wait was never called), and
        // both out-pointers point at live locals.
        let got = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut rusage) };
        if got == pid as libc::pid_t {
            return Ok((ExitStatus::from_raw(status), rusage));
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("wait4 failed");
        }
    }
}

/// Median and spread of several runs.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub median: Duration,
    pub min: Duration,
    pub max: Duration,
    pub runs: usize,
    pub max_rss_kib: u64,
}

impl Stats {
    pub fn of(runs: &[Run]) -> Stats {
        let mut walls: Vec<Duration> = runs.iter().map(|r| r.wall).collect();
        walls.sort();
        let n = walls.len();
        let median = if n == 0 {
            Duration::ZERO
        } else if n % 2 == 1 {
            walls[n / 2]
        } else {
            (walls[n / 2 - 1] + walls[n / 2]) / 2
        };
        Stats {
            median,
            min: walls.first().copied().unwrap_or_default(),
            max: walls.last().copied().unwrap_or_default(),
            runs: n,
            max_rss_kib: runs.iter().map(|r| r.max_rss_kib).max().unwrap_or(0),
        }
    }

    /// Runs timed from within this process, with no memory figure.
    pub fn of_walls(walls: &[Duration]) -> Stats {
        let runs: Vec<Run> = walls
            .iter()
            .map(|&wall| Run {
                wall,
                max_rss_kib: 0,
                code: 0,
                stdout: String::new(),
                stderr: String::new(),
            })
            .collect();
        Stats::of(&runs)
    }

    /// `12.3 ms (11.9–13.0, n=20)`.
    pub fn cell(&self) -> String {
        format!(
            "{} ({}–{}, n={})",
            ms(self.median),
            ms_bare(self.min),
            ms_bare(self.max),
            self.runs
        )
    }
}

/// Runs `make()`'s command `runs` times after one unmeasured warm-up run, checking each run's
/// output with `check`.
pub fn repeat(
    runs: usize,
    stdin: &[u8],
    mut make: impl FnMut() -> Command,
    check: &dyn Fn(&Run) -> Result<()>,
) -> Result<Stats> {
    let mut cmd = make();
    let warm = run_once(&mut cmd, stdin)?;
    check(&warm).with_context(|| format!("`{}`", display(&cmd)))?;
    let mut all = Vec::with_capacity(runs);
    for _ in 0..runs {
        let run = run_once(&mut make(), stdin)?;
        check(&run)?;
        all.push(run);
    }
    Ok(Stats::of(&all))
}

pub fn ms(d: Duration) -> String {
    format!("{} ms", ms_bare(d))
}

fn ms_bare(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    // Below a millisecond, a tenth of one is too coarse to compare start-ups.
    if ms < 1.0 {
        format!("{ms:.2}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ms: u64) -> Run {
        Run {
            wall: Duration::from_millis(ms),
            max_rss_kib: ms,
            code: 0,
            stdout: String::new(),
            stderr: String::new(),
        }
    }

    #[test]
    fn stats_take_the_median_and_the_extremes() {
        let stats = Stats::of(&[run(30), run(10), run(20), run(40)]);
        assert_eq!(stats.median, Duration::from_millis(25));
        assert_eq!(
            (stats.min, stats.max),
            (Duration::from_millis(10), Duration::from_millis(40))
        );
        assert_eq!(stats.max_rss_kib, 40);
        assert_eq!(stats.cell(), "25.0 ms (10.0–40.0, n=4)");
        let fast = Stats::of_walls(&[Duration::from_micros(340), Duration::from_micros(1200)]);
        assert_eq!(fast.cell(), "0.77 ms (0.34–1.2, n=2)");
    }

    #[test]
    fn the_measuring_child_reports_time_memory_and_the_exit_code() {
        let dir = tempfile::tempdir().expect("temp dir");
        let report = dir.path().join("report");
        let args = MeasureChild {
            report: report.clone(),
            command: ["sh", "-c", "exit 3"].map(OsString::from).to_vec(),
        };
        assert_eq!(measure_child(&args), ExitCode::from(3));
        let text = fs_err::read_to_string(&report).expect("report");
        let numbers: Vec<u64> = text
            .split(' ')
            .map(|n| n.parse().expect("number"))
            .collect();
        assert!(
            numbers.len() == 2 && numbers[0] > 0 && numbers[1] > 0,
            "{text}"
        );
    }
}
