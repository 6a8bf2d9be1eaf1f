"""`python -m service.cli`: the same as the `immuno-cds` console script."""

import sys

from service.cli import main

sys.exit(main())
