"""`python -m etl` = the `etl` command."""

from etl.cli import main

main()
