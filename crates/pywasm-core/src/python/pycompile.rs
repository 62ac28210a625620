//! Compiles Python sources to bytecode at build time with the very CPython that runs them: the
//! SDK's `python3.11.wasm`, in an embedded wasmtime. Syntax errors surface here, as
//! `file:line:column`, instead of at run time; the module then loads unchecked hash-based `.pyc`
//! files and never compiles or stats sources to validate them.
//!
//! The stdlib is compiled once per SDK and kept in the cache; the app is compiled on every build.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::diagnostic::{Diagnostic, Origin};
use crate::manifest::EntryPoint;
use crate::python::collect::FileEntry;
use crate::runner::runtime::{Preopen, RunConfig, Runtime};
use crate::sdk::{PythonSdk, SdkHome};
use crate::{Shell, fsutil};

/// Runs inside python3.11.wasm (see the file's docstring).
const COMPILE_SCRIPT: &str = include_str!("pycompile/compile.py");

const PYTHON_HOME: &str = "/usr/local";
const COMPILER_PYCACHE: &str = "/pycache";

#[derive(Serialize)]
struct Jobs {
    files: Vec<Job>,
    /// Compile without docstrings (`[tool.pywasm] docstrings`).
    strip_docstrings: bool,
    /// Functions that must be defined at the top level of their modules.
    entries: Vec<EntryJob>,
}

#[derive(Serialize)]
struct Job {
    src: String,
    filename: String,
}

#[derive(Serialize)]
struct EntryJob {
    filename: String,
    name: String,
}

#[derive(Deserialize)]
struct CompileResult {
    errors: Vec<SyntaxErrorReport>,
    compiled: Vec<(String, String)>,
    /// Indices into `Jobs::entries` of functions the module does not define.
    undefined: Vec<usize>,
    #[serde(default)]
    imports: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, Deserialize)]
struct SyntaxErrorReport {
    filename: String,
    kind: String,
    message: String,
    line: Option<usize>,
    column: Option<usize>,
    end_column: Option<usize>,
    text: Option<String>,
}

/// `[tool.pywasm] docstrings`: which bytecode keeps its docstrings.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Docstrings {
    /// The stdlib's are left out, as `-OO` leaves them out (but `assert` stays): nothing in
    /// the stdlib reads its own docstrings except `help()` and `pydoc`. The app's and the
    /// dependencies' stay, since libraries read theirs (click's help texts, pydantic's schema
    /// descriptions, argparse `description=__doc__`).
    #[default]
    StripStdlib,
    /// Every docstring stays.
    Keep,
}

/// Compiled bytecode: the guest path of each `.pyc` and its bytes.
pub type Bytecode = Vec<(String, Vec<u8>)>;

/// What compiling a set of files gives: their bytecode, and what each source file imports
/// (guest path → `a.b` absolute or `..a` relative names).
#[derive(Clone, Debug, Default)]
pub struct Compilation {
    pub bytecode: Bytecode,
    pub imports: BTreeMap<String, Vec<String>>,
}

pub struct Compiler<'a> {
    runtime: Runtime,
    python: &'a PythonSdk,
    module: wasmtime::Module,
    /// Where the compiler's own imports keep their bytecode between runs.
    pycache: PathBuf,
    shell: &'a Shell,
}

impl<'a> Compiler<'a> {
    /// Loads python3.11.wasm (compiled by cranelift once, then from the `cwasm` cache).
    pub fn new(python: &'a PythonSdk, home: &SdkHome, shell: &'a Shell) -> Result<Self> {
        let runtime = Runtime::new(Some(home.cache("cwasm")))?;
        // The SDK's digest names python3.11.wasm: reading and hashing its 20 MB on every build
        // to find its compiled code would cost more than the app's compile.
        let wasm = python.python_wasm();
        let key = format!("{}\n{}", python.digest, wasm.display());
        let (module, _) = runtime
            .load_keyed(key.as_bytes(), || Ok(fs_err::read(&wasm)?))
            .with_context(|| format!("failed to compile `{}`", wasm.display()))?;
        Ok(Compiler {
            runtime,
            python,
            module,
            pycache: home.cache("compiler-pycache").join(&python.digest),
            shell,
        })
    }

