"""`python -m trader`: the same as `sentitrade trade`."""

import sys

from sentitrade.cli import main

sys.argv[1:1] = ["trade"]
main()
