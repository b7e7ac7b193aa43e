"""`python -m eval.bench`: the former name of `python -m bench`, kept for one release."""

import sys

from bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
