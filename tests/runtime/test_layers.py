"""Layers referenced by ARN: --layer-dir folders, and the AWS-mode fetch through
GetLayerVersionByArn (boto3 against a loopback stand-in for Lambda's API)."""

from __future__ import annotations

import io
import json
import re
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from relay.runtime.layers import (
    LayerError,
    fetch_layer,
    layer_name,
    local_layer,
    missing_layer_note,
    parse_layer_dirs,
)

ARN = "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:7"


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


class _LambdaStandIn(BaseHTTPRequestHandler):
    """GetLayerVersionByArn (GET /2018-10-31/layers?find=LayerVersion&Arn=...) and the
    presigned download it points at."""

    layers: dict[str, bytes] = {}
    asked: list[str] = []

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/2018-10-31/layers":
            query = parse_qs(url.query)
            arn = query["Arn"][0]
            self.asked.append(arn)
            if query.get("find") != ["LayerVersion"] or arn not in self.layers:
                self._send(404, {"Type": "User", "Message": "not found"},
                           {"x-amzn-ErrorType": "ResourceNotFoundException"})  # fmt: skip
                return
            host = f"http://127.0.0.1:{self.server.server_address[1]}"
            location = f"{host}/download/{len(self.asked)}"
            self._send(
                200, {"LayerVersionArn": arn, "Version": 7, "Content": {"Location": location}}
            )
        elif url.path.startswith("/download/"):
            body = self.layers[self.asked[int(url.path.rsplit("/", 1)[1]) - 1]]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self._send(404, {"Message": "no such path"})

    def _send(self, status: int, document: dict, headers: dict | None = None) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def lambda_api() -> Iterator[tuple[object, type[_LambdaStandIn]]]:
    handler = type("Handler", (_LambdaStandIn,), {"layers": {}, "asked": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = boto3.client(
        "lambda",
        endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
        region_name="eu-west-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )
    try:
        yield client, handler
    finally:
        server.shutdown()
        server.server_close()


def test_layer_dirs_by_name_or_arn(tmp_path: Path) -> None:
    given = parse_layer_dirs([f"AWSLambdaPowertoolsPythonV3-python312-x86_64={tmp_path}"])
    assert layer_name(ARN) == "AWSLambdaPowertoolsPythonV3-python312-x86_64"
    assert local_layer(ARN, given) == tmp_path.resolve()
    assert local_layer(ARN, parse_layer_dirs([f"{ARN}={tmp_path}"])) == tmp_path.resolve()
    assert local_layer(ARN.replace(":7", ":8"), given) == tmp_path.resolve()  # any version
    assert local_layer("arn:aws:lambda:eu-west-1:1:layer:other:1", given) is None


def test_bad_layer_dir_values_say_how_to_write_them(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match="write it as ARN_OR_NAME=FOLDER"):
        parse_layer_dirs(["powertools"])
    with pytest.raises(LayerError, match="is not a folder"):
        parse_layer_dirs([f"powertools={tmp_path / 'missing'}"])


def test_missing_layer_note_names_the_layer_and_both_ways_out() -> None:
    assert missing_layer_note("shop/Orders", ARN) == (
        f"shop/Orders: layer {ARN} is not available locally: pass --layer-dir "
        "AWSLambdaPowertoolsPythonV3-python312-x86_64=DIR (its unzipped content, with "
        "python/), or add its package to the function's requirements.txt"
    )


def test_fetch_unpacks_the_layer_once(lambda_api, tmp_path: Path) -> None:
    client, api = lambda_api
    api.layers[ARN] = _zip({"python/aws_lambda_powertools/__init__.py": "VERSION = '3'\n"})
    folder = fetch_layer(ARN, client, tmp_path)
    module = folder / "python" / "aws_lambda_powertools" / "__init__.py"
    assert module.read_text() == "VERSION = '3'\n"
    assert fetch_layer(ARN, client, tmp_path) == folder
    assert api.asked == [ARN]  # a layer version never changes: fetched once


def test_fetch_errors_name_the_layer(lambda_api, tmp_path: Path) -> None:
    client, api = lambda_api
    with pytest.raises(LayerError, match=re.escape(f"layer {ARN} could not be read from AWS")):
        fetch_layer(ARN, client, tmp_path)
    api.layers[ARN] = _zip({"../escape.py": "x = 1\n"})
    with pytest.raises(LayerError, match=re.escape("unsafe path '../escape.py'")):
        fetch_layer(ARN, client, tmp_path)
    assert list(tmp_path.iterdir()) == []
