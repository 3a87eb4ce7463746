"""`python -m server`: the same as the `ksql-server` command."""

import sys

from server.main import main

sys.exit(main())
