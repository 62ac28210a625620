# componentize-py's command line, run from the directory pip installed it into (bench/componentize.rs).
import sys

import componentize_py

sys.argv[0] = "componentize-py"
sys.exit(componentize_py.script())
