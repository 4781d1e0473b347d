"""`relay start --local` on an app made of the patterns real CDK apps use (tests/apps/combined):
a Stage, a shared asset, a NestedStack, a PythonFunction with its own requirements and layer,
a BucketDeployment, a Node function and a container image. Every relayed function answers;
CDK's own handler, the Node function and the image are listed once and left untouched.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from relay.cloud.assembly import Assembly
from relay.runtime.envs import CACHE_ENV, choose_interpreter
from tests.e2e.relay_process import RelayProcess, connected, lambda_client, read_session

APP = Path(__file__).parent.parent / "apps" / "combined"
STAGE = "apps"
RELAYED = {"Dev/Shop/Orders", "Dev/Shop/Payments", "Dev/Shop/Counters/Counter", "Dev/Shop/Slugify"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One synthesis and one start for the module; environments in a session folder (uv's
    own download cache is the user's, so packages are fetched once per machine)."""
    project = tmp_path_factory.mktemp("apps") / "shop"
    shutil.copytree(APP, project)
    saved = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("envs"))
    try:
        relay = RelayProcess(project, "start", "--local", "--stage", STAGE).start()
    finally:
        if saved is None:
            os.environ.pop(CACHE_ENV)
        else:
            os.environ[CACHE_ENV] = saved
    try:
        relay.wait_for(connected(project, STAGE), "the client to connect", timeout=360)
        session = read_session(project, STAGE)
        yield {"session": session, "process": relay, "project": project}
    finally:
        relay.stop()


def _invoke(shop: dict, path: str, event: dict) -> dict:
    session = shop["session"]
    [fn] = [f for f in session["functions"] if f["path"] == path]
    response = lambda_client(session).invoke(
        FunctionName=fn["function_name"], Payload=json.dumps(event).encode()
    )
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    return payload


def test_exactly_the_developers_python_functions_are_relayed(shop: dict) -> None:
    assert {f["path"] for f in shop["session"]["functions"]} == RELAYED


def test_shared_asset_functions_answer_with_their_own_handler(shop: dict) -> None:
    for name in ("orders", "payments"):
        event = {"id": name}
        assert _invoke(shop, f"Dev/Shop/{name.title()}", event) == {
            "handler": name,
            "service": name,
            "event": event,
        }


def test_nested_stack_function_uses_the_parents_table(shop: dict) -> None:
    key = uuid.uuid4().hex
    path = "Dev/Shop/Counters/Counter"
    assert _invoke(shop, path, {"key": key}) == {"hits": 1}
    assert _invoke(shop, path, {"key": key}) == {"hits": 2}


def test_python_function_runs_with_its_own_and_its_layers_requirements(shop: dict) -> None:
    assert importlib.util.find_spec("slugify") is None  # not from relay's own environment
    assert importlib.util.find_spec("humanize") is None
    interpreter, note = choose_interpreter("python3.12")
    answer = _invoke(shop, "Dev/Shop/Slugify", {"title": "Hello World"})
    assert answer == {
        "slug": "hello-world",
        "shout": "HELLO WORLD! (11,000)",
        "execution_env": f"AWS_Lambda_{interpreter.tag}",
        "python": interpreter.tag.removeprefix("python"),
    }
    output = shop["process"].output
    assert "Dev/Shop/Slugify: building its environment" in output
    if note is not None:
        assert output.count(f"Dev/Shop/Slugify: {note}") == 1


def test_the_others_are_listed_once_with_their_reason(shop: dict) -> None:
    output = shop["process"].output
    lines = [line.strip() for line in output.splitlines() if "not relayed" in line]
    [deployment] = [line for line in lines if "CDKBucketDeployment" in line]
    assert deployment.endswith(": not relayed (CDK's own)")
    assert "Dev/Shop/Web: not relayed (runtime nodejs20.x: relay runs Python handlers only)" in (
        lines
    )
    assert (
        "Dev/Shop/Report: not relayed (container image: relay runs handlers from a code folder, "
        "and an image's handler and packages exist only inside the image)" in lines
    )
    assert len(lines) == 3
    [provides] = [line for line in output.splitlines() if "emulator does not provide" in line]
    assert "Custom::CDKBucketDeployment (1)" in provides
    assert "AWS::Lambda::Function (image) (1)" in provides


def test_cdks_own_handler_keeps_its_code(shop: dict) -> None:
    folder = shop["project"] / ".relay" / "stages" / STAGE / "cdk.out.local"
    resources = Assembly(folder, cached=True).stacks()["Dev/Shop"]["template"]["Resources"]
    [deployment] = [
        r
        for logical, r in resources.items()
        if r["Type"] == "AWS::Lambda::Function" and "CDKBucketDeployment" in logical
    ]
    assert deployment["Properties"]["Handler"] == "index.handler"
    assert "RELAY_" not in json.dumps(deployment)
