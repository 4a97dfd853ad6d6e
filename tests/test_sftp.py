"""SFTP drops against a real OpenSSH sshd on 127.0.0.1: host key trust, authentication, retries
after a dropped connection, settlement on the server, concurrent runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import paramiko
import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from bench.generate import generate, write
from etl.cli import app
from etl.core.config import load_config
from etl.core.errors import AuthRefused, HostKeyRefused
from etl.runner import Runner
from etl.store import Database
from tests.conftest import SAMPLES, as_unprivileged, dump, require_sshd, slow_upload, write_config
from tests.sshd import Sshd, keygen

NOV = SAMPLES / "wodis-style" / "mieterliste_2026-11-01.csv"
BAD = SAMPLES / "bad" / "wodis-style" / "invalid_email.csv"


def host_line(server: Sshd) -> str:
    kind, blob = Path(f"{server.host_key}.pub").read_text().split()[:2]
    return f"[127.0.0.1]:{server.port} {kind} {blob}\n"


def fingerprint(server: Sshd) -> str:
    return paramiko.PKey.from_path(server.host_key).fingerprint


def make_config(tmp_path: Path, database_url: str, server: Sshd, *, trusted: bool = True,
                key: Path | None = None, auth: dict | None = None, marker: str | None = None,
                **extra: object) -> tuple[Path, Path]:
    """config.yaml with an SFTP drop on ``server``; returns (config path, server-side folder)."""
    remote = tmp_path / "server"
    (remote / "inbox").mkdir(parents=True, exist_ok=True)
    known = tmp_path / "known_hosts"
    if trusted:
        known.write_text(host_line(server))
    drop = {"path": str(remote), "settle_seconds": extra.pop("settle_seconds", 0),
            "marker": marker,
            "sftp": {"host": "127.0.0.1", "port": server.port, "user": server.user,
                     **(auth or {"key_file": str(key or server.client_keys["ed25519"])}),
                     "known_hosts": str(known), "retries": 3, "backoff_seconds": 0.1,
                     "connect_timeout": 5, "read_timeout": 10, **extra}}
    sources = {"lindenhof": {"client": "wg-lindenhof", "mapping": "wodis-style", "drop": drop}}
    return write_config(tmp_path, database_url, sources), remote


def runner_for(config: Path, engine) -> Runner:
    return Runner(load_config(config), Database(engine))


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)).split("/", 1)[0] + "/" + p.name
            for p in folder.rglob("*") if p.is_file()}


def applied(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT name FROM etl_file WHERE outcome IN ('applied', 'unchanged') ORDER BY name")).scalars())


@pytest.mark.parametrize("key", ["ed25519", "rsa"])
def test_exports_come_down_are_imported_and_settled_on_the_server(
        sshd, tmp_path, database_url, engine, key: str) -> None:
    config, remote = make_config(tmp_path, database_url, sshd, key=sshd.client_keys[key])
    shutil.copy(NOV, remote / "inbox")
    shutil.copy(BAD, remote / "inbox" / "mieterliste_2026-11-02.csv")
    (remote / "inbox" / ".mieterliste_2026-11-03.csv.part").write_bytes(b"half")
    done = runner_for(config, engine).run("lindenhof")
    assert [(o.key, o.status) for o in done.outcomes] == [
        ("mieterliste_2026-11-01.csv", "applied"), ("mieterliste_2026-11-02.csv", "rejected")]
    assert tree(remote) == {"archive/mieterliste_2026-11-01.csv",
                            "archive/mieterliste_2026-11-01.bericht.html",
                            "error/mieterliste_2026-11-02.csv",
                            "error/mieterliste_2026-11-02.fehler.csv",
                            "error/mieterliste_2026-11-02.fehler.txt",
                            "error/mieterliste_2026-11-02.bericht.html",
                            "inbox/.mieterliste_2026-11-03.csv.part"}
    report = (remote / "error" / "mieterliste_2026-11-02.fehler.csv").read_text("utf-8-sig")
    assert "email.invalid" in report or "E-Mail" in report
    assert applied(engine) == ["mieterliste_2026-11-01.csv"]
    assert not list((tmp_path / "var" / "staging").rglob("*.csv"))


def test_an_unknown_host_key_is_refused_until_trusted(sshd, tmp_path, database_url,
                                                      engine) -> None:
    config, remote = make_config(tmp_path, database_url, sshd, trusted=False)
    shutil.copy(NOV, remote / "inbox")
    before = dump(engine)
    done = runner_for(config, engine).run("lindenhof")
    assert isinstance(done.error, HostKeyRefused) and done.exit_code == 5
    assert "not trusted yet" in str(done.error)
    assert "etl sftp trust --source lindenhof" in str(done.error)
    assert fingerprint(sshd) in str(done.error)
    assert dump(engine) == before and tree(remote) == {"inbox/mieterliste_2026-11-01.csv"}
    assert not (tmp_path / "known_hosts").exists()  # never added on its own

    cli = CliRunner()
    wrong = "SHA256:" + "A" * 43
    result = cli.invoke(app, ["sftp", "trust", "--source", "lindenhof", "--config", str(config),
                              "--fingerprint", wrong])
    assert result.exit_code == 5 and "not trusted" in result.output
    result = cli.invoke(app, ["sftp", "trust", "--source", "lindenhof", "--config", str(config)],
                        input="n\n")
    assert result.exit_code == 1 and not (tmp_path / "known_hosts").exists()
    assert fingerprint(sshd) in result.output
    result = cli.invoke(app, ["sftp", "trust", "--source", "lindenhof", "--config", str(config)],
                        input="y\n")
    assert result.exit_code == 0, result.output
    assert "Trusted" in result.output
    result = cli.invoke(app, ["sftp", "trust", "--source", "lindenhof", "--config", str(config),
                              "--fingerprint", fingerprint(sshd)])
    assert result.exit_code == 0 and "Already trusted" in result.output

    done = runner_for(config, engine).run("lindenhof")
    assert [o.status for o in done.outcomes] == ["applied"]


def test_a_changed_host_key_is_refused(tmp_path, database_url, engine) -> None:
    require_sshd()
    server = Sshd.start(tmp_path / "own-sshd")
    try:
        config, remote = make_config(tmp_path, database_url, server)
        server.new_host_key()  # the server was replaced, or someone is in the middle
        shutil.copy(NOV, remote / "inbox")
        done = runner_for(config, engine).run("lindenhof")
        assert isinstance(done.error, HostKeyRefused)
        assert "HOST KEY CHANGED" in str(done.error)
        assert fingerprint(server) in str(done.error)
        assert applied(engine) == [] and tree(remote) == {"inbox/mieterliste_2026-11-01.csv"}
        result = CliRunner().invoke(app, ["sftp", "trust", "--source", "lindenhof", "--config",
                                          str(config)], input="n\n")
        assert "DIFFERENT key" in result.output and result.exit_code == 1
    finally:
        server.stop()


def test_a_pinned_fingerprint_decides(sshd, tmp_path, database_url, engine) -> None:
    config, remote = make_config(tmp_path, database_url, sshd, trusted=False,
                                 host_key_fingerprint="SHA256:" + "B" * 43)
    shutil.copy(NOV, remote / "inbox")
    done = runner_for(config, engine).run("lindenhof")
    assert isinstance(done.error, HostKeyRefused) and "configured fingerprint" in str(done.error)
    config, _ = make_config(tmp_path, database_url, sshd, trusted=False,
                            host_key_fingerprint=fingerprint(sshd))
    assert [o.status for o in runner_for(config, engine).run("lindenhof").outcomes] == ["applied"]


def test_a_wrong_client_key_is_refused(sshd, tmp_path, database_url, engine) -> None:
    stranger = keygen(tmp_path / "stranger")
    config, remote = make_config(tmp_path, database_url, sshd, key=stranger)
    shutil.copy(NOV, remote / "inbox")
    done = runner_for(config, engine).run("lindenhof")
    assert isinstance(done.error, AuthRefused) and done.exit_code == 5
    assert f"refused user {sshd.user!r}" in str(done.error)
    assert applied(engine) == [] and tree(remote) == {"inbox/mieterliste_2026-11-01.csv"}


def test_a_password_login_is_taken_from_the_environment_and_a_refusal_is_clear(
        sshd, tmp_path, database_url, engine, monkeypatch) -> None:
    monkeypatch.setenv("DROP_PASSWORD", "nicht-geheim-genug")
    config, remote = make_config(tmp_path, database_url, sshd,
                                 auth={"password_env": "DROP_PASSWORD"})
    assert "nicht-geheim" not in config.read_text()
    shutil.copy(NOV, remote / "inbox")
    done = runner_for(config, engine).run("lindenhof")  # this sshd allows keys only
    assert isinstance(done.error, AuthRefused) and "(password)" in str(done.error)
    assert "nicht-geheim" not in str(done.error)
    monkeypatch.delenv("DROP_PASSWORD")
    done = runner_for(config, engine).run("lindenhof")
    assert done.exit_code == 3 and "DROP_PASSWORD is not set" in str(done.error)
    assert applied(engine) == []


def test_marker_mode_over_sftp(sshd, tmp_path, database_url, engine) -> None:
    config, remote = make_config(tmp_path, database_url, sshd, marker=".done")
    shutil.copy(NOV, remote / "inbox")
    runner = runner_for(config, engine)
    assert runner.run("lindenhof").waiting == ["mieterliste_2026-11-01.csv"]
    (remote / "inbox" / "mieterliste_2026-11-01.csv.done").touch()
    assert [o.status for o in runner.run("lindenhof").outcomes] == ["applied"]
    assert tree(remote) == {"archive/mieterliste_2026-11-01.csv",
                            "archive/mieterliste_2026-11-01.csv.done",
                            "archive/mieterliste_2026-11-01.bericht.html"}


def test_a_connection_dropped_mid_download_is_retried_without_partial_import(
        sshd, tmp_path, database_url, engine, caplog) -> None:
    config, remote = make_config(tmp_path, database_url, sshd)
    write(generate(20_000), remote / "inbox" / "mieterliste_2026-11-01.csv")
    size = (remote / "inbox" / "mieterliste_2026-11-01.csv").stat().st_size
    killed: list[int] = []

    def progress(done: int, total: int) -> None:
        if not killed and done >= total // 3:
            killed.append(sshd.kill_sessions())  # the network drops in the middle

    runner = runner_for(config, engine)
    runner.progress = progress
    done = runner.run("lindenhof")
    assert killed == [1]
    assert any("Retrying" in r.getMessage() for r in caplog.records), "no retry happened"
    assert [o.status for o in done.outcomes] == ["applied"] and done.exit_code == 0
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*), max(size) FROM etl_file WHERE "
                                    "outcome IN ('applied', 'unchanged')")).one() == (1, size)
        assert conn.execute(sa.text("SELECT count(*) FROM etl_run WHERE status = 'applied'")
                            ).scalar_one() == 1
    assert tree(remote) == {"archive/mieterliste_2026-11-01.csv",
                            "archive/mieterliste_2026-11-01.bericht.html"}


def test_a_file_still_being_uploaded_is_not_taken(sshd, tmp_path, database_url,
                                                  engine) -> None:
    config, remote = make_config(tmp_path, database_url, sshd, settle_seconds=1.5)
    transport = paramiko.Transport(("127.0.0.1", sshd.port))
    transport.connect(username=sshd.user,
                      pkey=paramiko.PKey.from_path(sshd.client_keys["ed25519"]))
    uploader = paramiko.SFTPClient.from_transport(transport)
    target = str(remote / "inbox" / "mieterliste_2026-11-01.csv")
    try:
        with slow_upload(lambda: uploader.open(target, "wb"), NOV.read_bytes()):
            done = runner_for(config, engine).run("lindenhof")
    finally:
        transport.close()
    assert done.outcomes == [] and done.waiting == ["mieterliste_2026-11-01.csv"]
    assert applied(engine) == []


def test_two_runs_at_once_over_sftp_import_each_file_once(sshd, tmp_path, database_url,
                                                          engine) -> None:
    config, remote = make_config(tmp_path, database_url, sshd, settle_seconds=1)
    shutil.copy(NOV, remote / "inbox")
    env = {**os.environ, "ETL_DATABASE_URL": database_url}
    runs = [subprocess.Popen([sys.executable, "-m", "etl", "run", "--config", str(config)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [r.communicate(timeout=120) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outputs
    assert "".join(o for o, _ in outputs).count("APPLIED") == 1, outputs
    assert applied(engine) == ["mieterliste_2026-11-01.csv"]
    assert tree(remote) == {"archive/mieterliste_2026-11-01.csv",
                            "archive/mieterliste_2026-11-01.bericht.html"}


def test_the_purge_deletes_what_is_due_on_the_server_and_nothing_else(sshd, tmp_path,
                                                                      database_url,
                                                                      engine) -> None:
    config, remote = make_config(tmp_path, database_url, sshd)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["retention"] = {"archive_days": 30, "error_days": 30}
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    old, young = remote / "archive" / "2020" / "01" / "01", remote / "archive" / "2999" / "01" / "01"
    for folder in (old, young, remote / "error"):
        folder.mkdir(parents=True)
    (old / "mieterliste_2019-12-31.csv").write_text("x")
    (young / "mieterliste_2998-12-31.csv").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "other-client.csv").write_text("not this drop's")
    (old / "elsewhere").symlink_to(outside, target_is_directory=True)
    long_ago = time.time() - 40 * 86_400
    for name in ("mieterliste_2020-01-02.csv", "mieterliste_2020-01-02.fehler.txt"):
        (remote / "error" / name).write_text("x")
        os.utime(remote / "error" / name, (long_ago, long_ago))
    (remote / "error" / "mieterliste_2026-11-20.csv").write_text("x")
    done = runner_for(config, engine).purge("lindenhof")
    assert done.error is None and done.purged is not None
    assert (done.purged.archived_files, done.purged.rejected_files) == (1, 1)  # + its report
    assert not (remote / "error" / "mieterliste_2020-01-02.fehler.txt").exists()
    assert not (old / "mieterliste_2019-12-31.csv").exists()
    assert (young / "mieterliste_2998-12-31.csv").exists()
    assert (outside / "other-client.csv").exists()
    assert sorted(p.name for p in (remote / "error").iterdir()) == ["mieterliste_2026-11-20.csv"]


def test_trust_that_cannot_write_known_hosts_is_exit_3_in_one_line(sshd, tmp_path,
                                                                  database_url) -> None:
    config, _ = make_config(tmp_path, database_url, sshd, trusted=False)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    locked = tmp_path / "locked"
    locked.mkdir()
    data["sources"]["lindenhof"]["drop"]["sftp"]["known_hosts"] = str(locked / "known_hosts")
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    locked.chmod(0o500)
    prefix = as_unprivileged()
    try:
        result = subprocess.run([*prefix, sys.executable, "-m", "etl", "sftp", "trust",
                                 "--source", "lindenhof", "--config", str(config),
                                 "--fingerprint", fingerprint(sshd)],
                                check=False, capture_output=True, text=True, timeout=60)
    finally:
        locked.chmod(0o700)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "known_hosts" in result.stderr and "cannot be written" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
