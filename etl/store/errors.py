"""Store, the error seam: the database's own errors (SQLAlchemy, psycopg, sqlite3) become the
project's — LoadError (exit 6), LoadRefused when the data itself is refused — with the driver's
primary message only (never a statement's parameters or a failing row); and the database URL
composed from config.yaml and the environment, a password in config.yaml refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DataError, IntegrityError, SQLAlchemyError

from etl.core.database_config import DatabaseConfig, url_secret
from etl.core.errors import ConfigError, LoadError
from etl.store.glance import describe

DATABASE_ERRORS = (SQLAlchemyError, sqlite3.Error, psycopg.Error)
# the data itself was refused (a value the column cannot hold, a constraint): not transient
REFUSALS = (DataError, IntegrityError, psycopg.DataError, psycopg.IntegrityError,
            sqlite3.DataError, sqlite3.IntegrityError)


class AlreadyApplied(Exception):
    """Another run applied the same file first (the ledger's key was taken)."""


def database_url(cfg: DatabaseConfig, environ: Mapping[str, str]) -> str:
    """The database URL: ``ETL_DATABASE_URL`` if set, else ``database.url`` with the password
    from the environment variable ``database.password_env`` (if set). Raises ConfigError."""
    if environ.get("ETL_DATABASE_URL"):
        return environ["ETL_DATABASE_URL"]
    try:
        url = make_url(cfg.url)
    except ArgumentError as exc:
        raise ConfigError(f"database.url is not a database URL: {exc}") from exc
    if url.password or url_secret(cfg.url):  # as SQLAlchemy reads it, and as config.yaml does
        raise ConfigError("database.url holds a password: put it in the environment "
                          "(database.password_env) instead of config.yaml")
    password = environ.get(cfg.password_env)
    if password and url.username:
        url = url.set(password=password)
    return url.render_as_string(hide_password=False)


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Run a block whose database errors become a LoadError naming ``what`` was being done."""
    try:
        yield
    except DATABASE_ERRORS as exc:
        raise LoadError(f"database failure while {what}: {describe(exc)}",
                        hint="nothing was changed; run again") from exc
