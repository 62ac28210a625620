//! The host's pip, asked to resolve and download for the WASI target. pywasm has no resolver of
//! its own: pip reads the user's index configuration (`pip.conf`, `PIP_INDEX_URL`, mirrors) and
//! picks versions exactly as it would for a native install, restricted to the target's tags.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::diagnostic::Diagnostic;
use crate::{Shell, process};

/// The platform tag of WASI wheels: what `sysconfig.get_platform()` reports in CPython for WASI
/// (`wasi-0.0.0-wasm32`), turned into a wheel tag.
pub const WASI_PLATFORM: &str = "wasi_0_0_0_wasm32";

/// `pip install --dry-run --report` arrived in pip 22.2.
const MIN_PIP: (u32, u32) = (22, 2);

/// The pip wheel `ensurepip` bundles with the native CPython `python` (`<prefix>/bin/python3.x`),
/// usable when that CPython has `ssl` (indexes are HTTPS).
fn bundled_pip(python: &Path, minor: &str) -> Result<PathBuf> {
    let prefix = python
        .parent()
        .and_then(Path::parent)
        .context("not in a `bin` directory")?;
    let bundled = prefix
        .join("lib")
        .join(format!("python{minor}"))
        .join("ensurepip")
        .join("_bundled");
    let wheel = fs_err::read_dir(&bundled)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("pip-"))
        })
        .with_context(|| format!("no pip wheel in `{}`", bundled.display()))?;
    let ssl = Command::new(python)
        .args(["-c", "import ssl"])
        .output()
        .with_context(|| format!("cannot run `{}`", python.display()))?;
    if !ssl.status.success() {
        bail!("it was built without `ssl` (no OpenSSL headers on the machine that built it)");
    }
    Ok(wheel)
}

/// `python -m pip`, or `python <wheel>/pip` for a pip wheel run in place.
fn pip_command(python: &Path, wheel: Option<&Path>) -> Command {
    let mut cmd = Command::new(python);
    match wheel {
        Some(wheel) => cmd.arg(wheel.join("pip")),
        None => cmd.args(["-m", "pip"]),
    };
    cmd
}

/// A Python interpreter with a usable pip.
#[derive(Clone, Debug)]
pub struct Pip {
    python: PathBuf,
    /// A pip wheel run in place (`python <wheel>/pip`), as CPython's `ensurepip` bundles one;
    /// else `python -m pip`.
    wheel: Option<PathBuf>,
    /// The minor version of CPython in the module (`3.11`): wheels are chosen for it.
    target_minor: String,
    pub pip_version: String,
    pub python_version: String,
}

/// What pip wrote when it refused: kept for explaining the failure.
#[derive(Clone, Debug)]
pub struct PipFailure {
    pub command: String,
    pub output: String,
}

/// One distribution of `pip install --dry-run --report`.
#[derive(Clone, Debug)]
pub struct ReportItem {
    pub name: String,
    pub version: String,
    /// The file pip would install on this host: a wheel or an sdist name.
    pub file_name: String,
}

#[derive(Deserialize)]
struct Report {
    install: Vec<ReportInstall>,
}

#[derive(Deserialize)]
struct ReportInstall {
    metadata: ReportMetadata,
    download_info: ReportDownload,
}

#[derive(Deserialize)]
struct ReportMetadata {
    name: String,
    version: String,
}

#[derive(Deserialize)]
struct ReportDownload {
    url: String,
}

impl Pip {
    /// `PYWASM_PYTHON`, else `python3.<minor>` matching the module's CPython (so environment
    /// markers such as `python_version` evaluate as they will at run time), else `native` (the
    /// SDK's own native build of that version, with the pip its `ensurepip` bundles), else
    /// `python3`.
    pub fn find(target_minor: &str, native: Option<&Path>, shell: &Shell) -> Result<Pip> {
        let pip = Pip::find_any(target_minor, native, shell)?;
        if pip.python_version != target_minor {
            shell.warn(&format!(
                "resolving with Python {} (`{}`) for a module that runs Python {target_minor}: environment markers are evaluated for {}",
                pip.python_version,
                pip.python.display(),
                pip.python_version
            ));
        }
        Ok(pip)
    }

