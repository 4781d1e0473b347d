"""The stub asset is self-contained: it imports and runs with only the Lambda runtime's boto3."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import boto3
import botocore
import pytest

from relay.cloud import stub_asset

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def asset(tmp_path: Path) -> Path:
    return stub_asset.build_stub_asset(tmp_path / "cache")


def _lambda_like_path(tmp_path: Path) -> Path:
    """A folder with only what a Lambda Python runtime provides: boto3 and its dependencies."""
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    import dateutil
    import jmespath
    import s3transfer
    import six
    import urllib3

    for module in (boto3, botocore, jmespath, dateutil, urllib3, s3transfer, six):
        source = Path(module.__file__ or "")
        source = source.parent if source.name == "__init__.py" else source
        (runtime / source.name).symlink_to(source)
    return runtime


def _run_clean(
    asset: Path, runtime: Path, code: str, cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """``code`` in an interpreter that sees only the asset and the Lambda-like runtime."""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": f"{asset}{os.pathsep}{runtime}"}
    return subprocess.run(
        [sys.executable, "-S", "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def test_asset_has_verbatim_modules_and_pure_python_websockets(asset: Path) -> None:
    assert (asset / "messages.py").read_bytes() == (ROOT / "relay/link/messages.py").read_bytes()
    assert (asset / "signing.py").read_bytes() == (ROOT / "relay/client/signing.py").read_bytes()
    assert (asset / "http1.py").read_bytes() == (ROOT / "relay/link/http1.py").read_bytes()
    session = (ROOT / "relay/link/stub_session.py").read_bytes()
    assert (asset / "stub_session.py").read_bytes() == session
    assert (asset / "stub.py").read_bytes() == (ROOT / "stub_lambda/stub.py").read_bytes()
    assert (asset / "connect.py").read_bytes() == (ROOT / "stub_lambda/connect.py").read_bytes()
    assert (asset / "websockets/sync/client.py").is_file()
    assert "15.0.1" in (asset / "websockets/version.py").read_text()  # the 3.9-capable release
    assert (asset / "websockets/LICENSE").is_file()
    compiled = [p for p in asset.rglob("*") if p.suffix in (".so", ".pyd", ".c", ".pyc")]
    assert compiled == []


def test_asset_is_cached_by_content(tmp_path: Path) -> None:
    first = stub_asset.build_stub_asset(tmp_path / "cache")
    marker = (first / stub_asset.MARKER).stat().st_mtime_ns
    again = stub_asset.build_stub_asset(tmp_path / "cache")
    assert again == first
    assert (again / stub_asset.MARKER).stat().st_mtime_ns == marker
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.name]  # no leftovers


def test_asset_imports_in_a_clean_interpreter(asset: Path, tmp_path: Path) -> None:
    runtime = _lambda_like_path(tmp_path)
    code = (
        "import sys, stub, connect, messages, stub_session, signing, websockets.sync.client as c\n"
        "import websockets.frames\n"
        "assert websockets.sync.client.__file__.startswith(sys.argv[1]), c.__file__\n"
        "assert 'relay' not in sys.modules\n"
        "print(stub.handler.__module__, connect.handler.__module__, messages.VERSION)\n"
    )
    done = _run_clean(asset, runtime, code, tmp_path, str(asset))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["stub", "connect", "1"]


def test_asset_modules_parse_as_python_3_9(asset: Path) -> None:
    """Lambda's oldest Python runtime is 3.9: no syntax newer than that in relay's modules."""
    for module in sorted(asset.glob("*.py")):
        ast.parse(module.read_text(), str(module), feature_version=(3, 9))


def test_asset_posts_through_its_own_http_codec(asset: Path, tmp_path: Path) -> None:
    """The stub's poster (signing.py over http1.py) in a clean interpreter: a signed request
    in one write, a chunked 410 answer read whole, the kept-alive connection reused."""
    runtime = _lambda_like_path(tmp_path)
    code = textwrap.dedent(
        """
        import socket, sys, threading
        import http1, signing
        from botocore.credentials import Credentials

        assert http1.__file__.startswith(sys.argv[1]) and "relay" not in sys.modules
        listener = socket.create_server(("127.0.0.1", 0))
        seen = []

        def serve():
            conn, _ = listener.accept()
            parser = http1.RequestParser()
            answers = [
                b"HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n",
                b"HTTP/1.1 410 Gone\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n"
                b"2\\r\\n{}\\r\\n0\\r\\n\\r\\n",
            ]
            while answers:
                request = parser.next()
                if request is None:
                    parser.feed(conn.recv(65536))
                    continue
                signature = request.header("authorization")[:16]
                seen.append((request.target, request.body, signature))
                conn.sendall(answers.pop(0))
            conn.close()

        threading.Thread(target=serve, daemon=True).start()
        url = "http://127.0.0.1:%d/stage" % listener.getsockname()[1]
        poster = signing.ConnectionsApi(url, Credentials("AKID", "secret"), "us-east-1")
        poster.post("c=1", b'{"n": 1}')
        try:
            poster.post("c2", b"{}")
        except signing.ConnectionGone as exc:
            print("gone", exc)
        print(seen)
        """
    )
    done = _run_clean(asset, runtime, code, tmp_path, str(asset))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "gone c2",
        "[('/stage/@connections/c%3D1', b'{\"n\": 1}', 'AWS4-HMAC-SHA256'), "
        "('/stage/@connections/c2', b'{}', 'AWS4-HMAC-SHA256')]",
    ]


def test_asset_without_relay_settings_fails_clearly(asset: Path, tmp_path: Path) -> None:
    """Run the handler for real in a clean interpreter: the error names the fix."""
    runtime = _lambda_like_path(tmp_path)
    code = (
        "import stub\n"
        "class Context:\n"
        "    function_name = 'fn'; aws_request_id = 'r'\n"
        "    def get_remaining_time_in_millis(self): return 3000\n"
        "try:\n"
        "    stub.handler({'k': 1}, Context())\n"
        "except stub.RelayError as exc:\n"
        "    print(exc)\n"
        "print(stub.handler({'requestContext': {'http': {}}, 'version': '2.0'}, Context()))\n"
    )
    done = _run_clean(asset, runtime, code, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "relay: RELAY_STAGE is not set on this function; redeploy it with `relay start`" in lines
    assert "'statusCode': 502" in lines[-1]