    /// Compiles the stdlib files, or takes them from `cache_root` when this SDK's stdlib was
    /// compiled before.
    pub fn stdlib(
        &self,
        files: &[FileEntry],
        docstrings: Docstrings,
        cache_root: &Path,
    ) -> Result<Compilation> {
        let strip = docstrings == Docstrings::StripStdlib;
        let mut key = format!("{}\n{}\n{strip}\n", self.python.digest, COMPILE_SCRIPT);
        for f in files {
            key.push_str(&f.guest);
            key.push('\n');
        }
        let guest_root = files
            .first()
            .map(|f| stdlib_root(&f.guest))
            .unwrap_or_default();
        self.cached_tree(
            &key,
            files,
            (&self.python.stdlib_dir(), &guest_root),
            strip,
            cache_root,
        )
    }

    /// Compiles installed distributions (`host_root` is site-packages on the host, `guest_root`
    /// inside the module), cached by their content. Like pip's compileall, a file this CPython
    /// cannot compile (a Python 2 leftover in a test directory, say) stays source only.
    pub fn packages(
        &self,
        files: &[FileEntry],
        roots: (&Path, &str),
        cache_root: &Path,
    ) -> Result<Compilation> {
        let mut key = format!("{}\n{}\n", self.python.digest, COMPILE_SCRIPT);
        for f in files.iter().filter(|f| f.guest.ends_with(".py")) {
            key.push_str(&f.guest);
            key.push(' ');
            key.push_str(&fsutil::sha256_file(&f.host)?);
            key.push('\n');
        }
        self.cached_tree(&key, files, roots, false, cache_root)
    }

    /// Compiles the `.py` files of one tree, shared read-only at its guest path, into
    /// `<cache_root>/<key digest>` unless that exists already.
    fn cached_tree(
        &self,
        key: &str,
        files: &[FileEntry],
        (host_root, guest_root): (&Path, &str),
        strip_docstrings: bool,
        cache_root: &Path,
    ) -> Result<Compilation> {
        let dir = cache_root.join(&fsutil::sha256_hex(key.as_bytes())[..16]);
        if dir.join("result.json").is_file() {
            return read_outputs(&dir);
        }
        // Compiled beside its final place and renamed, so the cache never holds half a tree.
        fs_err::create_dir_all(cache_root)?;
        let scratch = tempfile::Builder::new()
            .prefix(".tree-")
            .tempdir_in(cache_root)
            .with_context(|| {
                format!("failed to create a directory in `{}`", cache_root.display())
            })?;
        let jobs: Vec<Job> = files
            .iter()
            .filter(|f| f.guest.ends_with(".py"))
            .map(|f| Job {
                src: f.guest.clone(),
                filename: f.guest.clone(),
            })
            .collect();
        let preopens = vec![Preopen {
            host: host_root.to_path_buf(),
            guest: guest_root.to_string(),
            writable: false,
        }];
        let result = self.run(
            Jobs {
                files: jobs,
                strip_docstrings,
                entries: Vec::new(),
            },
            scratch.path(),
            preopens,
        )?;
        for error in &result.errors {
            self.shell.verbose(&format!(
                "not compiled, kept as source: {}: {}",
                error.filename, error.message
            ));
        }
        let kept = scratch.keep();
        if let Err(err) = fs_err::rename(&kept, &dir) {
            let _ = fs_err::remove_dir_all(&kept);
            if !dir.join("result.json").is_file() {
                return Err(err.into());
            }
        }
        read_outputs(&dir)
    }

