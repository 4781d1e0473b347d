"""Constants shared by the infra tests (importable: pytest puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path

from relay.cdk.live import LiveTargets

SAMPLE = Path(__file__).parent / "sample_app"
TARGETS = LiveTargets(
    websocket_url="wss://abc123.execute-api.eu-west-1.amazonaws.com/alice",
    connections_endpoint="https://abc123.execute-api.eu-west-1.amazonaws.com/alice",
    bucket="relay-alice-debug-overflow-xyz",
    execute_api_arn="arn:aws:execute-api:eu-west-1:111122223333:abc123",
    api_stage="alice",
)
