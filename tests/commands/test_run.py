"""`relay run` as a user runs it: a real subprocess, stdout for the payload, stderr for logs."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent.parent / "runtime" / "fixtures"


def relay_run(
    *args: str, stdin: bytes = b"", cwd: Path = FIXTURES / "basic"
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "relay", "run", *args],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        timeout=60,
    )


def test_payload_on_stdout_logs_on_stderr() -> None:
    proc = relay_run("app.echo", "--event", "-", stdin=b'{"a": [1, 2]}')
    assert proc.returncode == 0
    assert proc.stdout == b'{"a": [1, 2]}'
    lines = proc.stderr.decode().splitlines()
    assert lines[0] == "init: module imported"
    assert re.fullmatch(r"START RequestId: [0-9a-f-]{36} Version: \$LATEST", lines[1])
    assert lines[2].startswith("END RequestId: ")
    assert re.match(
        r"REPORT RequestId: [0-9a-f-]{36}\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms"
        r"\tMemory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: [\d.]+ ms",
        lines[3],
    )


def test_event_file_env_memory_and_code_dir(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"name": "file"}')
    proc = relay_run(
        "app.environment",
        "--event",
        str(event),
        "--env",
        "GREETING=hello=world",
        "--memory",
        "512",
        "--code-dir",
        str(FIXTURES / "basic"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    assert body["GREETING"] == "hello=world"
    assert body["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert body["AWS_LAMBDA_FUNCTION_NAME"] == "app-environment"
    assert body["LAMBDA_TASK_ROOT"] == str(FIXTURES / "basic")


def test_default_event_is_an_empty_object() -> None:
    proc = relay_run("app.echo")
    assert (proc.returncode, proc.stdout) == (0, b"{}")


def test_function_error_prints_lambdas_payload_and_exits_1() -> None:
    proc = relay_run("app.raises", "--event", "-", stdin=b'{"order": 3}', cwd=FIXTURES / "errors")
    assert proc.returncode == 1
    body = json.loads(proc.stdout)
    assert body["errorType"] == "OrderError"
    assert body["errorMessage"] == "order 3 is invalid"
    assert re.fullmatch(r"[0-9a-f-]{36}", body["requestId"])
    assert body["stackTrace"][0].endswith(
        "    raise OrderError(f\"order {event['order']} is invalid\")\n"
    )
    assert "[ERROR] OrderError: order 3 is invalid" in proc.stderr.decode()


def test_timeout_option() -> None:
    proc = relay_run(
        "app.sleeps",
        "--timeout",
        "0.3",
        "--event",
        "-",
        stdin=b'{"seconds": 5}',
        cwd=FIXTURES / "errors",
    )
    assert proc.returncode == 1
    message = json.loads(proc.stdout)["errorMessage"]
    assert message.endswith(" Task timed out after 0.30 seconds")
    assert proc.stderr.decode().splitlines()[-1] == message


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["--env", "NOEQUALS"],
            b"",
            "relay: error: --env 'NOEQUALS' is not NAME=VALUE; write it as --env NAME=value",
        ),
        (["--env", "=x"], b"", "relay: error: --env '=x' is not NAME=VALUE"),
        (
            ["--event", "missing.json"],
            b"",
            "relay: error: cannot read the event file missing.json: No such file or directory",
        ),
        (["--event", "-"], b"{not json", "relay: error: the event from stdin is not JSON"),
        (["--code-dir", "nowhere"], b"", "relay: error: --code-dir nowhere is not a folder"),
        (["--timeout", "0"], b"", "relay: error: --timeout 0.0 is out of Lambda's range"),
    ],
)
def test_bad_input_is_a_clear_error_with_exit_2(
    args: list[str], stdin: bytes, message: str
) -> None:
    proc = relay_run("app.echo", *args, stdin=stdin)
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert proc.stderr.decode().startswith(message)


def test_bad_handler_name() -> None:
    proc = relay_run("nodot")
    assert proc.returncode == 2
    assert "handler 'nodot' has no '.'" in proc.stderr.decode()


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _watching(
    folder: Path,
    source: str,
    output: Path | None = None,
    *,
    stop: signal.Signals = signal.SIGINT,
    sigint_ignored: bool = False,
) -> Iterator[subprocess.Popen[bytes]]:
    """`relay run app.handler --watch` on `source`, past its first result and "watching";
    stopped with `stop` (Ctrl-C: SIGINT to the group) at the end, exit 0, "relay: stopped",
    its whole process group gone. With `output`, stdout goes to that file (`> output` in a
    shell) instead of a pipe. `sigint_ignored`: started as a non-interactive shell starts a
    background job (`relay run … --watch &`), with SIGINT ignored."""
    (folder / "app.py").write_text(source)
    with contextlib.ExitStack() as files:
        stdout = files.enter_context(output.open("wb")) if output else subprocess.PIPE
        proc = subprocess.Popen(
            [sys.executable, "-m", "relay", "run", "app.handler", "--watch"],
            cwd=folder,
            stdout=stdout,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # SIGABRT dumps every thread
            preexec_fn=_ignore_sigint if sigint_ignored else None,
        )
    try:
        assert proc.stderr is not None
        if proc.stdout is not None:
            assert proc.stdout.readline()  # the first run's result
        while b"relay: watching" not in proc.stderr.readline():
            pass
        yield proc
        os.killpg(proc.pid, stop)
        try:
            assert proc.wait(timeout=20) == 0
            assert proc.stderr.read().decode().rstrip().endswith("relay: stopped")
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGABRT)  # where it hangs, for the failure message
            proc.wait(timeout=10)
            pytest.fail(
                "relay run --watch did not stop within 20 s of Ctrl-C; its stderr:\n"
                + proc.stderr.read().decode(errors="replace")[-6000:]
            )
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)


def test_watch_reruns_on_every_save(tmp_path: Path) -> None:
    with _watching(tmp_path, "def handler(e, c):\n    return 'one'\n") as proc:
        assert proc.stdout is not None
        (tmp_path / "app.py").write_text("def handler(e, c):\n    return 'two'\n")
        assert proc.stdout.readline() == b'"two"\n'
        (tmp_path / "app.py").write_text("def handler(e, c):\n    raise ValueError('three')\n")
        assert json.loads(proc.stdout.readline())["errorMessage"] == "three"


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_watch_stops_on_ctrl_c_or_sigterm_even_started_in_the_background(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """A script's `relay run app.handler --watch &` inherits SIGINT ignored (POSIX, for
    background jobs of a non-interactive shell), and Python keeps it ignored: relay must
    still stop on `kill -INT` (and on a plain `kill`), after a save was served."""
    with _watching(
        tmp_path, "def handler(e, c):\n    return 'one'\n", stop=stop, sigint_ignored=True
    ) as proc:
        assert proc.stdout is not None
        (tmp_path / "app.py").write_text("def handler(e, c):\n    return 'two'\n")
        assert proc.stdout.readline() == b'"two"\n'


def test_watch_runs_once_per_save_whatever_events_the_save_makes(tmp_path: Path) -> None:
    """An editor's save (temp file + rename), then a touch: one run, not one per event."""
    app = tmp_path / "app.py"
    with _watching(tmp_path, "def handler(e, c):\n    return 'one'\n") as proc:
        assert proc.stdout is not None
        temporary = tmp_path / ".app.py.tmp"
        temporary.write_text("def handler(e, c):\n    return 'two'\n")
        os.replace(temporary, app)
        assert proc.stdout.readline() == b'"two"\n'
        os.utime(app)  # same content: no run
        app.write_text("def handler(e, c):\n    return 'six'\n")
        # a second run for the first save (or one for the touch) would print "two" again
        assert proc.stdout.readline() == b'"six"\n'


