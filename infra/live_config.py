"""What relay tells the live Aspect (`infra/live.py`), kept free of aws_cdk: importing CDK
starts a jsii Node process (1-5 s), which `relay start --local` should not pay just to build
this configuration."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

#: The environment variable relay passes the live configuration in (JSON).
CONFIG_ENV = "RELAY_LIVE_CONFIG"
#: The emulator replaces it with its own region at provisioning.
PLACEHOLDER_REGION = "relay-local-region"


@dataclass(frozen=True)
class LiveTargets:
    """Where stubs of a stage connect: the deployed debug stack's outputs, as plain strings."""

    websocket_url: str
    connections_endpoint: str
    bucket: str
    execute_api_arn: str  # arn:<partition>:execute-api:<region>:<account>:<api id>
    api_stage: str  # the WebSocket API's stage name

    @property
    def region(self) -> str:
        """The API's region: stubs in stacks of other regions sign for it, not their own."""
        return self.execute_api_arn.split(":")[3]

    @classmethod
    def placeholders(cls, stage: str) -> LiveTargets:
        """Stand-ins the emulator replaces at provisioning (its ports change every run)."""
        return cls(
            websocket_url="relay-local:websocket_url",
            connections_endpoint="relay-local:connections_endpoint",
            bucket="relay-local-bucket",
            execute_api_arn=f"arn:aws:execute-api:{PLACEHOLDER_REGION}:123456789012:relaylocal",
            api_stage=stage,
        )


@dataclass(frozen=True)
class LiveConfig:
    """Everything the Aspect needs, passed from relay to the app's process as JSON."""

    stage: str
    stub_dir: str
    targets: LiveTargets
    increase_timeout: bool = False
    #: observe mode: the share of invocations copied to the client; the real code stays,
    #: wrapped by the layer in ``observe_layer_dir`` (relay.observe.layer)
    observe: float | None = None
    observe_layer_dir: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LiveConfig:
        data = json.loads(text)
        return cls(
            stage=data["stage"],
            stub_dir=data["stub_dir"],
            targets=LiveTargets(**data["targets"]),
            increase_timeout=bool(data.get("increase_timeout", False)),
            observe=data.get("observe"),
            observe_layer_dir=data.get("observe_layer_dir"),
        )

    @classmethod
    def from_env(cls) -> LiveConfig | None:
        text = os.environ.get(CONFIG_ENV)
        return cls.from_json(text) if text else None
