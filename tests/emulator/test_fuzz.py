"""The fuzzing of bench/fuzz_link.py, a few hundred cases per target on every run (the
benchmark runs 10,000): the decoder raises only ProtocolError, the emulator's HTTP and
WebSocket endpoints answer or close in time, never 500, and keep serving."""

from __future__ import annotations

from pathlib import Path

from bench.fuzz_link import fuzz_all


def test_decoder_and_endpoints_survive_fuzzing(tmp_path: Path) -> None:
    results = fuzz_all(120, tmp_path)
    assert sum(results["decode"].values()) == 120
    assert results["decode"]["ProtocolError"] > 0
    assert sum(results["http"].values()) == 120
    assert sum(results["websocket"].values()) == 120
    assert results["websocket"]["answered"] > 0
