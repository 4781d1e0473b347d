"""Where relay's CDK code and stub code live: in an installed wheel, or in a source checkout.

pyproject installs the repository's ``infra/`` as ``relay.cdk`` and ``stub_lambda/`` as
``relay.stub_lambda``. Code that reads their files, or that runs inside an app's own Python
(the synth hook, where an editable install's import mapping may be missing), finds them by
path: ``relay/cdk`` in a wheel, ``infra/`` beside ``relay/`` in a checkout.
"""

from __future__ import annotations

from pathlib import Path

#: The ``relay`` package folder.
RELAY_DIR = Path(__file__).resolve().parent
#: The folder that holds ``relay/`` (site-packages, or the repository root).
RELAY_ROOT = RELAY_DIR.parent


def _folder(installed: str, checkout: str) -> Path:
    path = RELAY_DIR / installed
    return path if path.is_dir() else RELAY_ROOT / checkout


#: ``relay.cdk``: the debug stack, the live Aspect, the demo app.
CDK_DIR = _folder("cdk", "infra")
#: ``relay.stub_lambda``: the stub and connect handlers.
STUB_DIR = _folder("stub_lambda", "stub_lambda")
