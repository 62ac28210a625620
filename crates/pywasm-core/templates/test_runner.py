"""The entry point of a module built by `pywasm test`: runs the project's tests inside it.

Rendered by pywasm from templates/test_runner.py. The same file runs natively for
`pywasm test --compare`, where PYWASM_TEST_APP_DIR maps the module's /app to the project.
Its exit status is pytest's: 0 all passed, 1 some failed, 2 interrupted, 4 usage error, 5 no tests.
With PYWASM_TEST_REPORT set, each test's outcome is written there as JSON when the run ends.
"""
import json
import os
import sys

RUNNER = {{runner}}
PATHS = {{paths}}
APP_DIR = "/app"

if RUNNER == "pytest":
    import pytest


def _paths():
    native = os.environ.get("PYWASM_TEST_APP_DIR")
    if not native:
        return APP_DIR, list(PATHS)
    return native, [native + p[len(APP_DIR):] for p in PATHS]


def _write_report(code, outcomes):
    target = os.environ.get("PYWASM_TEST_REPORT")
    if target:
        with open(target, "w", encoding="utf-8") as f:
            json.dump({"exit": code, "tests": outcomes}, f, indent=1, sort_keys=True)


class _Recorder:
    """A pytest plugin keeping each test's outcome by node id."""

    def __init__(self):
        self.outcomes = {}

    def pytest_runtest_logreport(self, report):
        xfail = hasattr(report, "wasxfail")
        if report.when == "call":
            outcome = report.outcome
            if xfail:
                outcome = "xfailed" if report.skipped else "xpassed"
            self.outcomes[report.nodeid] = outcome
        elif report.skipped:
            self.outcomes[report.nodeid] = "xfailed" if xfail else "skipped"
        elif report.failed:
            # An error in setup or teardown.
            self.outcomes[report.nodeid] = "error"


def _run_pytest(root, paths, args):
    recorder = _Recorder()
    # WASI has no dup(), which pytest's default capture and its faulthandler plugin need; `-s` or
    # `--capture` given by the user comes later and wins.
    options = ["-p", "no:cacheprovider", "--capture=sys", "--rootdir", root]
    if sys.platform == "wasi":
        # pytest names its temporary directory after os.getuid(), which WASI lacks, unless told
        # where it goes.
        options += ["-p", "no:faulthandler", "--basetemp", "/tmp/pytest"]
    code = pytest.main([*options, *paths, *args], plugins=[recorder])
    return int(code), recorder.outcomes


def _run_unittest(root, paths, args):
    import unittest

    outcomes = {}

    class Result(unittest.TextTestResult):
        def _record(self, test, outcome):
            outcomes[test.id()] = outcome

        def addSuccess(self, test):
            super().addSuccess(test)
            self._record(test, "passed")

        def addFailure(self, test, err):
            super().addFailure(test, err)
            self._record(test, "failed")

        def addError(self, test, err):
            super().addError(test, err)
            self._record(test, "error")

        def addSkip(self, test, reason):
            super().addSkip(test, reason)
            self._record(test, "skipped")

        def addExpectedFailure(self, test, err):
            super().addExpectedFailure(test, err)
            self._record(test, "xfailed")

        def addUnexpectedSuccess(self, test):
            super().addUnexpectedSuccess(test)
            self._record(test, "xpassed")

    verbosity = 2 if "-v" in args or "--verbose" in args else 1
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for path in paths:
        if os.path.isdir(path):
            # A tests directory that is a package is imported as one, from the directory above.
            top = os.path.dirname(path) if os.path.isfile(os.path.join(path, "__init__.py")) else path
            suite.addTests(loader.discover(path, top_level_dir=top))
        else:
            directory, name = os.path.split(path)
            sys.path.insert(0, directory)
            suite.addTests(loader.loadTestsFromName(name[: -len(".py")]))
    if loader.errors:
        for error in loader.errors:
            print(error, file=sys.stderr)
    result = unittest.TextTestRunner(
        stream=sys.stdout, verbosity=verbosity, resultclass=Result
    ).run(suite)
    if result.testsRun == 0 and not loader.errors:
        return 5, outcomes
    return (0 if result.wasSuccessful() and not loader.errors else 1), outcomes


def main():
    root, paths = _paths()
    run = _run_pytest if RUNNER == "pytest" else _run_unittest
    code, outcomes = run(root, paths, sys.argv[1:])
    _write_report(code, outcomes)
    return code
