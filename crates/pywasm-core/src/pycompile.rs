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

use crate::collect::FileEntry;
use crate::manifest::{EntryPoint, Origin};
use crate::runtime::{Preopen, RunConfig, Runtime};
use crate::sdk::{PythonSdk, SdkHome};
use crate::{Shell, fsutil};

/// Runs inside python3.11.wasm. Reads the job file named by argv[1], writes one unchecked
/// hash-based .pyc per source below /out, and a result file with syntax errors and whether the
/// entry function is defined.
const COMPILE_SCRIPT: &str = r#"
import ast, importlib.util, json, os, sys
from importlib._bootstrap_external import _code_to_hash_pyc

def without_docstrings(tree):
    """Drops the docstring of the module and of every class and function, as `-OO` does, but
    keeps `assert` statements, which `-OO` drops too. Positions are kept for tracebacks."""
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        first = node.body[0] if node.body else None
        if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)):
            if len(node.body) == 1:
                node.body[0] = ast.copy_location(ast.Pass(), first)
            else:
                del node.body[0]
    return tree

def stmt_lists(body):
    yield body
    for node in body:
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(node, field, None)
            if isinstance(inner, list) and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                yield from stmt_lists(inner)
        for handler in getattr(node, "handlers", []) or []:
            yield from stmt_lists(handler.body)
        for case in getattr(node, "cases", []) or []:
            yield from stmt_lists(case.body)

def target_names(target):
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from target_names(element)

def defines(tree, name):
    """True, False, or None when the module could define it dynamically."""
    for body in stmt_lists(tree.body):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if node.name == name:
                    return True
                if node.name == "__getattr__":
                    return None
            elif isinstance(node, ast.Assign):
                if any(name in target_names(t) for t in node.targets):
                    return True
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                if name in target_names(node.target):
                    return True
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if alias.name == "*":
                        return None
                    if (alias.asname or alias.name.split(".")[0]) == name:
                        return True
    return False

def is_main_guard(node):
    """`if __name__ == "__main__":`, either way round."""
    test = getattr(node, "test", None)
    if not (isinstance(node, ast.If) and isinstance(test, ast.Compare) and len(test.ops) == 1
            and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s.id for s in sides if isinstance(s, ast.Name)]
    values = [s.value for s in sides if isinstance(s, ast.Constant)]
    return names == ["__name__"] and values == ["__main__"]

def run_as_script_only(tree):
    """The module-level statements that run only when the file is run as a script: the
    `__main__` blocks, and functions that nothing but those blocks names (`def _test():`)."""
    guards = [node for node in tree.body if is_main_guard(node)]
    if not guards:
        return set()
    inside = {id(n) for guard in guards for n in ast.walk(guard)}
    named_outside = set()
    for node in tree.body:
        if id(node) in inside:
            continue
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Store):
                named_outside.add(n.id)
    named_in_guards = {n.id for guard in guards for n in ast.walk(guard) if isinstance(n, ast.Name)}
    skipped = {id(g) for g in guards}
    for node in tree.body:
        if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in named_in_guards
                and node.name not in named_outside):
            skipped.add(id(node))
    return skipped

# Calls whose positional arguments name codecs; `encoding=` names one in any call.
CODEC_CALLS = {"decode", "encode", "lookup", "getencoder", "getdecoder", "getincrementalencoder",
               "getincrementaldecoder", "getreader", "getwriter", "iterencode", "iterdecode"}
_codec_modules = None

def codec_module(name):
    """The `encodings` module the codec search would import for `name`, if there is one."""
    global _codec_modules
    if _codec_modules is None:
        import encodings
        _codec_modules = {f[:-3] for f in os.listdir(encodings.__path__[0]) if f.endswith(".py")}
    from encodings import aliases, normalize_encoding
    norm = normalize_encoding(name.lower().replace(" ", "-"))
    for candidate in (aliases.aliases.get(norm), aliases.aliases.get(norm.replace(".", "_")), norm):
        if candidate in _codec_modules and candidate != "__init__":
            return "encodings." + candidate
    return None

def codecs_named(call):
    """`encodings.<codec>` for string literals a call passes as a codec name: `.decode('cp437')`,
    `open(f, encoding='latin-1')`, `x.decode(enc or 'cp437')`."""
    func = call.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    exprs = [kw.value for kw in call.keywords if kw.arg == "encoding"]
    if called in CODEC_CALLS:
        exprs.extend(call.args)
    for expr in exprs:
        for node in ast.walk(expr):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value:
                module = codec_module(node.value)
                if module:
                    yield module

def walk_except(tree, skipped):
    todo = [tree]
    while todo:
        node = todo.pop()
        if id(node) in skipped:
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))

