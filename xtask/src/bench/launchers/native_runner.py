# How the bench starts an app on native CPython (`python -I -c`): argv[1] is the app's name, the
# rest its arguments. xtask fills in the values in double braces (bench/rows.rs).
import sys

sys.argv = sys.argv[1:]
sys.path[0:0] = [{{src}}, {{site}}]
from {{module}} import {{function}} as main

sys.exit(main())
