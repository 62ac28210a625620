//! Builds static WASI extension wheels from C sources with the pinned SDK, the way a package's
//! maintainer would: compile each module, archive it, and package the archives with the Python
//! files and a `pywasm-extensions.toml` (the format in the README's "WASI extension wheels").

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use pywasm_core::fsutil::{slash_path, walk_files};
use pywasm_core::python::wheel::{WheelName, WheelWriter, escape_name};
use pywasm_core::sdk::pins::Pins;
use pywasm_core::sdk::{self, Sdk};

/// One C extension module of a distribution.
pub struct CModule<'a> {
    /// Dotted import name.
    pub name: &'a str,
    /// C source, relative to the distribution's native directory.
    pub source: &'a str,
    /// Init symbol when it is not `PyInit_<last component>`; the source's `PyInit_<last>` is
    /// renamed to it with `-D`.
    pub init: Option<&'a str>,
}

/// A distribution to build: `dir` holds the C sources and the Python packages.
pub struct Dist<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub dir: &'a Path,
    pub packages: &'a [&'a str],
    pub modules: &'a [CModule<'a>],
}

pub fn pinned_sdk() -> Result<Sdk> {
    let pins = Pins::embedded()?;
    let kind = pins.toolchain.default;
    Ok(sdk::locate(&pins, &crate::home(), kind)?)
}

fn run(mut cmd: Command) -> Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("failed to start {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// The members of the distribution's wheel: Python files, archives, metadata.
fn members(sdk: &Sdk, dist: &Dist, scratch: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let minor = &sdk.python.minor;
    let dist_info = format!("{}-{}.dist-info", escape_name(dist.name), dist.version);
    let mut out = Vec::new();
    let mut meta = format!("format = 1\npython = \"{minor}\"\n");
    for module in dist.modules {
        let stem = module.name.replace('.', "_");
        let object = scratch.join(format!("{stem}.o"));
        let archive = scratch.join(format!("lib{stem}.a"));
        let last = module.name.rsplit('.').next().unwrap_or(module.name);
        let mut cc = sdk.toolchain.cc();
        cc.args(["-O2", "-c"])
            .args(pywasm_core::module::link::python_cflags(sdk));
        if let Some(init) = module.init {
            cc.arg(format!("-DPyInit_{last}={init}"));
        }
        cc.arg(dist.dir.join(module.source)).arg("-o").arg(&object);
        run(cc)?;
        let mut ar = sdk.toolchain.ar();
        ar.arg("rcs").arg(&archive).arg(&object);
        run(ar)?;
        let member = format!("pywasm-lib/lib{stem}.a");
        out.push((format!("{dist_info}/{member}"), fs_err::read(&archive)?));
        meta.push_str(&format!(
            "\n[[module]]\nname = \"{}\"\narchive = \"{member}\"\n",
            module.name
        ));
        if let Some(init) = module.init {
            meta.push_str(&format!("init = \"{init}\"\n"));
        }
    }
    for package in dist.packages {
        for rel in walk_files(&dist.dir.join(package), &|_, n| n == "__pycache__")? {
            let path = format!("{package}/{}", slash_path(&rel));
            out.push((path, fs_err::read(dist.dir.join(package).join(rel))?));
        }
    }
    let tag = format!(
        "cp{0}-cp{0}-{1}",
        minor.replace('.', ""),
        pywasm_core::python::pip::WASI_PLATFORM
    );
    out.push((
        format!("{dist_info}/pywasm-extensions.toml"),
        meta.into_bytes(),
    ));
    out.push((
        format!("{dist_info}/METADATA"),
        format!(
            "Metadata-Version: 2.1\nName: {}\nVersion: {}\n",
            dist.name, dist.version
        )
        .into_bytes(),
    ));
    out.push((
        format!("{dist_info}/WHEEL"),
        format!(
            "Wheel-Version: 1.0\nGenerator: pywasm-tests\nRoot-Is-Purelib: false\nTag: {tag}\n"
        )
        .into_bytes(),
    ));
    Ok(out)
}

/// Builds the distribution as a wheel file in `out_dir`.
pub fn wheel(dist: &Dist, out_dir: &Path) -> Result<PathBuf> {
    let sdk = pinned_sdk()?;
    let scratch = tempfile::tempdir()?;
    let minor = sdk.python.minor.replace('.', "");
    let name = WheelName {
        distribution: escape_name(dist.name),
        version: dist.version.to_string(),
        build: None,
        python_tags: vec![format!("cp{minor}")],
        abi_tags: vec![format!("cp{minor}")],
        platform_tags: vec![pywasm_core::python::pip::WASI_PLATFORM.to_string()],
    };
    let mut writer = WheelWriter::new(name);
    for (path, bytes) in members(&sdk, dist, scratch.path())? {
        writer.add(&path, bytes)?;
    }
    fs_err::create_dir_all(out_dir)?;
    writer.write(out_dir)
}

/// Builds the distribution as an unpacked wheel directory `<out_dir>/<name>-<version>/`.
pub fn unpacked(dist: &Dist, out_dir: &Path) -> Result<PathBuf> {
    let sdk = pinned_sdk()?;
    let scratch = tempfile::tempdir()?;
    let root = out_dir.join(format!("{}-{}", escape_name(dist.name), dist.version));
    for (path, bytes) in members(&sdk, dist, scratch.path())? {
        let target = root.join(&path);
        fs_err::create_dir_all(target.parent().context("member has a parent")?)?;
        fs_err::write(target, bytes)?;
    }
    Ok(root)
}
