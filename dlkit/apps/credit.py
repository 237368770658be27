"""A credit scorecard from a logistic regression: points, and reason codes that explain a
decline (chapter 13, finance, section "Credit scoring").

Lenders must tell a declined applicant *why* (the US Equal Credit Opportunity Act's "adverse
action notice", the EU's rules on automated decisions), so the scores in use are mostly linear:
each feature's contribution to the log-odds can be read off and ranked.
"""

from __future__ import annotations

import numpy as np


def score_points(log_odds_of_default: np.ndarray, base: float = 600.0, base_odds: float = 19.0,
                 points_to_double: float = 40.0) -> np.ndarray:
    """Scorecard points: ``base`` at good:bad odds of ``base_odds`` to 1, and ``points_to_double``
    more points each time the odds of repaying double. Higher is safer. (FICO spans 300–850,
    Sesame Credit 350–950: the scale is a convention; the ordering is the model.)"""
    log_odds_good = -np.asarray(log_odds_of_default, dtype=np.float64)
    return base + points_to_double / np.log(2) * (log_odds_good - np.log(base_odds))


def reason_codes(weights: np.ndarray, applicant: np.ndarray, reference: np.ndarray,
                 names: list[str], top: int = 3) -> list[tuple[str, float]]:
    """The ``top`` features that raise this applicant's log-odds of default the most compared
    with the ``reference`` applicant (e.g. the mean), as (name, contribution) pairs, largest
    first; only features that raise the risk are listed.

    The contribution of feature j is ``w_j · (x_j − reference_j)``: exact for a linear score,
    which is why lenders keep one.
    """
    weights, applicant, reference = (np.asarray(a, dtype=np.float64).reshape(-1)
                                     for a in (weights, applicant, reference))
    if not weights.shape == applicant.shape == reference.shape == (len(names),):
        raise ValueError(f"expected weights, applicant and reference of length {len(names)} (one per name), "
                         f"got {weights.shape}, {applicant.shape}, {reference.shape}")
    contributions = weights * (applicant - reference)
    order = np.argsort(-contributions, kind="stable")
    return [(names[j], float(contributions[j])) for j in order[:top] if contributions[j] > 0]
