"""Alignment and uniformity of an embedding (paper Section 5, Appendix E; Wang and Isola, 2020).

In: L2-normalised embeddings as numpy arrays. Out: floats.
* ``alignment(x, y)``: mean ||x_i - y_i||^2 over positive pairs (row i of x with row i of y).
  Lower is better; identical pairs give 0.
* ``alignment_norm(x, y, pool)``: each pair's squared distance divided by the squared distance
  from x_i to its nearest row of ``pool`` (the chunks): the paper's normalised alignment, which
  makes models with different overall scales comparable. 1 means the gold chunk is as close as
  the nearest chunk.
* ``uniformity(x, t=2)``: log mean exp(-t ||x_i - x_j||^2) over pairs i < j. Always <= 0; 0 for
  a collapsed set, more negative for better-spread points. The paper and the workbench report
  its absolute value |uniformity| (larger = more uniform) and say so on every plot.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError


def _pairs(x: np.ndarray, y: np.ndarray) -> None:
    if x.shape != y.shape or x.ndim != 2 or not len(x):
        raise InputError(
            f"alignment needs two (n, d) arrays of equal shape, got {x.shape} and {y.shape}",
            "embeddings",
            "pass one row per (query, gold chunk) pair",
        )


def alignment(x: np.ndarray, y: np.ndarray) -> float:
    _pairs(x, y)
    return float(np.mean(np.sum((x - y) ** 2, axis=1)))


def nearest_sq_distance(x: np.ndarray, pool: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Squared L2 distance from each row of x to its nearest row of pool, (n,)."""
    out = np.empty(len(x))
    pn = np.sum(pool.astype(np.float64) ** 2, axis=1)
    for s in range(0, len(x), batch):
        xb = x[s:s + batch].astype(np.float64)
        d = np.sum(xb ** 2, axis=1)[:, None] + pn[None, :] - 2 * xb @ pool.T.astype(np.float64)
        out[s:s + batch] = np.maximum(d.min(axis=1), 0.0)
    return out


def alignment_norm(x: np.ndarray, y: np.ndarray, pool: np.ndarray, eps: float = 1e-9
                   ) -> tuple[float, int]:
    """(mean of ||x_i - y_i||^2 / ||x_i - nearest(pool)||^2, pairs skipped because x_i sits on
    a pool point, distance < eps)."""
    _pairs(x, y)
    num = np.sum((x.astype(np.float64) - y) ** 2, axis=1)
    den = nearest_sq_distance(x, pool)
    ok = den >= eps
    if not ok.any():
        raise InputError("every query coincides with a chunk", "embeddings",
                         "normalised alignment is undefined; use the raw alignment")
    return float(np.mean(num[ok] / den[ok])), int((~ok).sum())


def uniformity(x: np.ndarray, t: float = 2.0, max_points: int = 4000, seed: int = 0) -> float:
    """log E_{i<j} exp(-t ||x_i - x_j||^2); a seeded subsample of ``max_points`` rows when
    larger (the pair count grows quadratically). <= 0; report ``abs()`` (larger = more uniform)."""
    if len(x) < 2:
        raise InputError(f"uniformity needs at least 2 points, got {len(x)}", "embeddings",
                         "add chunks")
    if len(x) > max_points:
        x = x[np.sort(np.random.default_rng(seed).choice(len(x), max_points, replace=False))]
    x = x.astype(np.float64)
    sq = np.sum(x ** 2, axis=1)
    d = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    iu = np.triu_indices(len(x), 1)
    v = -t * d[iu]
    m = v.max()
    return float(m + np.log(np.mean(np.exp(v - m))))  # log-mean-exp, stable


def on_sphere(e: np.ndarray) -> np.ndarray:
    """``e`` itself where its rows are unit vectors (a cosine model's), else its rows
    L2-normalised: alignment and uniformity are defined on the hypersphere (Wang and Isola),
    and a ``dot`` model's raw vectors are not on it."""
    block = 1 << 16  # norms read block by block: no full float32 copy of a float16 memmap
    norms = np.concatenate([np.linalg.norm(np.asarray(e[s:s + block], dtype=np.float32), axis=1)
                            for s in range(0, len(e), block)] or [np.ones(0, np.float32)])
    return e if np.allclose(norms, 1, atol=1e-3) else e / np.maximum(norms[:, None], 1e-12)