    /// [`Pip::find`] without its warning: for installing exact pins, where markers play no
    /// part.
    pub fn find_any(target_minor: &str, native: Option<&Path>, shell: &Shell) -> Result<Pip> {
        let explicit = std::env::var_os("PYWASM_PYTHON").filter(|v| !v.is_empty());
        /// A Python with pip installed, or one whose bundled pip wheel runs in place.
        enum Candidate {
            Installed(PathBuf),
            Bundled(PathBuf),
        }
        let mut candidates = Vec::new();
        match &explicit {
            Some(path) => candidates.push(Candidate::Installed(PathBuf::from(path))),
            None => {
                let versioned = PathBuf::from(format!("python{target_minor}"));
                candidates.push(Candidate::Installed(versioned));
                if let Some(native) = native {
                    candidates.push(Candidate::Bundled(native.to_path_buf()));
                }
                candidates.push(Candidate::Installed(PathBuf::from("python3")));
            }
        }
        let mut problems = Vec::new();
        for candidate in candidates {
            let (python, found) = match candidate {
                Candidate::Installed(python) => {
                    let found = Pip::probe(&python, None, target_minor, shell);
                    (python, found)
                }
                Candidate::Bundled(python) => {
                    let found = bundled_pip(&python, target_minor)
                        .and_then(|wheel| Pip::probe(&python, Some(wheel), target_minor, shell));
                    (python, found)
                }
            };
            match found {
                Ok(pip) => return Ok(pip),
                Err(err) => problems.push(format!("`{}`: {err:#}", python.display())),
            }
        }
        bail!(
            Diagnostic::new(format!(
                "pywasm needs Python with pip {}.{} or newer to resolve dependencies, and found none:\n  {}",
                MIN_PIP.0,
                MIN_PIP.1,
                problems.join("\n  ")
            ))
            .help(format!(
                "install Python {target_minor} with pip, or point `PYWASM_PYTHON` at one"
            ))
        )
    }

    fn probe(
        python: &Path,
        wheel: Option<PathBuf>,
        target_minor: &str,
        shell: &Shell,
    ) -> Result<Pip> {
        let mut cmd = pip_command(python, wheel.as_deref());
        cmd.arg("--version");
        let output = process::run(shell, "ask pip for its version", &mut cmd)?;
        let text = String::from_utf8_lossy(&output.stdout);
        // "pip 23.2.1 from /usr/lib/python3/dist-packages/pip (python 3.11)"
        let pip_version = text.split_whitespace().nth(1).unwrap_or_default();
        let python_version = text
            .rsplit_once("(python ")
            .map(|(_, v)| v.trim().trim_end_matches(')').to_string())
            .unwrap_or_default();
        let mut parts = pip_version
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if found < MIN_PIP {
            bail!(
                "pip {pip_version} is too old (pywasm needs {}.{} or newer)",
                MIN_PIP.0,
                MIN_PIP.1
            );
        }
        Ok(Pip {
            python: python.to_path_buf(),
            wheel,
            target_minor: target_minor.to_string(),
            pip_version: pip_version.to_string(),
            python_version,
        })
    }

    /// The interpreter behind this pip.
    pub fn python(&self) -> &Path {
        &self.python
    }

    /// Installs exactly `pins` (`name==version`, no dependencies) for this host into `target`,
    /// with their native wheels: the native side of a comparison.
    /// When pip runs on another version than the target's, the wheels are the target version's
    /// for this host, for the target's own native CPython to run.
    pub fn install_native(&self, shell: &Shell, target: &Path, pins: &[String]) -> Result<()> {
        let mut cmd = self.command("install");
        cmd.args(["--no-deps", "--quiet", "--target"])
            .arg(target)
            .args(pins);
        if self.python_version != self.target_minor {
            cmd.args([
                "--only-binary=:all:",
                "--python-version",
                &self.target_minor,
            ]);
        }
        process::run(shell, "install the test dependencies natively", &mut cmd)?;
        Ok(())
    }

