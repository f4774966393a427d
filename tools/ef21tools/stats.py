"""Statistics the experiment tables report. Standard library only (works on numpy arrays too)."""

from .tables import fmt


def median(xs):
    """The median; the mean of the two middle values for an even count."""
    xs = sorted(xs)
    n = len(xs)
    if n == 0:
        raise ValueError("median of no values")
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def spread(values, cap_note="reached"):
    """'median [min–max]' of the numbers, with how many were None (not reached)."""
    reached = [v for v in values if v is not None]
    missed = len(values) - len(reached)
    if not reached:
        return f"none of {len(values)} {cap_note}".strip()
    text = f"{fmt(median(reached))} [{fmt(min(reached))}–{fmt(max(reached))}]"
    if missed:
        text += f", {missed} of {len(values)} not reached"
    return text


def band_mean(values):
    """Mean over the last 10% of the rounds (at least one; never round 0 unless it is alone).

    A band rather than the last value: normalized steps oscillate at distance ~γ (SPEC §4).
    """
    n = len(values)
    if n == 0:
        raise ValueError("band of no values")
    tail = values[max(1, n - max(1, n // 10)):] if n > 1 else values
    return float(sum(tail) / len(tail))
