//! A step of CI run in the background: the CPython builds, the fuzz targets' build.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use pywasm_core::{Shell, shell};

/// A step of CI run in a process of its own at low priority, its output in a log printed when
/// it is waited for.
pub struct Background {
    what: &'static str,
    child: std::process::Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
    start: Instant,
}

impl Background {
    pub fn start(shell: &Shell, what: &'static str, mut cmd: Command) -> Result<Background> {
        let dir = tempfile::tempdir().context("cannot create a directory for a log")?;
        let log = dir.path().join("background.log");
        let out = fs_err::File::create(&log)?.into_parts().0;
        cmd.stdin(std::process::Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        shell.status(
            "Running",
            &format!(
                "{} (in the background)",
                pywasm_core::process::display(&cmd)
            ),
        );
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start `{}`", pywasm_core::process::display(&cmd)))?;
        Ok(Background {
            what,
            child,
            log,
            _dir: dir,
            start: Instant::now(),
        })
    }

    /// Waits for the step, prints its log, and fails as it did.
    pub fn wait(mut self) -> Result<()> {
        let status = self
            .child
            .wait()
            .context("cannot wait for a background step")?;
        let log = fs_err::read_to_string(&self.log).unwrap_or_default();
        eprint!(
            "\n     Running {} (in the background, started {} ago)\n{log}",
            self.what,
            shell::seconds(self.start.elapsed())
        );
        if !status.success() {
            anyhow::bail!("{} failed: {status}", self.what);
        }
        Ok(())
    }
}

impl Drop for Background {
    /// A CI that stops early does not leave the step running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
