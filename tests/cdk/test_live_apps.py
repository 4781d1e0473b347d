"""The live Aspect on apps written the way CDK users write them (tests/apps/<pattern>).

Each app is copied and synthesized by relay exactly as ``relay start`` does (its own
process, relay's hook, bundling skipped), then its record and templates are checked: which
functions are relayed, where their code is, and that the others keep their code untouched.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from relay.cdk.live import LiveConfig, LiveTargets, edited_folder
from relay.cloud import synth
from relay.cloud.assembly import Assembly, nested_template
from relay.cloud.stub_asset import build_stub_asset

APPS = Path(__file__).parent.parent / "apps"
STAGE = "t"
ENV = {"CDK_DEFAULT_REGION": "us-east-1", "CDK_DEFAULT_ACCOUNT": "123456789012"}


class Synthesized:
    def __init__(self, project: Path, assembly: Assembly) -> None:
        self.project = project
        self.assembly = assembly
        self.functions = {f["path"]: f for f in synth.write_functions(project, STAGE, assembly)}

    def resource(self, path: str) -> dict[str, Any]:
        """A function's resource in its (possibly nested) template."""
        fn = self.functions[path]
        stack = self.assembly.stacks()[fn["stack"]]
        template = nested_template(stack, fn["nested"])
        assert template is not None
        return template["Resources"][fn["logical_id"]]

    def reasons(self) -> dict[str, str | None]:
        return {path: f["reason"] for path, f in self.functions.items()}


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Synthesized]:
    stub = build_stub_asset(tmp_path_factory.mktemp("stub-cache"))
    live = LiveConfig(stage=STAGE, stub_dir=str(stub), targets=LiveTargets.placeholders(STAGE))
    done: dict[str, Synthesized] = {}

    def get(name: str) -> Synthesized:
        if name not in done:
            project = tmp_path_factory.mktemp(name) / name
            shutil.copytree(APPS / name, project)
            out = project / ".relay" / "stages" / STAGE / "cdk.out.local"
            assembly = synth.synthesize(
                project, STAGE, out_dir=out, live=live, env=ENV, validation=False
            )
            done[name] = Synthesized(project, assembly)
        return done[name]

    return get


def _is_stub(resource: dict[str, Any]) -> bool:
    variables = (resource["Properties"].get("Environment") or {}).get("Variables") or {}
    return resource["Properties"]["Handler"] == "stub.handler" and "RELAY_WS_URL" in variables


def test_shared_asset_relays_every_function_that_uses_it(synthesized) -> None:
    app = synthesized("shared_asset")
    src = str((app.project / "src").resolve())
    assert {p: (f["relayed"], f["code_dir"], f["handler"]) for p, f in app.functions.items()} == {
        "shop/Orders": (True, src, "orders.handler"),
        "shop/Payments": (True, src, "payments.handler"),
        "shop/Refunds": (True, src, "refunds.handler"),
    }
    assert all(_is_stub(app.resource(p)) for p in app.functions)
    assert app.functions["shop/Refunds"]["environment"] == {"SERVICE": "refunds"}


def test_functions_inside_a_stage_are_relayed_from_its_nested_assembly(synthesized) -> None:
    app = synthesized("stage")
    [hello] = app.functions.values()
    assert (hello["path"], hello["stack"], hello["relayed"]) == ("Dev/Api/Hello", "Dev/Api", True)
    assert hello["code_dir"] == str((app.project / "functions").resolve())
    assert hello["environment"] == {"GREETING": "hello from dev"}
    stack = app.assembly.stacks()["Dev/Api"]
    assert stack["directory"] != app.assembly.directory  # the Stage's own cloud assembly
    assert _is_stub(app.resource("Dev/Api/Hello"))


def test_nested_stack_function_records_parent_and_nested_logical_id(synthesized) -> None:
    app = synthesized("nested_stack")
    counter = app.functions["main/Workers/Counter"]
    assert counter["relayed"] is True
    assert counter["stack"] == "main"
    [nested_id] = counter["nested"]
    parent = app.assembly.stacks()["main"]["template"]["Resources"][nested_id]
    assert parent["Type"] == "AWS::CloudFormation::Stack"
    # the environment comes from the nested template: the parent's table as a parameter
    assert counter["environment"]["MODE"] == "nested"
    reference = counter["environment"]["TABLE"]["Ref"]
    assert parent["Properties"]["Parameters"][reference] == {
        "Ref": next(
            k
            for k in app.assembly.stacks()["main"]["template"]["Resources"]
            if k.startswith("Counts")
        )
    }
    assert _is_stub(app.resource("main/Workers/Counter"))