    fn command(&self, subcommand: &str) -> Command {
        let mut cmd = pip_command(&self.python, self.wheel.as_deref());
        cmd.arg(subcommand)
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("PIP_NO_INPUT", "1")
            .env("PIP_PROGRESS_BAR", "off")
            .env("PIP_NO_COLOR", "1");
        cmd
    }

    /// Tags a WASI CPython accepts: its own ABI, the stable ABI, and pure wheels (`any` comes
    /// with every platform pip is given).
    fn target_args(&self, cmd: &mut Command) {
        let abi = format!("cp{}", self.target_minor.replace('.', ""));
        cmd.args(["--only-binary=:all:", "--implementation", "cp"])
            .args(["--platform", WASI_PLATFORM])
            .args(["--python-version", &self.target_minor])
            .args(["--abi", &abi, "--abi", "abi3", "--abi", "none"]);
    }

    fn links(cmd: &mut Command, find_links: &[PathBuf]) {
        for dir in find_links {
            cmd.arg("--find-links").arg(dir);
        }
    }

    /// Resolves `requirements` for the target and downloads every distribution into `dest`.
    pub fn download_for_target(
        &self,
        shell: &Shell,
        requirements: &Path,
        find_links: &[PathBuf],
        dest: &Path,
    ) -> Result<Result<(), PipFailure>> {
        let mut cmd = self.target_download(find_links, dest);
        cmd.arg("-r").arg(requirements);
        self.outcome(shell, "resolve dependencies with pip", &mut cmd)
    }

    /// Downloads exact `name==version` pins for the target, without their dependencies.
    pub fn download_pinned(
        &self,
        shell: &Shell,
        pins: &[(String, String)],
        find_links: &[PathBuf],
        dest: &Path,
    ) -> Result<Result<(), PipFailure>> {
        let mut cmd = self.target_download(find_links, dest);
        cmd.arg("--no-deps");
        cmd.args(pins.iter().map(|(n, v)| format!("{n}=={v}")));
        self.outcome(shell, "download pinned distributions with pip", &mut cmd)
    }

    /// `pip download` for the target into `dest`, offered `find_links`.
    fn target_download(&self, find_links: &[PathBuf], dest: &Path) -> Command {
        let mut cmd = self.command("download");
        self.target_args(&mut cmd);
        Pip::links(&mut cmd, find_links);
        cmd.arg("--dest").arg(dest);
        cmd
    }

    /// What pip would install on this host, without installing or downloading wheels: used to
    /// find which distribution has no build for the target when target resolution fails.
    pub fn host_report(
        &self,
        shell: &Shell,
        requirements: &Path,
        find_links: &[PathBuf],
        scratch: &Path,
    ) -> Result<Result<Vec<ReportItem>, PipFailure>> {
        let report = scratch.join("report.json");
        let mut cmd = self.command("install");
        Pip::links(&mut cmd, find_links);
        cmd.args(["--dry-run", "--ignore-installed", "--quiet", "--report"])
            .arg(&report)
            .arg("-r")
            .arg(requirements);
        if let Err(failure) = self.outcome(shell, "ask pip what it would install", &mut cmd)? {
            return Ok(Err(failure));
        }
        let text = fs_err::read_to_string(&report)?;
        let parsed: Report = serde_json::from_str(&text).with_context(|| {
            format!(
                "pip wrote a report pywasm cannot read: `{}`",
                report.display()
            )
        })?;
        Ok(Ok(parsed
            .install
            .into_iter()
            .map(|item| ReportItem {
                name: item.metadata.name,
                version: item.metadata.version,
                file_name: url_file_name(&item.download_info.url),
            })
            .collect()))
    }

