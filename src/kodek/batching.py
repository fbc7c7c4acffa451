"""Length-bucketed batches: items sorted longest first, so that a batch pads little.

One function for every stage that batches variable-length items: the tokenizer (audio samples), the
scorer's decoder (codec frames), the speaker and ASR models (samples), the SpeechLLM (frames and
transcript tokens) and ``kodek bench``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def length_batches(
    lengths: Sequence[int],
    max_items: int,
    *,
    budget: int | None = None,
    multiple: int = 1,
    same_length: bool = False,
    order: Iterable[int] | None = None,
) -> list[list[int]]:
    """Indices of ``lengths`` in batches, longest first; every index of ``order`` exactly once.

    A batch holds at most ``max_items`` items and, with ``budget``, at most ``budget`` units once padded
    to its longest item rounded up to ``multiple`` (a codec's hop: the padding the batch really gets); an
    item longer than the budget goes alone. ``same_length`` puts only items of equal length together
    (models whose output changes with zero padding). ``order`` (default: every index, ascending) lists
    the indices to batch; items of equal length keep its order, so a seeded shuffle stays reproducible.
    """
    indices = range(len(lengths)) if order is None else order
    ordered = sorted(indices, key=lambda i: -lengths[i])  # a stable sort: ties keep ``order``
    batches: list[list[int]] = []
    batch: list[int] = []
    for index in ordered:
        if batch and _full(batch, lengths, index, max_items, budget, multiple, same_length):
            batches.append(batch)
            batch = []
        batch.append(index)
    if batch:
        batches.append(batch)
    return batches


def _full(
    batch: list[int],
    lengths: Sequence[int],
    index: int,
    max_items: int,
    budget: int | None,
    multiple: int,
    same_length: bool,
) -> bool:
    """Whether ``index`` must start a new batch (the batch's first item is its longest)."""
    longest = -(-int(lengths[batch[0]]) // multiple) * multiple
    return (
        len(batch) >= max_items
        or (budget is not None and (len(batch) + 1) * longest > budget)
        or (same_length and lengths[index] != lengths[batch[0]])
    )
