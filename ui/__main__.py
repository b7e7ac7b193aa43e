"""`python -m ui`: see ui/cli.py."""

import sys

from ui.cli import main

sys.exit(main())
