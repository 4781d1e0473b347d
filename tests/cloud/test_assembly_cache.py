"""relay/cloud/assembly_cache.py: the debug stack's assembly shared across apps, never for
other inputs, published whole by two starts at once."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from relay.cloud import assembly_cache, synth
from relay.cloud.assembly_cache import debug_stack_key, fetch, publish

#: An app's merged context as relay builds it: CDK feature flags and switches, relay's keys,
#: the app's own keys and a lookup result from cdk.context.json.
CONTEXT: dict[str, Any] = {
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/core:bootstrapQualifier": "hnb659fds",
    "aws:cdk:enable-path-metadata": True,
    "stage": "alice",
    "relay": {"tags": {"team": "blue"}},
    "env_name": "dev",
    "vpc-provider:account=123456789012:filter.tag:Name=main:region=us-east-1": {"vpcId": "v"},
}
VALUES = {
    "CDK_DEFAULT_ACCOUNT": "123456789012",
    "CDK_DEFAULT_REGION": "us-east-1",
    "RELAY_CLIENT_PRINCIPAL": "arn:aws:iam::123456789012:user/alice",
    "CDK_VALIDATION": "false",
}


@pytest.fixture
def stub(tmp_path: Path) -> Path:
    folder = tmp_path / "stub"
    (folder / "websockets").mkdir(parents=True)
    (folder / "stub.py").write_text("def handler(event, context): ...\n")
    (folder / "websockets" / "__init__.py").write_text("")
    return folder


def test_another_apps_own_context_keys_and_lookups_share_the_key(stub: Path) -> None:
    key = debug_stack_key(CONTEXT, VALUES, stub)
    other_app = {k: v for k, v in CONTEXT.items() if k != "env_name" and ":account=" not in k}
    other_app["database"] = "orders"
    assert debug_stack_key(other_app, VALUES, stub) == key
    assert len(key) == 64


@pytest.mark.parametrize(
    ("context", "values"),
    [
        ({"stage": "bob"}, {}),
        ({"relay": {"tags": {"team": "red"}}}, {}),
        ({"@aws-cdk/aws-iam:minimizePolicies": False}, {}),
        ({"@aws-cdk/core:bootstrapQualifier": "other"}, {}),
        ({"aws:cdk:enable-path-metadata": False}, {}),
        ({"@aws-cdk/aws-lambda:recognizeLayerVersion": True}, {}),
        ({}, {"CDK_DEFAULT_ACCOUNT": "210987654321"}),
        ({}, {"CDK_DEFAULT_REGION": "eu-west-1"}),
        ({}, {"RELAY_CLIENT_PRINCIPAL": "arn:aws:iam::123456789012:user/bob"}),
        ({}, {"CDK_VALIDATION": ""}),
    ],
    ids=[
        "stage", "relay-settings", "feature-flag", "qualifier", "switch", "new-flag",
        "account", "region", "principal", "validation",
    ],
)  # fmt: skip
def test_what_the_synthesis_reads_changes_the_key(
    stub: Path, context: dict[str, Any], values: dict[str, str]
) -> None:
    assert debug_stack_key({**CONTEXT, **context}, {**VALUES, **values}, stub) != debug_stack_key(
        CONTEXT, VALUES, stub
    )


def test_the_stub_relay_sources_and_cdk_version_change_the_key(
    stub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = debug_stack_key(CONTEXT, VALUES, stub)
    copy = tmp_path / "elsewhere"
    copy.mkdir()
    (copy / "websockets").mkdir()
    (copy / "stub.py").write_text((stub / "stub.py").read_text())
    (copy / "websockets" / "__init__.py").write_text("")
    assert debug_stack_key(CONTEXT, VALUES, copy) == before  # content, not place or mtime
    (copy / "stub.py").write_text("def handler(event, context): return 1\n")
    assert debug_stack_key(CONTEXT, VALUES, copy) != before

    source = tmp_path / "debug_stack.py"
    source.write_text("class DebugStack: ...\n")
    sources = [*assembly_cache.relay_sources(), source]
    monkeypatch.setattr(assembly_cache, "relay_sources", lambda: sources)
    with_source = debug_stack_key(CONTEXT, VALUES, stub)
    assert with_source != before
    source.write_text("class DebugStack: pass\n")
    assert debug_stack_key(CONTEXT, VALUES, stub) != with_source

    versions = dict(assembly_cache.library_versions())
    assert set(versions) == {"aws-cdk-lib", "constructs", "jsii"}
    assert versions["aws-cdk-lib"].startswith("2.")
    newer = (("aws-cdk-lib", "2.999.0"), ("constructs", "10.0.0"), ("jsii", "1.0.0"))
    monkeypatch.setattr(assembly_cache, "library_versions", lambda: newer)
    assert debug_stack_key(CONTEXT, VALUES, stub) != with_source


def _assembly(folder: Path, body: str = "{}") -> Path:
    (folder / "asset.abc").mkdir(parents=True)
    (folder / "asset.abc" / "stub.py").write_text("x = 1\n")
    (folder / "manifest.json").write_text(body)
    (folder / synth.CACHE_KEY_FILE).write_text("the first app's own key")
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_a_published_assembly_is_served_to_another_app_whole(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    key = "a" * 64
    out = tmp_path / "second-app" / "cdk.out.debug-local"
    assert fetch(key, out, root) is False
    assert not out.exists()

    source = _assembly(tmp_path / "first-app" / "cdk.out.debug-local", '{"version": "48"}')
    publish(key, source, root, ignore=(synth.CACHE_KEY_FILE,))
    out.mkdir(parents=True)
    (out / "stale.template.json").write_text("{}")  # an older assembly of the second app
    assert fetch(key, out, root) is True
    assert _files(out) == {"asset.abc/stub.py": b"x = 1\n", "manifest.json": b'{"version": "48"}'}
    assert [p.name for p in root.iterdir()] == [f"debug-{key[:32]}"]  # no staging left


def test_an_entry_is_served_for_its_full_key_only(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    key = "b" * 64
    publish(key, _assembly(tmp_path / "app"), root)
    same_prefix = "b" * 32 + "c" * 32
    assert fetch(same_prefix, tmp_path / "out", root) is False
    publish(same_prefix, _assembly(tmp_path / "other", '{"other": 1}'), root)  # keeps the first
    assert fetch(key, tmp_path / "out", root) is True
    assert (tmp_path / "out" / "manifest.json").read_text() == "{}"


def test_two_starts_publishing_at_once_both_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both staged before either renames (the race a barrier forces): one entry, no error."""
    root = tmp_path / "cache"
    key = "d" * 64
    both_staged = threading.Barrier(2, timeout=30)
    rename = assembly_cache._rename
    renamed: list[Path] = []

    def staged_then_rename(staging: Path, entry: Path) -> None:
        both_staged.wait()
        rename(staging, entry)
        renamed.append(staging)

    monkeypatch.setattr(assembly_cache, "_rename", staged_then_rename)
    sources = [_assembly(tmp_path / f"app{i}", json.dumps({"app": i})) for i in range(2)]
    errors: list[BaseException] = []

    def start(source: Path) -> None:
        try:
            publish(key, source, root)
        except BaseException as exc:  # pragma: no cover - the failure this test looks for
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert errors == []
    assert len(renamed) == 1  # the other rename failed: the entry was already in place
    assert [p.name for p in root.iterdir()] == [f"debug-{key[:32]}"]
    for out in (tmp_path / "out1", tmp_path / "out2"):
        assert fetch(key, out, root) is True
        assert json.loads((out / "manifest.json").read_text()) in ({"app": 0}, {"app": 1})
        assert (out / "asset.abc" / "stub.py").read_text() == "x = 1\n"


