"""`python -m service`: the `immuno-cds` command line (python -m service serve, ... evaluate, ...)."""

import sys

from service.cli import main

sys.exit(main())
