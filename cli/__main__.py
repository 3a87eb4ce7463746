"""`python -m cli`: the same as the `ksql` command."""

import sys

from cli.main import main

sys.exit(main())
