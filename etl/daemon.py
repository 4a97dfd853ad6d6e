"""Shell: the daemon behind `etl schedule`. APScheduler 3 with one cron trigger per source that
has a drop and a schedule; a source never runs twice at once (max_instances=1; missed runs
coalesce into one, started up to ``misfire_grace_seconds`` late). SIGTERM or SIGINT: the file
being imported is finished and settled, nothing new is started, and the process exits 0.
APScheduler lives here and nowhere else.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from etl.console.text import purge_line, summary_line
from etl.core.config import AppConfig
from etl.core.cron import CronSchedule, parse
from etl.core.errors import ConfigError, EtlError
from etl.core.settle import settled
from etl.runner import Runner

log = logging.getLogger(__name__)


def _job(runner: Runner, name: str) -> None:
    if runner.stop.is_set():
        return
    try:
        done = runner.run(name)
    except EtlError as exc:
        log.error("source %s: %s", name, exc)
        return
    except Exception as exc:  # one source's bug must not end the daemon
        log.error("source %s: unexpected %s (see the next run)", name, type(exc).__name__,
                  exc_info=exc)
        return
    level = logging.INFO if done.exit_code == 0 else logging.WARNING
    log.log(level, "%s", summary_line(done))


def build(runner: Runner) -> BackgroundScheduler:
    """A scheduler with one job per scheduled source (not started)."""
    cfg: AppConfig = runner.cfg
    zone = ZoneInfo(cfg.timezone)
    scheduled = {n: s for n, s in cfg.sources.items() if s.schedule and s.drop}
    if not scheduled:
        raise ConfigError("no source has both a drop and a schedule: nothing to run")
    workers = cfg.scheduler.max_parallel
    scheduler = BackgroundScheduler(
        timezone=zone,
        executors={"default": ThreadPoolExecutor(workers)},
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": cfg.scheduler.misfire_grace_seconds},
    )
    for name, src in scheduled.items():
        assert src.parsed_schedule is not None
        scheduler.add_job(_job, trigger(src.parsed_schedule, zone), args=[runner, name], id=name,
                          name=f"import {name}")
    scheduler.add_job(_purge, trigger(parse(cfg.scheduler.purge), zone), args=[runner],
                      id="purge", name="purge every source")
    return scheduler


def _purge(runner: Runner) -> None:
    """The daily purge of every source (sources without a schedule included)."""
    for name in runner.cfg.sources:
        if runner.stop.is_set():
            return
        done = runner.purge(name)
        log.log(logging.INFO if done.exit_code == 0 else logging.WARNING, "%s",
                purge_line(done, dry_run=False))


def trigger(schedule: CronSchedule, zone: ZoneInfo) -> CronTrigger:
    """APScheduler's trigger of a checked cron schedule."""
    return CronTrigger(**schedule.fields, timezone=zone)


def serve(runner: Runner) -> int:
    """Run until SIGTERM/SIGINT, then finish the current file and stop; returns 0."""
    settled()  # a long life: the collector runs from here (`etl.core.settle`)
    scheduler = build(runner)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: finishing the current file, starting nothing new",
                 signal.Signals(signum).name)
        runner.stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.start()
        for job in scheduler.get_jobs():
            log.info("%s: scheduled, next run %s", job.name, job.next_run_time)
        while not runner.stop.wait(1):
            pass
        scheduler.shutdown(wait=True)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    log.info("scheduler stopped")
    return 0


