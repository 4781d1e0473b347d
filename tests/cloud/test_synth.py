"""relay/synth.py: an unmodified app synthesized in live mode by relay, cached, clear errors."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from relay.cdk.live import LiveConfig, LiveTargets
from relay.cloud import synth
from relay.cloud.assembly import Assembly
from relay.cloud.stub_asset import build_stub_asset

SAMPLE = Path(__file__).parent.parent / "cdk" / "sample_app"
APPS = Path(__file__).parent.parent / "apps"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("app") / "shop"
    shutil.copytree(SAMPLE, folder)
    return folder


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> LiveConfig:
    stub = build_stub_asset(tmp_path_factory.mktemp("stub-cache"))
    return LiveConfig(stage="alice", stub_dir=str(stub), targets=LiveTargets.placeholders("alice"))


@pytest.fixture(scope="module")
def assembly(project: Path, config: LiveConfig) -> Assembly:
    out = project / ".relay" / "stages" / "alice" / "cdk.out.test"
    return synth.synthesize(project, "alice", out_dir=out, live=config, validation=False)


def test_unmodified_app_is_synthesized_in_live_mode(assembly: Assembly) -> None:
    assert assembly.cached is False
    stacks = assembly.stacks()
    assert list(stacks) == ["shop-alice"]  # the stage came in through the context
    resources = stacks["shop-alice"]["template"]["Resources"]
    handlers = sorted(
        r["Properties"]["Handler"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    )
    assert handlers == ["index.handler", "stub.handler"]
    orders = next(r for k, r in resources.items() if k.startswith("Orders") and "Handler" in
                  r.get("Properties", {}))  # fmt: skip
    assert orders["Metadata"]["aws:asset:path"].startswith("asset.")  # toolkit's metadata on


def test_functions_json_records_source_dirs_and_raw_environment(
    project: Path, assembly: Assembly
) -> None:
    functions = synth.write_functions(project, "alice", assembly)
    saved = json.loads((project / ".relay/stages/alice/functions.json").read_text())
    assert saved["functions"] == functions
    assert saved["assembly"] == str(assembly.directory)
    orders = next(f for f in functions if f["path"] == "shop-alice/Orders")
    assert orders["relayed"] is True
    assert orders["handler"] == "orders.handler"
    assert orders["code_dir"] == str(project / "functions" / "orders")
    assert orders["layers"] == [str(project / "layers" / "shared")]
    assert (orders["timeout"], orders["memory"]) == (20, 512)
    env = orders["environment"]
    assert env["PLAIN"] == "kept"
    assert env["TABLE"] == {"Ref": env["TABLE"]["Ref"]} and env["TABLE"]["Ref"].startswith(
        "OrderTable"
    )
    assert env["WHERE"] == {"Fn::Sub": "${AWS::Region}/${AWS::AccountId}"}
    assert not [k for k in env if k.startswith("RELAY_")]
    audit = next(f for f in functions if f["path"] == "shop-alice/Audit")
    assert (audit["relayed"], audit["reason"]) == (
        False,
        "runtime nodejs22.x: relay runs Python handlers only",
    )
    assert (project / ".relay" / ".gitignore").read_text() == "*\n"


def test_the_last_starts_functions_are_read_back(
    project: Path, assembly: Assembly, tmp_path: Path
) -> None:
    """relay start warms the interpreters the stage's functions had at its last start."""
    functions = synth.write_functions(project, "alice", assembly)
    assert synth.previous_functions(project, "alice") == functions
    assert synth.previous_functions(project, "nobody") == []
    broken = tmp_path / ".relay" / "stages" / "alice" / "functions.json"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"functions": ')  # cut short
    assert synth.previous_functions(tmp_path, "alice") == []


def test_second_synth_with_no_change_is_cached(
    project: Path, config: LiveConfig, assembly: Assembly
) -> None:
    again = synth.synthesize(
        project, "alice", out_dir=assembly.directory, live=config, validation=False
    )
    assert again.cached is True
    assert again.directory == assembly.directory


def test_logs_and_editor_files_in_the_app_folder_keep_the_cache(
    project: Path, config: LiveConfig, assembly: Assembly
) -> None:
    """`relay start --local > relay.log` in the app's folder, a file open in vim or emacs."""
    written = [
        project / "relay.log",
        project / ".app.py.swp",
        project / "functions" / "orders" / "handler.py~",
        project / "functions" / "orders" / ".#handler.py",
    ]
    try:
        for path in written:
            path.write_text("written between two starts")
        again = synth.synthesize(
            project, "alice", out_dir=assembly.directory, live=config, validation=False
        )
        assert again.cached is True
    finally:
        for path in written:
            path.unlink(missing_ok=True)


