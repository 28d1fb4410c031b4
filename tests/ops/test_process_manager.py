"""`make run`'s process manager (deploy/supervisord.conf) restarts a service that dies and still stops everything,
its children included, on Ctrl-C (SIGINT). Run on a tiny stand-in program with the committed program options, not
the whole system."""

import configparser
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "deploy" / "supervisord.conf"
SERVICES = {"mail", "providers", "citizen-id", "intake", "processing", "notify", "gateway"}

# Writes "<its pid> <its child's pid>" to a file, then waits: a child of its own (a shell, like a worker process)
# shows that the whole process group is stopped.
DUMMY = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(f"{os.getpid()} {child.pid}")
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(3600)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not reaped by its parent yet) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(predicate, what: str, limit: float = 30.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def read_pids(path: Path) -> tuple[int, int] | None:
    try:
        main, child = path.read_text().split()
    except (FileNotFoundError, ValueError):
        return None
    return int(main), int(child)


def committed() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    parser.read(CONF)
    return parser


def test_every_service_is_restarted_and_stopped_as_a_group():
    conf = committed()
    programs = {s.removeprefix("program:"): conf[s] for s in conf.sections() if s.startswith("program:")}
    assert set(programs) == SERVICES
    for name, options in programs.items():
        assert options["autorestart"] == "true", name
        assert options["stopasgroup"] == "true" and options["killasgroup"] == "true", name
    assert conf["supervisord"]["nodaemon"] == "true"  # in the foreground of `make run`, where Ctrl-C reaches it


def test_a_killed_service_is_restarted_and_sigint_stops_everything(tmp_path):
    conf = committed()
    for section in [s for s in conf.sections() if s.startswith("program:") and s != "program:intake"]:
        conf.remove_section(section)
    pids = tmp_path / "intake.pids"
    conf["program:intake"]["command"] = f"{sys.executable} {tmp_path / 'dummy.py'} {pids}"
    conf["program:intake"]["startsecs"] = "1"
    conf["supervisord"]["logfile"] = str(tmp_path / "logs" / "supervisord.log")
    conf["supervisord"]["pidfile"] = str(tmp_path / "supervisord.pid")
    conf["unix_http_server"]["file"] = str(tmp_path / "supervisor.sock")
    conf["program:intake"]["stdout_logfile"] = str(tmp_path / "logs" / "intake.log")
    (tmp_path / "dummy.py").write_text(DUMMY)
    with (tmp_path / "supervisord.conf").open("w") as f:
        conf.write(f)
    (tmp_path / "logs").mkdir()
    env = {**os.environ, "INTAKE_PORT": "1"}
    manager = subprocess.Popen(
        [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(tmp_path / "supervisord.conf")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    leftovers: list[int] = []
    try:
        first, first_child = wait_for(lambda: read_pids(pids), "the program to start")
        leftovers.append(first_child)  # orphaned by the SIGKILL below (a crash leaves children behind)
        pids.unlink()
        os.kill(first, signal.SIGKILL)  # a crash: no chance to clean up
        second, second_child = wait_for(lambda: read_pids(pids), "the program to be restarted")
        assert second != first and alive(second)
        assert not alive(first)

        manager.send_signal(signal.SIGINT)  # Ctrl-C
        out, _ = manager.communicate(timeout=60)
        assert manager.returncode == 0, out
        assert not alive(second) and not alive(second_child), out
        assert "exited: intake (terminated by SIGKILL; not expected)" in out, out
        assert out.count("spawned: 'intake'") == 2, out
    finally:
        if manager.poll() is None:
            manager.kill()
            manager.wait()
        for pid in [*leftovers, *(read_pids(pids) or ())]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
