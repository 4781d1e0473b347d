"""Demo app: ``python3 -m relay.cdk.demo.app`` from the repository root (see cdk.json).

It reads the ``stage`` context so each developer's stack is their own, and it knows nothing
of relay: relay puts it in live mode itself.
"""

from __future__ import annotations

import aws_cdk as cdk

from .stack import DemoStack


def main() -> None:
    app = cdk.App()
    stage = app.node.try_get_context("stage") or "dev"
    DemoStack(app, f"relay-demo-{stage}", stage=str(stage))
    app.synth()


if __name__ == "__main__":
    main()