def test_a_changed_option_or_file_synthesizes_again(
    project: Path, config: LiveConfig, assembly: Assembly
) -> None:
    other = synth.synthesize(
        project, "bob", out_dir=project / ".relay/stages/bob/cdk.out.test", live=config,
        validation=False,
    )  # fmt: skip
    assert other.cached is False
    assert list(other.stacks()) == ["shop-bob"]
    readme = project / "functions" / "orders" / "NOTES.txt"
    readme.write_text("changed")
    try:
        changed = synth.synthesize(
            project, "bob", out_dir=other.directory, live=config, validation=False
        )
        assert changed.cached is False
    finally:
        readme.unlink()


def test_missing_cdk_json_says_where_to_run(tmp_path: Path) -> None:
    with pytest.raises(synth.SynthError, match=r"no cdk.json in .*pass --app DIR"):
        synth.synthesize(tmp_path, "alice", out_dir=tmp_path / "out")


def test_failing_app_command_shows_its_output(tmp_path: Path) -> None:
    (tmp_path / "cdk.json").write_text(
        json.dumps({"app": "python3 -c \"import sys; sys.exit('stack Foo: bad input')\""})
    )
    with pytest.raises(synth.SynthError) as err:
        synth.synthesize(tmp_path, "alice", out_dir=tmp_path / "out")
    message = str(err.value)
    assert "failed (exit 1)" in message
    assert "stack Foo: bad input" in message
    assert message.endswith("Fix the app and run again.")


def test_app_that_never_synthesizes_is_named(tmp_path: Path) -> None:
    (tmp_path / "cdk.json").write_text(json.dumps({"app": "python3 -c pass"}))
    with pytest.raises(synth.SynthError, match=r"produced no cloud assembly .*app.synth\(\)"):
        synth.synthesize(tmp_path, "alice", out_dir=tmp_path / "out")


def test_missing_node_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cdk.json").write_text(json.dumps({"app": "python3 app.py"}))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        synth.SynthError, match=r"Node.js was not found .*Install a Node.js LTS release"
    ):
        synth.synthesize(tmp_path, "alice", out_dir=tmp_path / "out")


def test_invalid_cdk_json_is_explained(tmp_path: Path) -> None:
    (tmp_path / "cdk.json").write_text('{"app": ')
    with pytest.raises(synth.SynthError, match=r"cdk.json is not valid JSON"):
        synth.synthesize(tmp_path, "alice", out_dir=tmp_path / "out")
    (tmp_path / "cdk.json").write_text("{}")
    with pytest.raises(synth.SynthError, match=r'has no "app" command'):
        synth.synthesize(tmp_path, "alice", out_dir=tmp_path / "out")


