//! The build steps a recipe can ask for, all with the pinned SDK: autotools projects configured
//! for wasm32, host commands, Rust staticlibs, and C files compiled into static archives.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::sdk::Sdk;
use crate::{Shell, process};
use anyhow::{Context, Result, bail};

use super::recipe::{Autotools, CLibrary, CargoStep, HostStep, ModuleSpec};

/// Where a recipe builds, and with what.
pub struct Builder<'a> {
    pub shell: &'a Shell,
    pub sdk: &'a Sdk,
    /// The build tree: sources unpacked below it, every path in a recipe relative to it.
    pub tree: PathBuf,
    /// Wrapper scripts `wasm32-cc`, `wasm32-ar`, `wasm32-ranlib` for build systems that want
    /// one program name per tool.
    pub bin: PathBuf,
    pub jobs: usize,
    /// The files a recipe brings along (headers, patches; `recipes/<name>/`), written into the
    /// work directory.
    pub recipe_dir: PathBuf,
    /// `PYWASM_HOME`, where the SDK lives.
    pub home: PathBuf,
}

impl Builder<'_> {
    /// Writes the wrapper scripts from the SDK's own commands.
    pub fn write_wrappers(&self) -> Result<()> {
        fs_err::create_dir_all(&self.bin)?;
        let toolchain = &self.sdk.toolchain;
        let ranlib = {
            let mut cmd = toolchain.ar();
            if cmd.get_program().to_string_lossy().ends_with("llvm-ar") {
                Command::new(Path::new(cmd.get_program()).with_file_name("llvm-ranlib"))
            } else {
                cmd.arg("s");
                // `zig ar s` is ranlib.
                cmd
            }
        };
        for (name, cmd) in [
            ("wasm32-cc", toolchain.cc()),
            ("wasm32-ar", toolchain.ar()),
            ("wasm32-ranlib", ranlib),
        ] {
            let mut script = String::from("#!/bin/sh\n");
            for (key, value) in cmd.get_envs() {
                if let Some(value) = value {
                    script.push_str(&format!(
                        "export {}={}\n",
                        key.to_string_lossy(),
                        shell_quote(&value.to_string_lossy())
                    ));
                }
            }
            script.push_str("exec");
            for part in std::iter::once(cmd.get_program()).chain(cmd.get_args()) {
                script.push(' ');
                script.push_str(&shell_quote(&part.to_string_lossy()));
            }
            script.push_str(" \"$@\"\n");
            let path = self.bin.join(name);
            fs_err::write(&path, script)?;
            set_executable(&path)?;
        }
        Ok(())
    }

    pub fn autotools(&self, step: &Autotools) -> Result<()> {
        let dir = self.tree.join(&step.dir);
        let build = format!("{}-pc-linux-gnu", std::env::consts::ARCH);
        let mut configure = Command::new(dir.join("configure"));
        // Old config.sub files reject `wasi`; the host triple only has to be a cross target.
        configure
            .current_dir(&dir)
            .arg("--host=wasm32-unknown-none")
            .arg(format!("--build={build}"))
            .args(step.configure.iter().map(|a| self.vars(a)))
            .arg(format!("CC={}", self.bin.join("wasm32-cc").display()))
            .arg(format!("AR={}", self.bin.join("wasm32-ar").display()))
            .arg(format!(
                "RANLIB={}",
                self.bin.join("wasm32-ranlib").display()
            ))
            .arg(format!(
                "CFLAGS={} {} {}",
                OPTIMISE.join(" "),
                emulation_defines().join(" "),
                self.prefix_maps().join(" ")
            ));
        self.shell.status("Configuring", &step.dir);
        process::run(
            self.shell,
            &format!("configure `{}`", step.dir),
            &mut configure,
        )?;
        for args in &step.make {
            let mut make = Command::new("make");
            make.current_dir(&dir)
                .arg(format!("-j{}", self.jobs))
                .args(args);
            self.shell
                .status("Making", &format!("{} ({})", step.dir, args.join(" ")));
            process::run(self.shell, &format!("build `{}`", step.dir), &mut make)?;
        }
        for archive in &step.archives {
            if !self.tree.join(archive).is_file() {
                bail!("`{}` did not produce `{archive}`", step.dir);
            }
        }
        Ok(())
    }

    pub fn host(&self, step: &HostStep) -> Result<()> {
        let Some((program, args)) = step.run.split_first() else {
            bail!("a `[[host]]` step in `{}` has an empty `run`", step.dir);
        };
        let mut cmd = Command::new(program);
        cmd.args(args).current_dir(self.tree.join(&step.dir));
        self.shell.status(
            "Running",
            &format!("{} in {}", step.run.join(" "), step.dir),
        );
        process::run(
            self.shell,
            &format!("run `{}`", step.run.join(" ")),
            &mut cmd,
        )?;
        Ok(())
    }

    /// A Rust crate as a wasm32-wasip1 staticlib, with std rebuilt for the target by the
    /// host's nightly-capable rustc (Debian's rustc-web with rust-web-src).
    pub fn cargo(&self, step: &CargoStep, target_dir: &Path) -> Result<PathBuf> {
        let dir = self.tree.join(&step.dir);
        let mut cmd = Command::new(rust_tool("CARGO", "cargo"));
        if step.pyo3 {
            let python = &self.sdk.python;
            let config = format!(
                "implementation=CPython\nversion={}\nshared=false\nabi3=false\nlib_name=python{}\nlib_dir={}\npointer_width=32\nsuppress_build_script_link_lines=true\n",
                python.minor,
                python.minor,
                python.lib_dir().display()
            );
            let path = self.tree.join(format!("{}.pyo3-config.txt", step.dir));
            fs_err::write(&path, config)?;
            cmd.env("PYO3_CONFIG_FILE", path);
        }
        cmd.current_dir(&dir)
            .env("RUSTC", rust_tool("RUSTC", "rustc"))
            .env("RUSTC_BOOTSTRAP", "1")
            // A wrapper belongs to the toolchain that set it (CI lints its own workspace with
            // rustup's clippy driver), and this crate is built by another rustc.
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("CLIPPY_ARGS")
            .env("CARGO_TARGET_DIR", target_dir)
            .env("RUSTFLAGS", step.rustflags.join(" "))
            .envs(step.env.iter().map(|(k, v)| (k, self.vars(v))))
            .args([
                "rustc",
                "--locked",
                "--release",
                "--lib",
                "--target",
                "wasm32-wasip1",
            ])
            .args(["-Zbuild-std=std,panic_abort", "--crate-type", "staticlib"]);
        self.shell
            .status("Compiling", &format!("{} (Rust, wasm32-wasip1)", step.dir));
        process::run(
            self.shell,
            &format!("build the Rust crate `{}`", step.dir),
            &mut cmd,
        )?;
        let lib = target_dir.join("wasm32-wasip1").join(&step.staticlib);
        if !lib.is_file() {
            bail!("cargo did not produce `{}`", lib.display());
        }
        Ok(lib)
    }

    /// Compiles C files into `<out>/lib<name>.a`, a few at a time.
    pub fn archive(
        &self,
        name: &str,
        sources: &[String],
        cflags: &[String],
        out: &Path,
    ) -> Result<PathBuf> {
        let files = expand(&self.tree, sources)?;
        let objects_dir = out.join(format!("{name}.objects"));
        fs_err::create_dir_all(&objects_dir)?;
        self.shell
            .status("Compiling", &format!("{name} ({} C files)", files.len()));
        let objects: Vec<PathBuf> = files
            .iter()
            .enumerate()
            .map(|(i, f)| objects_dir.join(format!("{i:04}-{}.o", stem(f))))
            .collect();
        let chunks: Vec<Vec<(&PathBuf, &PathBuf)>> = {
            let pairs: Vec<_> = files.iter().zip(&objects).collect();
            let size = pairs.len().div_ceil(self.jobs.max(1)).max(1);
            pairs.chunks(size).map(|c| c.to_vec()).collect()
        };
        std::thread::scope(|scope| -> Result<()> {
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| {
                    scope.spawn(move || -> Result<()> {
                        for (source, object) in chunk {
                            self.compile(source, object, cflags)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for handle in handles {
                handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("a compile thread panicked"))??;
            }
            Ok(())
        })?;
        let archive = out.join(format!("lib{name}.a"));
        let _ = fs_err::remove_file(&archive);
        let mut ar = self.sdk.toolchain.ar();
        ar.arg("rcs").arg(&archive).args(&objects);
        process::run(self.shell, &format!("archive `lib{name}.a`"), &mut ar)?;
        Ok(archive)
    }

    /// Paths that would otherwise end up in the objects (`__FILE__`, debug info) mapped to
    /// fixed names, so a wheel's bytes do not depend on where it was built.
    pub fn prefix_maps(&self) -> Vec<String> {
        // Most specific last: the build tree lies inside PYWASM_HOME, and the last matching map
        // wins.
        [
            (&self.home, "/pywasm-home"),
            (&self.recipe_dir, "/pywasm-recipe"),
            (&self.tree, "/pywasm-build"),
        ]
        .iter()
        .map(|(from, to)| format!("-ffile-prefix-map={}={to}", from.display()))
        .collect()
    }

    /// `{tree}` (the build tree), `{recipe_dir}` and `{python_include}` (the SDK's CPython
    /// headers) in recipe flags.
    pub fn vars(&self, text: &str) -> String {
        text.replace("{tree}", &self.tree.display().to_string())
            .replace("{recipe_dir}", &self.recipe_dir.display().to_string())
            .replace(
                "{python_include}",
                &self.sdk.python.include_dir().display().to_string(),
            )
    }

    fn compile(&self, source: &Path, object: &Path, cflags: &[String]) -> Result<()> {
        let mut cc = self.sdk.toolchain.cc();
        cc.current_dir(&self.tree)
            .args(OPTIMISE)
            .arg("-c")
            .args(self.prefix_maps())
            .args(crate::module::link::python_cflags(self.sdk))
            .args(cflags.iter().map(|f| self.vars(f)))
            .arg(source)
            .arg("-o")
            .arg(object);
        process::run(
            self.shell,
            &format!("compile `{}`", source.display()),
            &mut cc,
        )?;
        Ok(())
    }

    /// A module's own archive: its C files, with the init symbol renamed when asked.
    pub fn module(&self, module: &ModuleSpec, out: &Path) -> Result<PathBuf> {
        if let Some(archive) = &module.archive {
            let path = self.tree.join(archive);
            if !path.is_file() {
                bail!(
                    "module `{}`: archive `{archive}` was not built",
                    module.name
                );
            }
            return Ok(path);
        }
        let mut cflags = module.cflags.clone();
        if module.init() != module.default_init() {
            cflags.push(format!("-D{}={}", module.default_init(), module.init()));
        }
        self.archive(&module.stem(), &module.sources, &cflags, out)
    }

    pub fn library(&self, lib: &CLibrary, out: &Path) -> Result<PathBuf> {
        self.archive(&lib.name, &lib.sources, &lib.cflags, out)
    }
}

/// How every C file of a recipe is compiled. `-g0` because zig's cc emits DWARF unless told
/// not to, and nothing reads it: a module's link strips it, and `pywasm build --debug` names
/// functions from the symbol table. lxml's `etree.c` with it took about a quarter of an hour of
/// one core and 13 GB of memory in cold CI runs; alone without it, 63 seconds and 0.6 GB.
const OPTIMISE: [&str; 2] = ["-O2", "-g0"];

fn emulation_defines() -> Vec<String> {
    crate::module::link::emulation_defines().collect()
}

/// `CARGO`/`RUSTC` from the environment as `PYWASM_CARGO`/`PYWASM_RUSTC`, else Debian's
/// rustc-web in /usr/bin (rustup's shims come first on PATH and have no wasm32 std sources).
fn rust_tool(var: &str, name: &str) -> PathBuf {
    std::env::var_os(format!("PYWASM_{var}"))
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new("/usr/bin").join(name))
}

/// Paths relative to `tree`; `*` matches within one component.
pub fn expand(tree: &Path, patterns: &[String]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for pattern in patterns {
        let (dir, file) = match pattern.rsplit_once('/') {
            Some((dir, file)) => (tree.join(dir), file.to_string()),
            None => (tree.to_path_buf(), pattern.clone()),
        };
        if !file.contains('*') {
            let path = dir.join(&file);
            if !path.is_file() {
                bail!("`{pattern}` is not in the build tree");
            }
            out.push(path);
            continue;
        }
        let mut matched: Vec<PathBuf> = fs_err::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .is_some_and(|n| crate::fsutil::wildcard_match(&file, &n.to_string_lossy()))
            })
            .collect();
        if matched.is_empty() {
            bail!("`{pattern}` matches no file in the build tree");
        }
        matched.sort();
        out.extend(matched);
    }
    Ok(out)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn set_executable(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("failed to make `{}` executable", path.display()))?;
    }
    Ok(())
}
