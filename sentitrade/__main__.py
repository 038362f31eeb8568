"""`python -m sentitrade`: the same as the `sentitrade` console script."""

from sentitrade.cli import main

main()
