# How the bench starts an app on CPython's own python.wasm, which takes its arguments after this
# script: argv[1:] are the app's. The sources are mounted at /src. xtask fills in the
# names in double braces (bench/rows.rs).
import sys

sys.path.insert(0, "/src")
sys.argv = ["{{name}}"] + sys.argv[1:]
from {{module}} import {{function}} as main

sys.exit(main())
