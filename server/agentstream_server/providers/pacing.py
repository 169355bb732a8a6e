"""A jittered token pace that any language can draw alike, for benchmarks.

The offline model's `paced_text` step streams on it, bench/baseline.py sends on it, and
the load client (clients/go/cmd/loadbench) draws the same numbers to know when each delta
was produced. A few numbers in the request stand for the whole schedule, so a run with
500 paced deltas costs no more to start than any other (a 500-step script of `at_ms`
steps cost milliseconds of conversion per run).

Gap k is `mean_ms * (1 - jitter + 2 * jitter * u_k)`, with u_k in [0, 1) the k-th
SplitMix64 output of `seed` (top 53 bits); delta k is due at the sum of gaps 0..k after
the turn began, so lateness never accumulates.
"""

from __future__ import annotations

from collections.abc import Iterator

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def paced_at_ms(mean_ms: float, jitter: float, seed: int) -> Iterator[float]:
    """When each delta is due, in ms after the start: an endless, non-drifting schedule."""
    state = seed & _MASK
    at = 0.0
    low, span = 1 - jitter, 2 * jitter
    while True:
        state = (state + _GOLDEN) & _MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        z ^= z >> 31
        at += mean_ms * (low + span * ((z >> 11) * 2.0**-53))
        yield at