    /// Downloads the source distribution of `name==version`.
    pub fn download_sdist(
        &self,
        shell: &Shell,
        (name, version): (&str, &str),
        find_links: &[PathBuf],
        dest: &Path,
    ) -> Result<PathBuf> {
        let mut cmd = self.command("download");
        Pip::links(&mut cmd, find_links);
        // `--no-binary` for this package only: with `:all:` its build requirements (pip
        // prepares the sdist's metadata in an isolated environment) would be built from source
        // too, which for Cython is minutes of C compiling.
        cmd.args(["--no-deps", &format!("--no-binary={name}"), "--dest"])
            .arg(dest)
            .arg(format!("{name}=={version}"));
        process::run(
            shell,
            &format!("download the source of `{name}` {version}"),
            &mut cmd,
        )?;
        single_file(dest)
            .with_context(|| format!("pip downloaded no source for `{name}` {version}"))
    }

    /// Builds a wheel from an sdist with its own build backend (PEP 517, isolated).
    pub fn build_wheel(
        &self,
        shell: &Shell,
        sdist: &Path,
        dest: &Path,
        without_compilers: bool,
    ) -> Result<PathBuf> {
        let mut cmd = self.command("wheel");
        cmd.args(["--no-deps", "--wheel-dir"]).arg(dest).arg(sdist);
        if without_compilers {
            // Every compiler and linker setuptools (and Rust build backends) would call fails,
            // so a distribution with an optional extension builds its pure-Python fallback, and
            // one without a fallback fails to build. pip's own wheel cache could hand back a
            // build that had a compiler.
            cmd.arg("--no-cache-dir");
            for var in ["CC", "CXX", "LDSHARED", "LDCXXSHARED", "CARGO", "RUSTC"] {
                cmd.env(var, "false");
            }
        }
        let name = sdist
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        process::run(shell, &format!("build a wheel from `{name}`"), &mut cmd)?;
        single_file(dest).with_context(|| format!("building `{name}` produced no wheel"))
    }

    fn outcome(
        &self,
        shell: &Shell,
        what: &str,
        cmd: &mut Command,
    ) -> Result<Result<(), PipFailure>> {
        let output: Output = process::run_unchecked(shell, what, cmd)?;
        if output.status.success() {
            return Ok(Ok(()));
        }
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        if text.trim().is_empty() {
            text = String::from_utf8_lossy(&output.stdout).into_owned();
        }
        shell.verbose(&format!(
            "pip refused ({}):\n{}",
            output.status,
            text.trim_end()
        ));
        Ok(Err(PipFailure {
            command: process::display(cmd),
            output: text,
        }))
    }
}

impl PipFailure {
    /// pip's own explanation: its `ERROR:` lines and what follows them, without progress noise.
    pub fn summary(&self) -> String {
        let lines: Vec<&str> = self.output.lines().collect();
        let start = lines
            .iter()
            .position(|l| l.starts_with("ERROR:"))
            .unwrap_or(lines.len().saturating_sub(15));
        let mut shown: Vec<&str> = lines[start..]
            .iter()
            .copied()
            .filter(|l| !l.trim().is_empty())
            .collect();
        shown.truncate(20);
        shown
            .iter()
            .map(|l| format!("  | {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn url_file_name(url: &str) -> String {
    let path = url.split(['#', '?']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path).to_string()
}

fn single_file(dir: &Path) -> Result<PathBuf> {
    let mut files: Vec<PathBuf> = fs_err::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    match files.len() {
        1 => Ok(files.remove(0)),
        n => bail!("expected one file in `{}`, found {n}", dir.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_urls() {
        assert_eq!(
            url_file_name("https://files.example/p/a/attrs-23.2.0-py3-none-any.whl#sha256=00"),
            "attrs-23.2.0-py3-none-any.whl"
        );
        assert_eq!(url_file_name("file:///w/x-1.0.tar.gz"), "x-1.0.tar.gz");
    }

    #[test]
    fn summaries_start_at_pips_error() {
        let failure = PipFailure {
            command: "pip".into(),
            output: "Collecting x\n  Downloading y\nERROR: Could not find a version that satisfies the requirement x\nERROR: No matching distribution found for x\n".into(),
        };
        let text = failure.summary();
        assert!(text.starts_with("  | ERROR: Could not find"), "{text}");
        assert!(!text.contains("Downloading"), "{text}");
    }
}
