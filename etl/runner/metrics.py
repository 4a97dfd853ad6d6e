"""Runner, metrics: a Prometheus textfile for node_exporter's textfile collector, rewritten
atomically (prometheus_client's write_to_textfile: a temporary file, then a rename) after every
pass, retry, purge and import, from the run records — so that cron runs, the daemon and an
operator's import all leave the same figures behind. docs/monitoring.md has the alert rules."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from etl.core.errors import EtlError
from etl.store import Database
from etl.store.metrics import SourceFacts

log = logging.getLogger(__name__)


class _Facts(Collector):
    def __init__(self, facts: dict[str, SourceFacts]):
        self.facts = facts

    def collect(self) -> Iterator[Metric]:
        runs = CounterMetricFamily("etl_runs", "Runs on record, by outcome.",
                                   labels=["source", "outcome"])
        events = CounterMetricFamily("etl_events", "Change events written, by type.",
                                     labels=["source", "event"])
        problems = CounterMetricFamily(
            "etl_rejected_problems", "Problems of rejected or refused exports, by rule.",
            labels=["source", "rule"])
        warnings = CounterMetricFamily(
            "etl_imported_warnings", "Problems of imported exports that were imported as they "
            "are (a rule of severity warning), by rule.", labels=["source", "rule"])
        held = CounterMetricFamily(
            "etl_held_rows", "Errors of imported exports whose rows were held back (their last "
            "accepted state kept), by rule.", labels=["source", "rule"])
        rows = GaugeMetricFamily("etl_rows", "Rows of the last accepted export, by entity.",
                                 labels=["source", "entity"])
        stages = GaugeMetricFamily("etl_last_run_stage_seconds",
                                   "Seconds per stage of the newest import run.",
                                   labels=["source", "stage"])
        success = GaugeMetricFamily("etl_last_success_timestamp_seconds",
                                    "When the newest applied, unchanged or duplicate run ended.",
                                    labels=["source"])
        last = GaugeMetricFamily("etl_last_run_timestamp_seconds",
                                 "When the newest import run ended.", labels=["source"])
        in_a_row = GaugeMetricFamily(
            "etl_failures_in_a_row",
            "Newest import runs in a row that were rejected, refused or failed.",
            labels=["source"])
        for source, fact in sorted(self.facts.items()):
            for label, value, family in (
                    *((k, v, runs) for k, v in fact.runs.items()),
                    *((k, v, events) for k, v in fact.events.items()),
                    *((k, v, problems) for k, v in fact.problems.items()),
                    *((k, v, warnings) for k, v in fact.warnings.items()),
                    *((k, v, held) for k, v in fact.held.items()),
                    *((k, v, rows) for k, v in fact.rows.items()),
                    *((k, v, stages) for k, v in fact.stage_seconds.items())):
                family.add_metric([source, label], value)
            for family, moment in ((success, fact.last_success), (last, fact.last_run)):
                if moment is not None:
                    family.add_metric([source], moment.timestamp())
            in_a_row.add_metric([source], fact.failures_in_a_row)
        written = GaugeMetricFamily("etl_metrics_written_timestamp_seconds",
                                    "When this file was written.")
        written.add_metric([], time.time())
        yield from (runs, events, problems, warnings, held, rows, stages, success, last, in_a_row,
                    written)


def write_metrics(path: Path | None, database: Database) -> None:
    """Rewrite the textfile at ``path`` (nothing when None). A failure is logged, never raised:
    metrics must not fail an import that succeeded."""
    if path is None:
        return
    try:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Facts(database.metric_facts()))
        write_to_textfile(str(path), registry)
    except (EtlError, OSError) as exc:
        log.warning("metrics not written to %s: %s", path, exc)