def test_python_function_synthesizes_without_docker_and_runs_its_entry(synthesized) -> None:
    app = synthesized("python_function")
    [slug] = app.functions.values()
    assert slug["relayed"] is True
    assert slug["handler"] == "main.handle"
    assert slug["code_dir"] == str((app.project / "functions" / "slug").resolve())
    assert slug["source_layers"] == [str((app.project / "layers" / "common").resolve())]
    assert slug["layers"] == []
    # bundling skipped: the layer's asset is a copy of its entry, not a Docker build's python/
    [layer] = [
        r
        for r in app.assembly.stacks()["slugs"]["template"]["Resources"].values()
        if r["Type"] == "AWS::Lambda::LayerVersion"
    ]
    staged = app.assembly.directory / layer["Metadata"]["aws:asset:path"]
    assert sorted(p.name for p in staged.iterdir()) == ["common.py", "requirements.txt"]


def test_bucket_deployment_handler_is_cdks_own_and_untouched(synthesized) -> None:
    app = synthesized("bucket_deployment")
    [(handler_path, handler)] = [
        (p, f) for p, f in app.functions.items() if "CDKBucketDeployment" in p
    ]
    assert handler["relayed"] is False
    assert handler["reason"] == "CDK's own"
    resource = app.resource(handler_path)
    assert resource["Properties"]["Handler"] == "index.handler"
    assert "RELAY_WS_URL" not in json.dumps(resource)
    assert app.functions["site/Api"]["relayed"] is True


def test_deploy_time_handlers_are_left_alone(synthesized) -> None:
    app = synthesized("deploy_time")
    assert app.reasons() == {
        "seed/OnEvent": "runs during deployment",
        "seed/IsComplete": "runs during deployment",
        "seed/Provider/framework-onEvent": "CDK's own",
        "seed/Provider/framework-isComplete": "CDK's own",
        "seed/Provider/framework-onTimeout": "CDK's own",
        "seed/Direct": "runs during deployment",
        "seed/Migrate": "runs during deployment",
        "seed/Warmup": "runs during deployment",
        "seed/Api": None,
    }
    for path in ("seed/OnEvent", "seed/Direct", "seed/Migrate", "seed/Warmup"):
        assert not _is_stub(app.resource(path)), path
    assert _is_stub(app.resource("seed/Api"))


def test_lambda_at_edge_is_left_alone_and_synthesis_succeeds(synthesized) -> None:
    app = synthesized("edge")
    edge = {p: r for p, r in app.reasons().items() if r == "Lambda@Edge"}
    assert sorted(edge) == sorted(
        [p for p in app.functions if p.endswith("/Rewrite")] + ["cdn-us/Headers"]
    )
    assert app.reasons()["cdn/Api"] is None
    for path in edge:
        assert "Environment" not in app.resource(path)["Properties"]


def test_inline_code_is_materialised_under_dot_relay(synthesized) -> None:
    app = synthesized("inline")
    tiny = app.functions["inline/Tiny"]
    assert tiny["relayed"] is True
    folder = Path(tiny["code_dir"])
    assert folder.is_relative_to(app.project.resolve() / ".relay" / "inline")
    source = (folder / "index.py").read_text()
    assert 'return {"inline": True, "colour": os.environ["COLOUR"], "got": event}' in source
    assert tiny["note"] == f"inline code written to {folder}/index.py"


def test_container_image_gets_the_true_reason(synthesized) -> None:
    app = synthesized("container")
    assert app.reasons() == {
        "image/Report": "container image: relay runs handlers from a code folder, and an "
        "image's handler and packages exist only inside the image"
    }


def test_node_function_is_left_with_its_runtime_as_reason(synthesized) -> None:
    app = synthesized("node")
    assert app.reasons() == {
        "mixed/Web": "runtime nodejs20.x: relay runs Python handlers only",
        "mixed/Worker": None,
    }
    # its Docker bundling was skipped here; deployed unchanged, its stack must be bundled
    assert app.assembly.live_record()["bundle"] == {"mixed": ["mixed/Web"]}


def test_relayed_functions_need_no_bundling(synthesized) -> None:
    assert synthesized("python_function").assembly.live_record()["bundle"] == {}


def test_a_build_copy_runs_from_its_source_when_that_exists(tmp_path: Path) -> None:
    copy = tmp_path / ".build" / "orders"
    copy.mkdir(parents=True)
    assert edited_folder(str(copy), tmp_path) == (
        str(copy),
        f"code is a build copy ({copy}): edits must go to the copy to reload",
    )
    (tmp_path / "src" / "orders").mkdir(parents=True)
    source = tmp_path / "src" / "orders"
    assert edited_folder(str(copy), tmp_path) == (
        str(source),
        f"runs {source} (the source of the build copy {copy})",
    )
    assert edited_folder(str(source), tmp_path) == (str(source), None)
    # a build folder above the app (a CI checkout under /build/...) is not a build copy
    assert edited_folder(str(source), source.parent) == (str(source), None)
    assert edited_folder(str(copy), copy.parent) == (str(copy), None)
