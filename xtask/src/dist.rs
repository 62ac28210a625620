//! `cargo xtask dist`: what a release publishes, built locally into `target/dist/`: the pywasm
//! binary for this host as `pywasm-<version>-<host>.tar.gz`, its PyPI package
//! (`pywasm_toolchain-<version>-<tags>.whl`, checked in a fresh venv, see [`crate::package`]),
//! every example built with it (`<example>.wasm` and its `.sha256`), the WASI wheels of
//! pywasm's recipes (each with its `.sha256`), and `SHA256SUMS` over all of them, in
//! `sha256sum -c` format. `.github/workflows/release.yml` runs it on each host and publishes the
//! result.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use pywasm_core::Shell;
use pywasm_core::process::run;

#[derive(clap::Args)]
pub struct DistArgs {
    /// Build pywasm with the dev profile (dependencies optimised) instead of `--release`
    #[arg(long)]
    pub dev: bool,
    /// Where the artifacts go [default: target/dist]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Only the pywasm archive and `examples/hello` (which needs no WASI wheels): for hosts
    /// that cannot build the wheel recipes (they use Debian's source packages)
    #[arg(long)]
    pub binary_only: bool,
    /// The WASI wheels for every pinned CPython, not only the default one (each version's
    /// SDK is built first where it is a release tarball: minutes each)
    #[arg(long, conflicts_with = "binary_only")]
    pub all_pythons: bool,
}

pub fn dist(shell: &Shell, repo: &Path, args: &DistArgs) -> Result<()> {
    crate::fetch_sdk(shell, &crate::default_fetch())?;
    // lxml-app and pydantic-app use the recipes' wheels; unchanged recipes come from the cache.
    let wheels = if args.binary_only {
        Vec::new()
    } else {
        let pins = pywasm_core::sdk::pins::Pins::load(&crate::default_pins())?;
        let versions: Vec<String> = if args.all_pythons {
            pins.pythons.keys().cloned().collect()
        } else {
            Vec::new()
        };
        crate::build_wheels(
            shell,
            &crate::BuildWheel {
                python: versions,
                ..crate::BuildWheel::every()
            },
        )?
    };
    let target = crate::target_dir();
    let out = args.out.clone().unwrap_or_else(|| target.join("dist"));
    let binary = if args.dev {
        crate::build_dev_binary(shell)?
    } else {
        crate::build_release_binary(shell)?
    };
    if out.exists() {
        fs_err::remove_dir_all(&out)?;
    }
    fs_err::create_dir_all(&out)?;

    let mut assets = vec![archive(&binary, &out)?];
    let mut examples = examples(repo)?;
    if args.binary_only {
        examples.retain(|e| e.ends_with("hello"));
    }
    for example in examples {
        let name = example
            .file_name()
            .and_then(|n| n.to_str())
            .context("an example directory without a name")?
            .to_string();
        let wasm = out.join(format!("{name}.wasm"));
        run(
            shell,
            &format!("build examples/{name}"),
            Command::new(&binary)
                .arg("--quiet")
                .arg("build")
                .arg(&example)
                .arg("--output")
                .arg(&wasm),
        )?;
        if !out.join(format!("{name}.wasm.sha256")).is_file() {
            bail!("pywasm wrote no checksum beside `{}`", wasm.display());
        }
        shell.status("Built", &format!("`{}`", wasm.display()));
        assets.push(wasm);
    }
    for wheel in wheels {
        let name = wheel.file_name().context("a wheel has a name")?;
        let copy = out.join(name);
        fs_err::copy(&wheel, &copy)?;
        let sum = out.join(format!("{}.sha256", name.to_string_lossy()));
        pywasm_core::fsutil::atomic_write(
            &sum,
            sha256sums(std::slice::from_ref(&copy))?.as_bytes(),
        )?;
        assets.push(copy);
    }
    let package = crate::package::build(shell, repo, &out, args.dev)?;
    crate::package::check(
        shell,
        &package,
        &repo.join("examples/hello"),
        &out.join("hello.wasm"),
    )?;
    assets.push(package);
    let sums = sha256sums(&assets)?;
    pywasm_core::fsutil::atomic_write(&out.join("SHA256SUMS"), sums.as_bytes())?;
    shell.status(
        "Finished",
        &format!(
            "{} artifacts and SHA256SUMS in `{}`",
            assets.len(),
            out.display()
        ),
    );
    Ok(())
}

/// `pywasm-<version>-<host>.tar.gz` holding `pywasm-<version>-<host>/pywasm`, with fixed
/// timestamps and owners so that the same binary gives the same archive.
fn archive(binary: &Path, out: &Path) -> Result<PathBuf> {
    let stem = format!(
        "pywasm-{}-{}",
        pywasm_core::VERSION,
        pywasm_core::sdk::pins::host()
    );
    let path = out.join(format!("{stem}.tar.gz"));
    let bytes = fs_err::read(binary)?;
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::best(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o755);
    header.set_mtime(pywasm_core::plan::DEFAULT_SOURCE_DATE_EPOCH);
    header.set_uid(0);
    header.set_gid(0);
    tar.append_data(&mut header, format!("{stem}/{}", exe("pywasm")), &bytes[..])
        .context("cannot archive the pywasm binary")?;
    let gz = tar.into_inner()?.finish()?;
    pywasm_core::fsutil::atomic_write(&path, &gz)?;
    Ok(path)
}

/// Every directory of `examples/` with a `pyproject.toml`, sorted.
fn examples(repo: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs_err::read_dir(repo.join("examples"))? {
        let path = entry?.path();
        if path.join("pyproject.toml").is_file() {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// `sha256sum` output for `files`, named as they sit in their directory.
fn sha256sums(files: &[PathBuf]) -> Result<String> {
    let mut lines = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .context("an artifact without a UTF-8 name")?;
        lines.push(format!(
            "{}  {name}\n",
            pywasm_core::fsutil::sha256_file(file)?
        ));
    }
    lines.sort();
    Ok(lines.concat())
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_in_sha256sum_format() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.wasm");
        fs_err::write(&file, b"abc").unwrap();
        assert_eq!(
            sha256sums(&[file]).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  a.wasm\n"
        );
    }
}
