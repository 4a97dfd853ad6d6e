"""Core: where the portal database is — its URL, never with a password in it."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field, field_validator

_SECRET_PARAMETERS = {"password", "passwd", "pwd", "sslpassword"}


def url_secret(url: str) -> bool:
    """Whether a database URL carries a password: after the user (``user:pw@``, also with an
    empty user or a ``/`` in the password — read as SQLAlchemy reads it) or as a query parameter
    (``?password=``)."""
    rest, _, query = url.partition("://")[2].partition("?")
    userinfo = re.match(r"[^:/@]*(?::(?P<password>[^@]*))?@", rest)
    if userinfo and userinfo["password"]:
        return True
    return any(key.lower() in _SECRET_PARAMETERS and any(values)
               for key, values in parse_qs(query, keep_blank_values=True).items())


class DatabaseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    url: str = Field("sqlite:///portal.db", description="without password: see password_env")
    password_env: str = Field("ETL_DATABASE_PASSWORD",
                              description="environment variable holding the password")

    @field_validator("url")
    @classmethod
    def _no_secret(cls, v: str) -> str:
        if url_secret(v):
            raise ValueError("the URL holds a password: put it in the environment "
                             "(database.password_env) instead of config.yaml")
        return v
