"""A generated credit-application table: who repays a loan (chapter 13, finance).

Real credit files are private by law; this table is drawn from a known model, deterministic per
seed, with the features a scorecard uses. Default risk rises with the debt-to-income ratio,
credit-card utilisation, late payments and recent credit inquiries, falls with income and the
length of the credit history, and has one interaction (high utilisation hurts more at high
debt) that a linear score cannot represent exactly.
"""

from __future__ import annotations

import numpy as np

from dlkit.data._checks import check_positive_int, check_seed
from dlkit.data.dataset import ArrayDataset

CREDIT_FEATURES = ["income (k/yr)", "debt to income", "utilisation", "late payments",
                   "history (years)", "inquiries (6 mo)", "age"]


def make_credit(n: int = 4000, seed: int = 0) -> ArrayDataset:
    """``n`` loan applicants (chapter 13): ``X`` float32 (n, 7) in the units of
    ``meta["features"]`` (not standardised), ``y`` int64, 1 = defaulted. About 15 % default.
    ``meta["default_probability"]`` is each applicant's true probability of default."""
    n, rng = check_positive_int("n", n, 10), np.random.default_rng(check_seed(seed))
    age = rng.uniform(21, 70, n)
    income = np.exp(rng.normal(np.log(45), 0.45, n))
    debt = rng.beta(2, 5, n) * 0.9
    utilisation = rng.beta(2, 3, n)
    late = rng.poisson(0.6, n).astype(float)
    history = np.clip((age - 18) * rng.uniform(0.2, 0.9, n), 0, None)
    inquiries = rng.poisson(1.2, n).astype(float)
    logit = (-2.2 - 0.9 * np.log(income / 45) + 3.0 * (debt - 0.26) + 1.6 * (utilisation - 0.4)
             + 0.55 * late - 0.05 * (history - 12) + 0.25 * (inquiries - 1.2)
             + 6.0 * np.clip(debt - 0.35, 0, None) * np.clip(utilisation - 0.5, 0, None) * 4)
    probability = 1 / (1 + np.exp(-logit))
    y = (rng.random(n) < probability).astype(np.int64)
    X = np.stack([income, debt, utilisation, late, history, inquiries, age], axis=1)
    meta = {"features": list(CREDIT_FEATURES), "default_probability": probability.astype(np.float32)}
    return ArrayDataset(X.astype(np.float32), y, "credit", ["repaid", "defaulted"], meta,
                        per_sample=("default_probability",))
