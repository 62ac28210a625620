# The app as componentize-py builds it for the bench: its `wasi:cli/run` export calls the app's
# entry function. xtask fills in the names in double braces (bench/componentize.rs).
import sys

from wit_world import exports

from {{module}} import {{function}} as entry

# componentize-py leaves out what argparse imports inside functions.
import locale, shutil, _colorize


class Run(exports.Run):
    def run(self) -> None:
        sys.argv = ["{{name}}"] + sys.argv[1:]
        entry()
