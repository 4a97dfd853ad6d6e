"""`python -m etl` = the `etl` command."""

from etl.cli import app

app()
