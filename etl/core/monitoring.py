"""Core: the configuration of monitoring — where the metrics textfile goes (config.yaml's
``metrics``; docs/monitoring.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator


class MetricsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    textfile: Path | None = Field(None, description="Prometheus textfile (node_exporter's "
                                  "textfile collector), rewritten after every run; must end "
                                  "in .prom")

    @field_validator("textfile")
    @classmethod
    def _prom(cls, v: Path | None) -> Path | None:
        if v is not None and v.suffix != ".prom":
            raise ValueError("must end in .prom (node_exporter reads only those)")
        return v
