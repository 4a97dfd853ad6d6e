"""Shell: what the `etl` command and the daemon print — ``text`` for people on a terminal
(aligned tables, times in the configured zone), ``records`` for scripts (`--json`: one JSON
object per line). Both are built from the library's plain data."""
