"""What maj@n and agreement compare: an answer's canonical key, so that answers stating the same values agree
whatever their wording (`175B` = `1750亿` = `175 billion`, `2020年5月` = `May 2020`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from eval.metrics import REFUSED_KEY, contains_alias
from rag.values import find_values


def answer_key(answer: str, item: Any | None, text_key: str) -> str:
    """The canonical key of an answer to `item` (None: a question outside the gold set): the set of values it
    states (numbers with their scale and unit kind, dates) and of the gold alias groups it matches; `text_key`
    (the scorer's normalised text, or REFUSED_KEY for a refusal) when it is a refusal or states none of those."""
    if text_key == REFUSED_KEY:
        return text_key
    parts = set()
    for value in find_values(answer):
        if not value.claim:
            continue
        kind = "number" if value.kind in ("count", "size") else value.kind  # 52000 = 52K, as the scorer matches them
        amount = value.amount.normalize() if isinstance(value.amount, Decimal) else value.amount
        parts.add(f"{kind}:{amount}")
    for i, group in enumerate(item.answers if item is not None else []):
        if any(contains_alias(answer, alias) for alias in group):
            parts.add(f"gold:{i}")
    return " | ".join(sorted(parts)) if parts else text_key