def test_watch_with_its_output_in_the_code_folder_runs_once_per_save(tmp_path: Path) -> None:
    """`relay run app.handler --watch > result.json` in the code folder: relay's own output
    file changes on every run and must not start the next one."""
    result = tmp_path / "result.json"
    with _watching(tmp_path, "def handler(e, c):\n    return 'one'\n", output=result):
        for word in ("two", "three"):
            (tmp_path / "app.py").write_text(f"def handler(e, c):\n    return '{word}'\n")
            deadline = time.monotonic() + 60
            while f'"{word}"'.encode() not in result.read_bytes():
                assert time.monotonic() < deadline, result.read_bytes()
                time.sleep(0.02)
        # a run caused by result.json itself would have written "one" or "two" again
        assert result.read_bytes() == b'"one"\n"two"\n"three"\n'


def test_handler_typed_as_a_path(tmp_path: Path) -> None:
    """As users type it: an absolute path, or a path from the current folder."""
    absolute = FIXTURES / "basic" / "app.echo"
    proc = relay_run(str(absolute), "--event", "-", stdin=b'{"n": 1}', cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, b'{"n": 1}'), proc.stderr
    proc = relay_run("./app.echo", "--event", "-", stdin=b'{"n": 2}')
    assert (proc.returncode, proc.stdout) == (0, b'{"n": 2}'), proc.stderr
    proc = relay_run(str(absolute), "--code-dir", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.decode() == (
        f"relay: error: the handler {absolute} is in {absolute.parent}, outside --code-dir "
        f"{tmp_path}; name it relative to the code folder (e.g. sub/app.echo), or pass "
        f"--code-dir {absolute.parent}\n"
    )


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_workers_die_with_a_killed_relay(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "import time\n\ndef handler(e, c):\n    print('busy')\n    time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "relay", "run", "app.handler", "--timeout", "120"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    while proc.stderr.readline() != b"busy\n":
        pass
    workers = _children(proc.pid)
    assert workers  # the busy environment
    pidfds = [os.pidfd_open(pid) for pid in workers]
    try:
        proc.kill()
        proc.wait()
        poller = select.poll()
        for fd in pidfds:
            poller.register(fd, select.POLLIN)
        ended: set[int] = set()
        deadline = time.monotonic() + 20
        while len(ended) < len(pidfds) and time.monotonic() < deadline:
            ended.update(fd for fd, _ in poller.poll(1000))
        assert len(ended) == len(pidfds), "a worker outlived relay"
    finally:
        for fd in pidfds:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(fd, signal.SIGKILL)  # only if the test failed
            os.close(fd)