    /// Compiles the app's sources. Syntax errors are reported with their host file and line;
    /// the entry function must be defined at the top level of the entry module.
    pub fn app(
        &self,
        files: &[FileEntry],
        entries: &[(&EntryPoint, &FileEntry)],
        work: &Path,
    ) -> Result<Compilation> {
        let mut preopens: Vec<Preopen> = Vec::new();
        let mut jobs = Vec::new();
        let mut host_of: BTreeMap<String, PathBuf> = BTreeMap::new();
        for file in files.iter().filter(|f| f.guest.ends_with(".py")) {
            // Each source file's directory is shared read-only under its own guest name.
            let dir = fsutil::parent_dir(&file.host).to_path_buf();
            let index = match preopens.iter().position(|p| p.host == dir) {
                Some(i) => i,
                None => {
                    preopens.push(Preopen {
                        host: dir,
                        guest: format!("/src/{}", preopens.len()),
                        writable: false,
                    });
                    preopens.len() - 1
                }
            };
            let name = file
                .host
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            jobs.push(Job {
                src: format!("/src/{index}/{name}"),
                filename: file.guest.clone(),
            });
            host_of.insert(file.guest.clone(), file.host.clone());
        }
        let out = work.join("pyc");
        fs_err::create_dir_all(&out)?;
        let entry_jobs = entries
            .iter()
            .map(|(entry, file)| EntryJob {
                filename: file.guest.clone(),
                name: entry_attr_head(entry).to_string(),
            })
            .collect();
        let result = self.run(
            Jobs {
                files: jobs,
                strip_docstrings: false,
                entries: entry_jobs,
            },
            &out,
            preopens,
        )?;
        if !result.errors.is_empty() {
            // The first error in full; the others, one line each, as notes.
            let mut first = syntax_error(&result.errors[0], &host_of);
            for other in result.errors.iter().skip(1).take(9) {
                let other = syntax_error(other, &host_of);
                let place = other.span.as_ref().map_or(String::new(), |s| {
                    format!(" at {}:{}:{}", s.path.display(), s.line, s.column)
                });
                first = first.note(format!("also {}{place}", other.message));
            }
            let more = result.errors.len().saturating_sub(10);
            if more > 0 {
                first = first.note(format!("and {more} more"));
            }
            bail!(first);
        }
        if let Some((entry, entry_file)) = result.undefined.first().and_then(|i| entries.get(*i)) {
            let message = format!(
                "function `{}` is not defined at the top level of `{}`",
                entry_attr_head(entry),
                entry_file.host.display()
            );
            let help = "define it there, or point the entry point or export at the right `module:function`";
            return Err(Diagnostic::new(message)
                .at_opt(entry.origin.as_ref())
                .help(help)
                .into());
        }
        read_outputs(&out)
    }

    fn run(&self, jobs: Jobs, out: &Path, mut preopens: Vec<Preopen>) -> Result<CompileResult> {
        fsutil::atomic_write(&out.join("jobs.json"), &serde_json::to_vec(&jobs)?)?;
        preopens.push(Preopen {
            host: out.to_path_buf(),
            guest: "/out".into(),
            writable: true,
        });
        // python3.11.wasm was configured with its builder's prefix; PYTHONHOME points it at the
        // SDK's stdlib, shared at the same place it has inside built modules.
        let own_stdlib = format!("{PYTHON_HOME}/lib/python{}", self.python.minor);
        if !preopens.iter().any(|p| p.guest == own_stdlib) {
            preopens.push(Preopen {
                host: self.python.stdlib_dir(),
                guest: own_stdlib,
                writable: false,
            });
        }
        // The script's own imports (ast, json, importlib.util) would be compiled from source on
        // every run, which took three quarters of the run; CPython keeps their bytecode under
        // this prefix instead, written atomically, so concurrent builds may share it.
        fs_err::create_dir_all(&self.pycache)?;
        preopens.push(Preopen {
            host: self.pycache.clone(),
            guest: COMPILER_PYCACHE.into(),
            writable: true,
        });
        let config = RunConfig {
            args: ["python", "-S", "-c", COMPILE_SCRIPT, "/out/jobs.json"]
                .map(String::from)
                .to_vec(),
            env: vec![
                ("PYTHONHOME".into(), PYTHON_HOME.into()),
                ("PYTHONPYCACHEPREFIX".into(), COMPILER_PYCACHE.into()),
            ],
            preopens,
            ..RunConfig::default()
        };
        let run = self
            .runtime
            .run(&self.module, &config)
            .context("failed to run the bytecode compiler")?;
        if run.exit_code != 0 {
            bail!(
                "the bytecode compiler (python{}.wasm) exited with {}:\n{}",
                self.python.minor,
                run.exit_code,
                String::from_utf8_lossy(&run.stderr)
            );
        }
        let text = fs_err::read_to_string(out.join("result.json"))?;
        serde_json::from_str(&text).context("the bytecode compiler wrote an unreadable result")
    }
}

