"""Golden conversations: scripted inputs, the engine's replies, events and state, pinned in JSON.

Run `pytest tests/engine/test_golden.py --update-golden` to rewrite them, then review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from bot.engine import ChoicesReply, Engine, Input, Reply, State

GOLDEN = Path(__file__).resolve().parent / "golden"
INPUT = TypeAdapter[Input](Input)


def _resolve(raw: dict[str, Any], last: list[Reply]) -> Input:
    """`{"kind": "choice", "option": 2}` presses the second button of the latest buttons."""
    if raw.get("kind") == "choice" and "option" in raw:
        choices = [reply for reply in last if isinstance(reply, ChoicesReply)]
        return INPUT.validate_python(
            {"kind": "choice", "key": choices[-1].options[raw["option"] - 1].key}
        )
    return INPUT.validate_python(raw)


def run_script(engine: Engine, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    state: State | None = None
    last: list[Reply] = []
    turns = []
    for raw in inputs:
        outcome = engine.step(state, _resolve(raw, last))
        # The state must survive the JSON round trip the store gives it.
        state = State.model_validate_json(outcome.state.model_dump_json())
        last = outcome.replies
        turns.append(
            {
                "input": raw,
                "replies": [reply.model_dump(mode="json") for reply in outcome.replies],
                "events": [event.model_dump(mode="json") for event in outcome.events],
                "state": outcome.state.model_dump(mode="json"),
            }
        )
    return turns


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda path: path.stem)
def test_golden_conversation(path: Path, engine: Engine, request: pytest.FixtureRequest) -> None:
    script = json.loads(path.read_text(encoding="utf-8"))
    turns = run_script(engine, script["inputs"])
    if request.config.getoption("--update-golden"):
        script["turns"] = turns
        path.write_text(json.dumps(script, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return
    assert "turns" in script, f"{path.name} has no expectations yet: run with --update-golden"
    for number, (got, want) in enumerate(zip(turns, script["turns"], strict=True), 1):
        assert got == want, f"{path.name}: turn {number} ({got['input']}) differs"
