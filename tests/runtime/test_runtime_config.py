"""FunctionConfig from a function record: one constructor for functions.json and the state file."""

from __future__ import annotations

import json
from pathlib import Path

from relay.runtime import FunctionConfig


def test_a_functions_json_record_becomes_a_config(tmp_path: Path) -> None:
    record = {  # as relay.cloud.synth.write_functions writes it
        "path": "shop-alice/Orders",
        "handler": "orders.handler",
        "code_dir": str(tmp_path / "orders"),
        "layers": [str(tmp_path / "shared")],
        "source_layers": [],
        "runtime": "python3.12",
        "timeout": 20,
        "memory": 512,
        "environment": {"TABLE": {"Ref": "OrderTable"}},  # unresolved: not used as is
    }
    config = FunctionConfig.from_record(
        record,
        name="shop-alice-Orders-ABC",
        region="eu-west-1",
        account_id="111122223333",
        environment={"TABLE": "orders"},
        extra_layers=(tmp_path / "given",),
    )
    assert config.arn == "arn:aws:lambda:eu-west-1:111122223333:function:shop-alice-Orders-ABC"
    assert (config.handler, config.code_dir) == ("orders.handler", tmp_path / "orders")
    assert config.layers == (tmp_path / "shared", tmp_path / "given")
    assert (config.runtime, config.timeout, config.memory_mb) == ("python3.12", 20.0, 512)
    assert dict(config.environment) == {"TABLE": "orders"}


def test_record_round_trips_without_the_environment(tmp_path: Path) -> None:
    config = FunctionConfig(
        name="fn",
        handler="app.handler",
        code_dir=tmp_path,
        layers=(tmp_path / "layer",),
        source_layers=(tmp_path / "src",),
        environment={"AWS_SECRET_ACCESS_KEY": "secret"},
        timeout=7.5,
        memory_mb=256,
        region="eu-west-1",
        account_id="111122223333",
        runtime="python3.11",
    )
    saved = json.loads(json.dumps(config.record()))
    assert "secret" not in json.dumps(saved)
    again = FunctionConfig.from_record(
        saved, name=saved["name"], region=saved["region"], account_id=saved["account_id"]
    )
    assert again.same_as(FunctionConfig(**{**_fields(config), "environment": {}}))


def _fields(config: FunctionConfig) -> dict[str, object]:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}
