"""`relay replay` of a function with a CDK `PythonLayerVersion` (its folder's contents go under
python/): the recording says which layer and runtime the function had, and the replay and the
test written from it run with them, through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from relay.observe.invocations import InvocationEvent, context_of
from relay.record.recording import to_record
from relay.record.store import EventStore, events_dir
from relay.runtime import FunctionConfig
from tests.record.shop import relay_command

STAGE = "dev"


def _project(tmp_path: Path) -> tuple[Path, FunctionConfig]:
    """A project whose handler imports a module that only its Python layer has."""
    project = tmp_path / "shop"
    code = project / "functions" / "slug"
    layer = project / "layers" / "common"
    code.mkdir(parents=True)
    (layer / "common").mkdir(parents=True)
    (project / "cdk.json").write_text('{"app": "python3 app.py"}\n')
    (layer / "common" / "__init__.py").write_text(
        "def slug(title):\n    return '-'.join(title.lower().split())\n"
    )
    (code / "main.py").write_text(
        "from common import slug\n\n"
        "def handle(event, context):\n"
        "    return {'slug': slug(event['title'])}\n"
    )
    config = FunctionConfig(
        name="Dev-Shop-Slugify6DE894F4",
        handler="main.handle",
        code_dir=code,
        source_layers=(layer,),
        runtime="python3.12",
    )
    return project, config


def _recorded(project: Path, config: FunctionConfig) -> dict:
    """What `relay start` records for one invocation of the function, as stored."""
    context = context_of(config, function_path="Dev/Shop/Slugify")
    event = InvocationEvent(
        function=config.name,
        request_id="req-1",
        invocation_id="req-1",
        status="ok",
        duration_ms=1.0,
        context=context,
        payload=json.dumps({"title": "Hello World"}).encode(),
        result=json.dumps({"slug": "hello-world"}).encode(),
        cold=True,
        source="direct",
    )
    store = EventStore(events_dir(project, STAGE))
    store.add(to_record(event, STAGE, [], unparsed=True))
    (entry,) = store.entries()
    return store.load(entry)


def _relay(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return relay_command(project, STAGE, *args)


def test_the_recording_names_the_python_layer_and_the_runtime(tmp_path: Path) -> None:
    project, config = _project(tmp_path)
    record = _recorded(project, config)
    assert record["function"]["source_layers"] == [str(project / "layers" / "common")]
    assert record["function"]["runtime"] == "python3.12"
    assert "source_layers" not in record["context"]


def test_a_replay_finds_the_python_layer(tmp_path: Path) -> None:
    project, config = _project(tmp_path)
    record = _recorded(project, config)
    done = _relay(project, "replay", record["id"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"slug": "hello-world"}
    assert "differs" not in done.stderr


def test_the_test_written_from_it_passes(tmp_path: Path) -> None:
    project, config = _project(tmp_path)
    record = _recorded(project, config)
    test_file = project / "tests" / "test_slug.py"
    done = _relay(project, "replay", record["id"], "--as-test", str(test_file))
    assert done.returncode == 0, done.stderr
    source = test_file.read_text()
    assert "SOURCE_LAYERS = [HERE / '../layers/common']" in source
    assert "runtime='python3.12'" in source
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=project,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 passed" in ran.stdout
