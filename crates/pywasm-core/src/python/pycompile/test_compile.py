"""Tests of compile.py, run with a native CPython by `cargo test -p pywasm-core` (pycompile's
`the_compile_script_passes_its_own_tests`): `python3 -I test_compile.py`."""

import ast
import importlib.util
import json
import os
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("pywasm_compile", os.path.join(HERE, "compile.py"))
compile_py = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compile_py)


def tree(source):
    return ast.parse(textwrap.dedent(source))


class Imports(unittest.TestCase):
    def test_every_depth_relative_and_from(self):
        found = compile_py.imports(tree("""
            import a.b
            from . import c
            from ..d import e
            from k import *
            def f():
                try:
                    import g
                except ImportError:
                    from h import i
        """))
        self.assertEqual(found, [".", "..d", "..d.e", ".c", "a.b", "g", "h", "h.i", "k"])

    def test_loader_literals_and_codecs(self):
        found = compile_py.imports(tree("""
            import importlib, pkgutil
            importlib.import_module("x.y")
            importlib.import_module("not a module")
            pkgutil.resolve_name("p.q:attr")
            b"".decode("cp437")
            open("f", encoding="latin-1")
        """))
        for module in ["x.y", "p.q", "encodings.cp437", "encodings.latin_1"]:
            self.assertIn(module, found)
        self.assertNotIn("not a module", found)

    def test_script_only_code_is_not_followed(self):
        found = compile_py.imports(tree("""
            import kept
            def _test():
                import only_for_the_script
            if __name__ == "__main__":
                import also_only_for_the_script
                _test()
        """))
        self.assertEqual(found, ["kept"])


class Defines(unittest.TestCase):
    def test_definitions_and_what_cannot_be_known(self):
        module = tree("""
            import os.path as p
            def main(): pass
            if True:
                x, (y, z) = 1, (2, 3)
        """)
        for name in ["main", "p", "x", "z"]:
            self.assertIs(compile_py.defines(module, name), True, name)
        self.assertIs(compile_py.defines(module, "missing"), False)
        self.assertIsNone(compile_py.defines(tree("from m import *"), "main"))
        self.assertIsNone(compile_py.defines(tree("def __getattr__(n): pass"), "main"))


class Docstrings(unittest.TestCase):
    def test_docstrings_go_and_asserts_stay(self):
        module = compile_py.without_docstrings(tree('''
            """module"""
            class C:
                """class"""
            def f():
                """function"""
                assert False, "kept"
        '''))
        namespace = {}
        exec(compile(module, "<test>", "exec"), namespace)
        self.assertIsNone(namespace["C"].__doc__)
        self.assertIsNone(namespace["f"].__doc__)
        self.assertRaisesRegex(AssertionError, "kept", namespace["f"])


class Main(unittest.TestCase):
    def test_writes_bytecode_errors_and_the_result(self):
        with tempfile.TemporaryDirectory() as work:
            good = os.path.join(work, "good.py")
            bad = os.path.join(work, "bad.py")
            with open(good, "w") as f:
                f.write("import json\ndef main():\n    return 0\n")
            with open(bad, "w") as f:
                f.write("def broken(:\n")
            jobs = {
                "files": [
                    {"src": good, "filename": "/app/good.py"},
                    {"src": bad, "filename": "/app/bad.py"},
                ],
                "entries": [{"filename": "/app/good.py", "name": "absent"}],
                "strip_docstrings": False,
            }
            job_path = os.path.join(work, "jobs.json")
            with open(job_path, "w") as f:
                json.dump(jobs, f)
            compile_py.main(job_path, work)
            with open(os.path.join(work, "result.json")) as f:
                result = json.load(f)
            pyc = importlib.util.cache_from_source("/app/good.py")
            self.assertEqual(result["compiled"], [["/app/good.py", pyc]])
            self.assertTrue(os.path.isfile(work + pyc))
            self.assertEqual(result["imports"], {"/app/good.py": ["json"]})
            self.assertEqual(result["undefined"], [0])
            [error] = result["errors"]
            self.assertEqual((error["filename"], error["kind"], error["line"]),
                             ("/app/bad.py", "SyntaxError", 1))


if __name__ == "__main__":
    sys.exit(unittest.main(verbosity=0, exit=False).result.wasSuccessful() is False)