def imports(tree):
    """Every import, at any depth: `a.b` absolute, `..a` relative (dots = level), and the
    absolute names given as literals to loader calls (`LOADER_CALLS`); except in
    code that runs only when the file is run as a script, which importing never reaches."""
    found = set()
    for node in walk_except(tree, run_as_script_only(tree)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found.add(base)
            sep = "" if base.endswith(".") else "."
            found.update(base + sep + alias.name for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call) and (node.args or node.keywords):
            found.update(codecs_named(node))
            if not node.args:
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if (called in LOADER_CALLS and isinstance(first, ast.Constant)
                    and isinstance(first.value, str)):
                found.update(literal_module(called, first.value))
    return sorted(found)

# Calls whose first argument names a module to import: `importlib.import_module`, `__import__`,
# `importlib.util.find_spec` (Markdown loads `html.parser` that way), pkgutil's loaders, and
# `pkgutil.resolve_name("a.b:attr")`.
LOADER_CALLS = {"import_module", "__import__", "find_spec", "find_loader", "get_loader",
                "resolve_name"}

def literal_module(called, name):
    """The absolute module a literal in a loader call names, if any (relative names are not
    followed); for `resolve_name`'s `a.b.c` form every prefix may be the module, and the graph
    keeps the ones that exist."""
    if called == "resolve_name":
        module, colon, _ = name.partition(":")
        parts = module.split(".")
        found = [module] if colon else [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    else:
        parts, found = name.split("."), [name]
    return found if all(part.isidentifier() for part in parts) else []

# The compiler's own imports keep their bytecode under a prefix (PYTHONPYCACHEPREFIX); what it
# compiles goes to __pycache__ beside its source, where the module's importers look.
sys.pycache_prefix = None
with open(sys.argv[1], encoding="utf-8") as f:
    jobs = json.load(f)
result = {"errors": [], "compiled": [], "undefined": [], "imports": {}}
for job in jobs["files"]:
    with open(job["src"], "rb") as f:
        source = f.read()
    try:
        tree = ast.parse(source, job["filename"])
        if jobs["strip_docstrings"]:
            tree = without_docstrings(tree)
        code = compile(tree, job["filename"], "exec", dont_inherit=True, optimize=0)
    except SyntaxError as e:
        result["errors"].append({"filename": job["filename"], "kind": type(e).__name__, "message": e.msg,
            "line": e.lineno, "column": e.offset, "end_column": e.end_offset if e.end_lineno == e.lineno else None,
            "text": e.text})
        continue
    except ValueError as e:
        result["errors"].append({"filename": job["filename"], "kind": "ValueError", "message": str(e),
            "line": None, "column": None, "end_column": None, "text": None})
        continue
    pyc = importlib.util.cache_from_source(job["filename"])
    out = "/out" + pyc
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "wb") as f:
        f.write(_code_to_hash_pyc(code, importlib.util.source_hash(source), False))
    result["compiled"].append([job["filename"], pyc])
    try:
        result["imports"][job["filename"]] = imports(ast.parse(source))
    except (SyntaxError, ValueError, RecursionError):
        pass
    for index, entry in enumerate(jobs["entries"]):
        if entry["filename"] == job["filename"] and not defines(ast.parse(source), entry["name"]):
            result["undefined"].append(index)
with open("/out/result.json", "w", encoding="utf-8") as f:
    json.dump(result, f)
"#;

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
pub struct Compiled {
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
    ) -> Result<Compiled> {
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
    ) -> Result<Compiled> {
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
    ) -> Result<Compiled> {
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
    ) -> Result<Compiled> {
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
            let reports: Vec<String> = result
                .errors
                .iter()
                .take(10)
                .map(|e| syntax_error(e, &host_of).to_string())
                .collect();
            let more = result.errors.len().saturating_sub(10);
            let tail = if more > 0 {
                format!("\n... and {more} more")
            } else {
                String::new()
            };
            bail!("{}{tail}", reports.join("\n\n"));
        }
        if let Some((entry, entry_file)) = result.undefined.first().and_then(|i| entries.get(*i)) {
            let message = format!(
                "function `{}` is not defined at the top level of `{}`",
                entry_attr_head(entry),
                entry_file.host.display()
            );
            let help = "define it there, or point the entry point or export at the right `module:function`";
            return Err(match &entry.origin {
                Some(origin) => origin.error(&message, Some(help)),
                None => anyhow::anyhow!("{message}\n  = help: {help}"),
            });
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

fn read_outputs(out: &Path) -> Result<Compiled> {
    let result: CompileResult =
        serde_json::from_str(&fs_err::read_to_string(out.join("result.json"))?)
            .with_context(|| format!("unreadable compile result in `{}`", out.display()))?;
    let mut bytecode = Vec::with_capacity(result.compiled.len());
    for (_, pyc) in result.compiled {
        let bytes = fs_err::read(out.join(pyc.trim_start_matches('/')))?;
        bytecode.push((pyc, bytes));
    }
    Ok(Compiled {
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

fn syntax_error(e: &SyntaxErrorReport, host_of: &BTreeMap<String, PathBuf>) -> anyhow::Error {
    let host = host_of
        .get(&e.filename)
        .cloned()
        .unwrap_or_else(|| PathBuf::from(&e.filename));
    let message = format!("{}: {} in `{}`", e.kind, e.message, host.display());
    let (Some(line), Some(text)) = (e.line, e.text.as_deref()) else {
        let place = e.line.map_or(String::new(), |l| format!(":{l}"));
        return anyhow::anyhow!("{message}\n  --> {}{place}", host.display());
    };
    let source_line = text.trim_end_matches(['\n', '\r']).to_string();
    let column = e.column.unwrap_or(1).max(1);
    let width = e
        .end_column
        .map_or(1, |end| end.saturating_sub(column).max(1));
    let origin = Origin {
        path: host,
        line,
        column,
        source_line,
        width,
    };
    origin.error(
        &message,
        Some("fix the syntax error; pywasm compiles every source at build time"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