fn read_outputs(out: &Path) -> Result<Compilation> {
    let result: CompileResult =
        serde_json::from_str(&fs_err::read_to_string(out.join("result.json"))?)
            .with_context(|| format!("unreadable compile result in `{}`", out.display()))?;
    let mut bytecode = Vec::with_capacity(result.compiled.len());
    for (_, pyc) in result.compiled {
        let bytes = fs_err::read(out.join(pyc.trim_start_matches('/')))?;
        bytecode.push((pyc, bytes));
    }
    Ok(Compilation {
        bytecode,
        imports: result.imports,
    })
}

/// `/usr/local/lib/python3.11` from `/usr/local/lib/python3.11/os.py`.
fn stdlib_root(guest: &str) -> String {
    match guest.find("/lib/python") {
        Some(i) => {
            let rest = &guest[i + "/lib/python".len()..];
            let end = rest
                .find('/')
                .map_or(guest.len(), |j| i + "/lib/python".len() + j);
            guest[..end].to_string()
        }
        None => crate::fsutil::parent_dir(Path::new(guest))
            .to_string_lossy()
            .into_owned(),
    }
}

/// `main` from `main` or `cli.main` (the module-level name that must exist).
fn entry_attr_head(entry: &EntryPoint) -> &str {
    entry.attr.split('.').next().unwrap_or(&entry.attr)
}

fn syntax_error(e: &SyntaxErrorReport, host_of: &BTreeMap<String, PathBuf>) -> Diagnostic {
    let host = host_of
        .get(&e.filename)
        .cloned()
        .unwrap_or_else(|| PathBuf::from(&e.filename));
    let message = format!("{}: {} in `{}`", e.kind, e.message, host.display());
    let diagnostic = Diagnostic::new(message)
        .help("fix the syntax error; pywasm compiles every source at build time");
    let (Some(line), Some(text)) = (e.line, e.text.as_deref()) else {
        let place = e.line.map_or(String::new(), |l| format!(":{l}"));
        return diagnostic.note(format!("at {}{place}", host.display()));
    };
    let source_line = text.trim_end_matches(['\n', '\r']).to_string();
    let column = e.column.unwrap_or(1).max(1);
    let width = e
        .end_column
        .map_or(1, |end| end.saturating_sub(column).max(1));
    diagnostic.at(Origin {
        path: host,
        line,
        column,
        source_line,
        width,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// compile.py's own tests (`pycompile/test_compile.py`), with the host's CPython: the
    /// script's logic, from the imports it finds to the result file it writes.
    #[test]
    fn the_compile_script_passes_its_own_tests() {
        let tests =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("src/python/pycompile/test_compile.py");
        let out = std::process::Command::new("python3")
            .arg("-I")
            .arg(&tests)
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn stdlib_root_is_the_versioned_lib_dir() {
        assert_eq!(
            stdlib_root("/usr/local/lib/python3.11/json/decoder.py"),
            "/usr/local/lib/python3.11"
        );
    }

    #[test]
    fn syntax_errors_point_at_the_host_file() {
        let report = SyntaxErrorReport {
            filename: "/app/demo/main.py".into(),
            kind: "SyntaxError".into(),
            message: "invalid syntax".into(),
            line: Some(3),
            column: Some(9),
            end_column: Some(10),
            text: Some("    x = = 1\n".into()),
        };
        let hosts = BTreeMap::from([(
            "/app/demo/main.py".to_string(),
            PathBuf::from("/p/src/demo/main.py"),
        )]);
        let text = syntax_error(&report, &hosts).to_string();
        assert!(
            text.contains("SyntaxError: invalid syntax in `/p/src/demo/main.py`"),
            "{text}"
        );
        assert!(text.contains("--> /p/src/demo/main.py:3:9"), "{text}");
        assert!(text.contains("3 |     x = = 1"), "{text}");
    }
}
