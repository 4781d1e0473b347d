"""CDK app of relay's own debug stack: ``python -m relay.cdk.debug_app`` (see relay/cloud/synth.py).

Kept apart from the user's app so the debug stack deploys once per stage and can be removed
on its own; the stage comes from the ``stage`` context, team rules from the ``relay`` key.
"""

from __future__ import annotations

import os

import aws_cdk as cdk

from .debug_stack import CLIENT_PRINCIPAL_ENV, DebugStack, customize_from_context

STUB_DIR_ENV = "RELAY_STUB_DIR"


def main() -> None:
    app = cdk.App()
    stage = app.node.try_get_context("stage")
    if not stage:
        raise SystemExit("relay debug app: pass the stage as context (-c stage=NAME)")
    principal = os.environ.get(CLIENT_PRINCIPAL_ENV)
    if not principal:
        raise SystemExit(
            f"relay debug app: set {CLIENT_PRINCIPAL_ENV} to the ARN of the developer who may "
            "connect as the stage's client (relay start does)"
        )
    stub_dir = os.environ.get(STUB_DIR_ENV)
    if not stub_dir:
        from relay.cloud.stub_asset import build_stub_asset

        stub_dir = str(build_stub_asset())
    env = None
    if os.environ.get("CDK_DEFAULT_ACCOUNT") and os.environ.get("CDK_DEFAULT_REGION"):
        env = cdk.Environment(
            account=os.environ["CDK_DEFAULT_ACCOUNT"], region=os.environ["CDK_DEFAULT_REGION"]
        )
    DebugStack(
        app,
        stage=str(stage),
        stub_code=stub_dir,
        client_principal=principal,
        customize=customize_from_context(app.node.try_get_context("relay")),
        env=env,
    )
    app.synth()


if __name__ == "__main__":
    main()