def test_an_app_with_its_own_infra_package_goes_live(tmp_path: Path, config: LiveConfig) -> None:
    """Many apps keep their stacks in a package named `infra`, like relay's own folder."""
    folder = tmp_path / "shop"
    shutil.copytree(SAMPLE, folder)
    (folder / "infra").mkdir()
    (folder / "infra" / "__init__.py").write_text("NAME = 'the app own infra'\n")
    (folder / "infra" / "live.py").write_text(
        "def enable(app):\n    raise SystemExit('relay used the app own infra.live')\n"
    )
    app = (folder / "app.py").read_text()
    (folder / "app.py").write_text("import infra\nassert infra.NAME\n" + app)
    out = folder / ".relay" / "stages" / "alice" / "cdk.out.test"
    assembly = synth.synthesize(folder, "alice", out_dir=out, live=config, validation=False)
    resources = assembly.stacks()["shop-alice"]["template"]["Resources"]
    handlers = sorted(
        r["Properties"]["Handler"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    )
    assert handlers == ["index.handler", "stub.handler"]


def test_the_debug_stack_is_synthesized_once_for_app_edits_and_other_apps(
    project: Path, config: LiveConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAY_CACHE_DIR", str(tmp_path / "cache"))

    def debug(stage: str, app: Path = project, principal: str = "alice") -> Assembly:
        return synth.synthesize_debug(
            app, stage, stub_dir=Path(config.stub_dir),
            out_dir=app / f".relay/stages/{stage}/cdk.out.debug-test", validation=False,
            env={"RELAY_CLIENT_PRINCIPAL": f"arn:aws:iam::123456789012:user/{principal}"},
        )  # fmt: skip

    first = debug("alice")
    assert first.cached is False
    handler = project / "functions" / "orders" / "orders.py"
    original = handler.read_text()
    handler.write_text(original + "\n# edited\n")
    try:
        assert debug("alice").cached is True  # relay's files, the context and the stub only
    finally:
        handler.write_text(original)
    # A first start of another app (here: a copy, after `git clean`) with its own context
    # keys gets the same assembly from the shared cache, without a synthesis.
    other = tmp_path / "other-app"
    shutil.copytree(project, other, ignore=shutil.ignore_patterns(".relay"))
    cdk_json = other / "cdk.json"
    cdk_json.write_text(json.dumps({**json.loads(cdk_json.read_text()), "context": {"team": "x"}}))
    shared = debug("alice", other)
    assert shared.cached is True
    assert _files(shared.directory) == _files(first.directory)
    # Another developer (as another account, region or stage would) is never served it.
    bob = debug("alice", other, principal="bob")
    assert bob.cached is False
    principals = {
        json.dumps(r.get("Properties", {}).get("Environment"))
        for r in bob.template("relay-alice-debug")["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    assert any("user/bob" in p for p in principals)


def _files(folder: Path) -> dict[str, bytes]:
    """An assembly's files, without the app's own cache key."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != synth.CACHE_KEY_FILE
    }


def _docker_works() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        return subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(_docker_works(), reason="Docker works here: bundling would succeed")
def test_bundling_without_docker_says_the_app_is_fine(tmp_path: Path, config: LiveConfig) -> None:
    project = tmp_path / "slugs"
    shutil.copytree(APPS / "python_function", project)
    with pytest.raises(synth.SynthError) as caught:
        synth.synthesize(
            project, "alice", out_dir=tmp_path / "out", live=config, validation=False,
            bundle=["slugs"],
        )  # fmt: skip
    assert str(caught.value).startswith(
        "bundling needs Docker, and Docker failed or is not running here; the app itself is "
        "fine. Bundled: slugs. Start Docker and run again."
    )
    assert "Fix the app" not in str(caught.value)


#: An app written as CDK users write them: a constant shared with a handler's folder, a route
#: list read from a handler's module, and one folder deployed by a Node.js function too.
_INPUTS_APP = """\
import ast
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import custom_resources as cr

from functions.api.settings import MEMORY

routes = ast.literal_eval(Path("functions/api/routes.py").read_text().split("=", 1)[1])
app = cdk.App()
stack = cdk.Stack(app, "inputs-" + app.node.try_get_context("stage"))
api = lambda_.Function(
    stack, "Api", runtime=lambda_.Runtime.PYTHON_3_12, handler="handler.handler",
    code=lambda_.Code.from_asset("functions/api"), memory_size=MEMORY,
    environment={"ROUTES": ",".join(routes)},
)
nested = cdk.NestedStack(stack, "Admin")  # the same folder again: its own asset, same content
lambda_.Function(
    nested, "AdminApi", runtime=lambda_.Runtime.PYTHON_3_12, handler="handler.handler",
    code=lambda_.Code.from_asset("functions/api"),
)
lambda_.Function(
    stack, "Jobs", runtime=lambda_.Runtime.PYTHON_3_12, handler="jobs.handler",
    code=lambda_.Code.from_asset("functions/jobs"),
)
lambda_.Function(
    stack, "JobsNode", runtime=lambda_.Runtime.NODEJS_22_X, handler="index.handler",
    code=lambda_.Code.from_asset("functions/jobs"),
)
# one Code object for a relayed function and a provider's handler (deployed as it is)
hooks = lambda_.Code.from_asset("functions/hooks")
lambda_.Function(
    stack, "Hooks", runtime=lambda_.Runtime.PYTHON_3_12, handler="hooks.handler", code=hooks
)
on_event = lambda_.Function(
    stack, "OnEvent", runtime=lambda_.Runtime.PYTHON_3_12, handler="hooks.on_event", code=hooks
)
cr.Provider(stack, "Provider", on_event_handler=on_event)
app.synth()
"""


@pytest.fixture
def inputs_app(tmp_path: Path) -> Path:
    folder = tmp_path / "inputs"
    files = {
        "app.py": _INPUTS_APP,
        "cdk.json": json.dumps({"app": "python3 app.py"}),
        "functions/__init__.py": "",
        "functions/api/__init__.py": "",
        "functions/api/settings.py": "MEMORY = 256\n",
        "functions/api/routes.py": "ROUTES = ['/orders', '/carts']\n",
        "functions/api/handler.py": "def handler(event, context):\n    return 'v1'\n",
        "functions/jobs/jobs.py": "def handler(event, context):\n    return 'jobs'\n",
        "functions/jobs/index.js": "exports.handler = async () => 'node';\n",
        "functions/hooks/hooks.py": "def handler(e, c): ...\n\n\ndef on_event(e, c): ...\n",
    }
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_a_saved_handler_keeps_the_app_cached_but_not_what_the_app_reads(
    inputs_app: Path, config: LiveConfig
) -> None:
    """Restarting after editing a handler is the common case: the relayed function's code is
    replaced by the stub, so its edits cannot change the assembly. What the app imports or
    reads, a folder another asset deploys as it is, and added or removed files still count."""
    out = inputs_app / ".relay/stages/alice/cdk.out.test"

    def start() -> Assembly:
        return synth.synthesize(inputs_app, "alice", out_dir=out, live=config, validation=False)

    def edit(name: str, text: str) -> None:
        path = inputs_app / name
        path.write_text(path.read_text() + text)

    assert start().cached is False
    inputs = json.loads((out / "relay-live.json").read_text())["inputs"]
    api, jobs = inputs_app / "functions/api", inputs_app / "functions/jobs"
    hooks = inputs_app / "functions/hooks"
    assert inputs["relayed_sources"] == [str(api)]  # both of its assets are relayed code
    assert str(api) not in inputs["other_sources"]
    assert str(jobs) in inputs["other_sources"]  # the Node.js function deploys the same code
    assert str(hooks) in inputs["other_sources"]  # and the provider's handler the same asset
    assert inputs["read"] == [
        str(api / "__init__.py"), str(api / "routes.py"), str(api / "settings.py")
    ]  # fmt: skip
    assert start().cached is True

    edit("functions/api/handler.py", "# saved\n")
    assert start().cached is True
    edit("functions/api/settings.py", "MEMORY = 512\n")  # imported by the app
    changed = start()
    assert changed.cached is False
    fn = next(
        r for r in changed.stacks()["inputs-alice"]["template"]["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"] == "stub.handler"
        and r["Properties"]["MemorySize"] == 512
    )  # fmt: skip
    assert fn["Properties"]["Environment"]["Variables"]["ROUTES"] == "/orders,/carts"
    (api / "routes.py").write_text("ROUTES = ['/orders']\n")  # opened by the app
    assert start().cached is False
    edit("functions/jobs/jobs.py", "# saved\n")  # deployed as it is by JobsNode
    assert start().cached is False
    edit("functions/hooks/hooks.py", "# saved\n")  # deployed as it is by the provider
    assert start().cached is False
    (api / "extra.py").write_text("X = 1\n")  # a file added: the app may list the folder
    assert start().cached is False
    edit("functions/api/extra.py", "X = 2\n")
    edit("functions/api/handler.py", "# saved again\n")
    assert start().cached is True


def _wait_for(check: Callable[[], bool]) -> None:
    """Poll until ``check`` holds (pytest-timeout is the deadline)."""
    while not check():
        time.sleep(0.01)


def test_a_start_does_not_wait_for_the_app_process_to_exit(
    tmp_path: Path, config: LiveConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """jsii stopping Node.js and Python finalizing take 0.3-3 s after `app.synth()`: relay
    takes the assembly as soon as it is written. A failure after that is still reported."""
    folder = tmp_path / "shop"
    shutil.copytree(SAMPLE, folder)
    release = tmp_path / "release"
    (folder / "app.py").write_text(
        (folder / "app.py").read_text()
        + "import os, sys, time\n"
        + f"while not os.path.exists({str(release)!r}):\n    time.sleep(0.01)\n"
        + "sys.exit('the app failed after synth()')\n"
    )
    out = folder / ".relay" / "stages" / "alice" / "cdk.out.test"
    with caplog.at_level(logging.WARNING, logger="relay.synth"):
        assembly = synth.synthesize(folder, "alice", out_dir=out, live=config, validation=False)
        assert not release.exists()  # so the app is still running: it cannot have exited
        assert assembly.cached is False
        assert list(assembly.stacks()) == ["shop-alice"]
        assert assembly.live_record() is not None
        release.touch()
        _wait_for(lambda: any("after writing its assembly" in r.message for r in caplog.records))
    (warning,) = [r.message for r in caplog.records if "after writing" in r.message]
    assert "exited with 1 after writing its assembly (relay uses the assembly)" in warning
    assert warning.endswith("the app failed after synth()")


def test_a_live_app_failing_before_synth_shows_its_output(
    tmp_path: Path, config: LiveConfig
) -> None:
    folder = tmp_path / "shop"
    shutil.copytree(SAMPLE, folder)
    app = folder / "app.py"
    app.write_text(app.read_text().replace("app.synth()", "raise ValueError('no region')"))
    with pytest.raises(synth.SynthError) as err:
        synth.synthesize(folder, "alice", out_dir=tmp_path / "out", live=config)
    assert "failed (exit 1)" in str(err.value)
    assert "ValueError: no region" in str(err.value)
