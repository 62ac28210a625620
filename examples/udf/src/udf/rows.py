"""Scores rows for a database engine that calls `score` once per row on one live instance.

The engine passes each row as JSON and answers `pywasm.host.lookup(name)` from its own tables;
examples/hosts/go runs it under wazero (`go run . udf.wasm calls.json`), and `cargo xtask bench`
measures the cost per call.
"""
import json
from dataclasses import dataclass, field

from pywasm import host


@dataclass
class Row:
    id: int
    name: str
    amount: float
    tags: list[str] = field(default_factory=list)


@dataclass
class Score:
    id: int
    score: float
    tags: int


def noop() -> None:
    return None


def echo(text: str) -> str:
    return text


def score(row: Row) -> Score:
    weight = json.loads(host.lookup(row.name))["len"]
    bonus = 1.5 if "priority" in row.tags else 1.0
    return Score(id=row.id, score=round(row.amount * weight * bonus, 2), tags=len(row.tags))
