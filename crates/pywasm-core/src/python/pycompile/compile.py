"""pywasm's bytecode compiler (crate::python::pycompile). It runs inside the SDK's python3.11.wasm, the
very CPython that later runs the bytecode: `python -S -c <this file> /out/jobs.json`.

It reads the job file, writes one unchecked hash-based `.pyc` per source below `/out` (at the
path `importlib.util.cache_from_source` gives), and `/out/result.json`: syntax errors with their
positions, the imports of every file (for the import graph) and the entries the files do not
define. test_compile.py tests it with a native CPython of the same minor version.
"""
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

def main(job_path, out_dir="/out"):
    """Compiles the jobs of the file `job_path`; writes the bytecode and `result.json` below
    `out_dir`."""
    with open(job_path, encoding="utf-8") as f:
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
        out = out_dir + pyc
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "wb") as f:
            f.write(_code_to_hash_pyc(code, importlib.util.source_hash(source), False))
        result["compiled"].append([job["filename"], pyc])
        # The tree compiled above serves both: stripping docstrings changes no import and no
        # definition, and compile() leaves the tree as it was.
        try:
            result["imports"][job["filename"]] = imports(tree)
        except (SyntaxError, ValueError, RecursionError):
            pass
        for index, entry in enumerate(jobs["entries"]):
            if entry["filename"] == job["filename"] and not defines(tree, entry["name"]):
                result["undefined"].append(index)
    with open(out_dir + "/result.json", "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    # The compiler's own imports keep their bytecode under a prefix (PYTHONPYCACHEPREFIX); what it
    # compiles goes to __pycache__ beside its source, where the module's importers look.
    sys.pycache_prefix = None
    main(sys.argv[1])