def test_a_cache_that_cannot_be_written_costs_a_synthesis_only(tmp_path: Path) -> None:
    root = tmp_path / "not-a-folder"
    root.write_text("")
    key = "e" * 64
    publish(key, _assembly(tmp_path / "app"), root)  # no exception
    assert fetch(key, tmp_path / "out", root) is False


def _counting_app(folder: Path, count: Path) -> Path:
    """A CDK-like app command: writes an assembly into CDK_OUTDIR and counts its runs."""
    folder.mkdir(parents=True)
    (folder / "cdk.json").write_text(json.dumps({"app": "python3 app.py"}))
    (folder / "app.py").write_text(
        "import json, os, pathlib\n"
        f"count = pathlib.Path({str(count)!r})\n"
        "count.write_text(str(int(count.read_text() or 0) + 1) if count.exists() else '1')\n"
        "out = pathlib.Path(os.environ['CDK_OUTDIR'])\n"
        "context = json.loads(os.environ['CDK_CONTEXT_JSON'])\n"
        "(out / 'manifest.json').write_text(json.dumps({'stage': context['stage']}))\n"
    )
    return folder


def test_synthesize_uses_and_fills_the_shared_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAY_CACHE_DIR", str(tmp_path / "cache"))
    count = tmp_path / "runs"

    def run(project: Path, stage: str) -> Any:
        return synth.synthesize(
            project, stage, out_dir=project / ".relay" / "out", app_files=False,
            shared_key=lambda ctx: f"{ctx['stage']:0<64}",
        )  # fmt: skip

    first = run(_counting_app(tmp_path / "one", count), "alice")
    assert (first.cached, count.read_text()) == (False, "1")
    second_app = _counting_app(tmp_path / "two", count)
    second = run(second_app, "alice")
    assert (second.cached, count.read_text()) == (True, "1")  # served, not synthesized
    assert json.loads((second.directory / "manifest.json").read_text()) == {"stage": "alice"}
    assert run(second_app, "alice").cached is True  # now the app's own cache
    other_stage = run(second_app, "bob")
    assert (other_stage.cached, count.read_text()) == (False, "2")
    assert json.loads((other_stage.directory / "manifest.json").read_text()) == {"stage": "bob"}