def alignment_uniformity(
    query_emb: np.ndarray,
    chunk_emb: np.ndarray,
    pairs: list[tuple[int, int]],
    max_points: int = 4000,
    seed: int = 0,
) -> dict:
    """Every number for one model: ``pairs`` are (query row, gold chunk row)."""
    if not pairs:
        raise InputError(
            "no (query, gold chunk) pair", "relevance", "alignment needs labelled queries"
        )
    qi = np.array([a for a, _ in pairs])
    ci = np.array([b for _, b in pairs])
    query_emb, chunk_emb = on_sphere(query_emb), on_sphere(chunk_emb)
    x, y = query_emb[qi], chunk_emb[ci]
    an, skipped = alignment_norm(x, y, chunk_emb)
    u = uniformity(chunk_emb, max_points=max_points, seed=seed)
    return {"alignment": alignment(x, y), "alignment_norm": an, "uniformity": u,
            "uniformity_abs": abs(u), "pairs": len(pairs), "pairs_skipped": skipped,
            "uniformity_points": min(len(chunk_emb), max_points)}


def reading(rows: list[dict], gains: dict[str, str] | None = None, base: str = "base") -> list[str]:
    """Plain sentences about what adapting the encoder moved, computed from ``rows`` (one
    :func:`alignment_uniformity` result per system, with its ``system`` name): each axis, raw
    and normalised alignment, whether that matches the paper's claim (Section 5: BMEmbed
    improves uniformity and keeps alignment), and, given ``gains`` (system -> its measured
    retrieval difference in words), what it meant for retrieval here."""
    by = {r["system"]: r for r in rows}
    if base not in by:
        return []
    b = by[base]
    out = []
    for name, r in by.items():
        if name == base:
            continue

        def move(key, better_low=True, r=r):
            d = r[key] - b[key]
            if abs(d) < 1e-3 * max(abs(b[key]), 1e-9):
                return "stayed at", 0
            good = (d < 0) == better_low
            return ("fell" if d < 0 else "rose"), (1 if good else -1)
        ar, ar_s = move("alignment")
        an, an_s = move("alignment_norm")
        un, un_s = move("uniformity_abs", better_low=False)
        spread = {1: "more evenly spread", -1: "less evenly spread", 0: "unchanged"}[un_s]
        over = f", over {r['pairs']:,} (question, gold chunk) pairs" if r.get("pairs") else ""
        s = [
            f"**{name}** against {base}{over}: raw alignment {ar} {b['alignment']:.3f} → "
            f"{r['alignment']:.3f} "
            f"({'better' if ar_s > 0 else 'worse' if ar_s < 0 else 'unchanged'}); normalised "
            f"alignment {an} {b['alignment_norm']:.3f} → {r['alignment_norm']:.3f} "
            f"({'better' if an_s > 0 else 'worse' if an_s < 0 else 'unchanged'}); |uniformity| "
            f"{un} {b['uniformity_abs']:.3f} → {r['uniformity_abs']:.3f} "
            f"({spread})."
        ]
        if ar_s * an_s < 0:
            s.append(
                "Raw and normalised alignment disagree: the raw distance to the gold chunk "
                "changes with how the whole space is spread, while the normalised one compares "
                "it with the distance to the nearest chunk, which is what ranking depends on; "
                "read retrieval from the normalised one."
            )
        claim = un_s > 0 and an_s >= 0
        s.append(
            ("This matches" if claim else "This does not match") + " the paper's claim that "
            "BMEmbed spreads the chunks more evenly (higher |uniformity|) without losing "
            "alignment"
            + (
                "."
                if claim
                else f": here uniformity {'improved' if un_s > 0 else 'got worse'} "
                "and normalised alignment "
                f"{'improved' if an_s > 0 else 'got worse' if an_s < 0 else 'held'}."
            )
        )
        if gains and name in gains:
            s.append(f"On retrieval, {name} - {base}: {gains[name]}.")
        out.append(" ".join(s))
    return out


def gains_over_base(comparisons, metric: str = "MAP@10") -> dict[str, str]:
    """Each model's measured difference from base on ``metric`` in words, from an
    ``evaluate`` comparisons table: the ``gains`` :func:`reading` takes."""
    if comparisons is None or not len(comparisons):
        return {}
    c = comparisons[(comparisons.metric == metric) & comparisons.comparison.str.endswith(" - base")]
    return {r.comparison.split(" - ")[0]: f"{metric} {r['diff']:+.1f} points [{r.ci_low:+.1f}, "
            f"{r.ci_high:+.1f}] on {int(r.queries)} test questions" for _, r in c.iterrows()}
