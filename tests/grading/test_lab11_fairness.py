"""Lab 11 grades what an answer does: honest answers written differently from the solutions
score full marks, and the classic mistakes of gradient accumulation, early stopping, resuming
and the learning-rate range test lose exactly the points of their task (see test_lab_fairness.py)."""

from __future__ import annotations

from pathlib import Path

from lab_variants import grade_variants, honest, mismatches, scribbling, solution_answer, wrong

ACCUMULATE_WITH_CLIP_GRAD_NORM = '''def accumulated_step(params, loss_fn, x, y, micro_batches, lr, max_norm):
    work = [p.clone().detach().requires_grad_() for p in params]
    N = x.shape[0]
    for xb, yb in zip(torch.tensor_split(x, micro_batches), torch.tensor_split(y, micro_batches)):
        if xb.shape[0] == 0:
            continue
        weight = xb.shape[0] / N                      # a mean over n_k examples counts n_k / N
        grads = torch.autograd.grad(weight * loss_fn(work, xb, yb), work)
        for p, g in zip(work, grads):
            p.grad = g if p.grad is None else p.grad + g
    norm = torch.nn.utils.clip_grad_norm_(work, max_norm)
    with torch.no_grad():
        new = [p - lr * p.grad for p in work]
    return new, norm.item()
'''
ACCUMULATE_SUMS_THE_MEANS = ACCUMULATE_WITH_CLIP_GRAD_NORM.replace(
    "weight = xb.shape[0] / N ", "weight = 1.0 ")
ACCUMULATE_DIVIDES_BY_K = ACCUMULATE_WITH_CLIP_GRAD_NORM.replace(
    "weight = xb.shape[0] / N ", "weight = 1 / micro_batches ")
ACCUMULATE_CLIPS_EACH_MICRO_BATCH = '''def accumulated_step(params, loss_fn, x, y, micro_batches, lr, max_norm):
    work = [p.clone().detach().requires_grad_() for p in params]
    total = [torch.zeros_like(p) for p in params]
    norms = []
    for xb, yb in zip(torch.tensor_split(x, micro_batches), torch.tensor_split(y, micro_batches)):
        grads = torch.autograd.grad(loss_fn(work, xb, yb) * len(xb) / len(x), work)
        norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
        scale = min(1.0, max_norm / float(norm))      # each piece clipped on its own
        total = [t + scale * g for t, g in zip(total, grads)]
        norms.append(norm)
    overall = float(torch.sqrt(sum((t ** 2).sum() for t in total)))
    return [p.detach() - lr * t for p, t in zip(work, total)], overall
'''
ACCUMULATE_CLIPS_EACH_PARAMETER = ACCUMULATE_WITH_CLIP_GRAD_NORM.replace(
    "    norm = torch.nn.utils.clip_grad_norm_(work, max_norm)\n",
    "    norm = torch.sqrt(sum((p.grad ** 2).sum() for p in work))\n"
    "    for p in work:\n        torch.nn.utils.clip_grad_norm_([p], max_norm)\n")

EARLY_STOPPING_SINCE_BEST = '''import copy


def fit_with_early_stopping(params, train_epoch, evaluate, max_epochs, patience, min_delta=0.0):
    if not patience >= 1:
        raise ValueError(f"patience must be >= 1, found {patience!r}")
    best_loss, best_epoch, snapshot = float("inf"), -1, copy.deepcopy(params)
    epoch = -1
    for epoch in range(max_epochs):
        train_epoch(params, epoch)
        loss = evaluate(params)
        if best_loss - loss > min_delta:
            best_loss, best_epoch, snapshot = loss, epoch, copy.deepcopy(params)
        elif epoch - best_epoch >= patience:              # epochs since the best
            break
    return snapshot, best_epoch, epoch + 1
'''
EARLY_STOPPING_ALIAS = EARLY_STOPPING_SINCE_BEST.replace(
    "best_loss, best_epoch, snapshot = loss, epoch, copy.deepcopy(params)",
    "best_loss, best_epoch, snapshot = loss, epoch, list(params)")
EARLY_STOPPING_ONE_EPOCH_LATE = EARLY_STOPPING_SINCE_BEST.replace(
    "epoch - best_epoch >= patience", "epoch - best_epoch > patience")
EARLY_STOPPING_IGNORES_MIN_DELTA = EARLY_STOPPING_SINCE_BEST.replace("best_loss - loss > min_delta", "loss < best_loss")

MAKE_RUN = '''def make_run(seed):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1)).double()
    return model, torch.optim.Adam(model.parameters(), lr=0.01)


def train_steps(model, optimizer, steps):
    model.train()
    losses = []
    for _ in range(steps):
        x = torch.randn(8, 4, dtype=torch.float64)
        loss = F.mse_loss(model(x), x.sum(dim=1, keepdim=True))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


'''
RESUME_THROUGH_TORCH_SAVE = MAKE_RUN + '''import io


def capture_state(model, optimizer):
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "rng": torch.random.get_rng_state()}, buffer)
    return {"checkpoint": buffer.getvalue()}


def restore_state(model, optimizer, state):
    saved = torch.load(io.BytesIO(state["checkpoint"]), weights_only=True)
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    torch.random.set_rng_state(saved["rng"])
'''
RESUME_WITHOUT_OPTIMIZER = RESUME_THROUGH_TORCH_SAVE.replace(
    '    optimizer.load_state_dict(saved["optimizer"])\n', "")
RESUME_WITHOUT_RNG = RESUME_THROUGH_TORCH_SAVE.replace(
    '    torch.random.set_rng_state(saved["rng"])\n', "")
RESUME_RESEEDS = RESUME_THROUGH_TORCH_SAVE.replace(
    '    torch.random.set_rng_state(saved["rng"])\n', "    torch.manual_seed(0)\n")

RANGE_TEST_LOGSPACE = '''def lr_range_test(params, loss_fn, batches, start_lr, end_lr,
                  smoothing=0.9, diverge_factor=4.0):
    import math
    weights = [p.detach().clone() for p in params]
    schedule = torch.logspace(math.log10(start_lr), math.log10(end_lr), len(batches), dtype=torch.float64)
    lrs, smoothed = [], []
    ema, lowest = 0.0, float("inf")
    for i, ((x, y), lr) in enumerate(zip(batches, schedule.tolist())):
        weights = [w.requires_grad_() for w in weights]
        loss = loss_fn(weights, x, y)
        loss.backward()
        weights = [(w - lr * w.grad).detach() for w in weights]
        ema = smoothing * ema + (1 - smoothing) * loss.item()
        value = ema / (1 - smoothing ** (i + 1))
        lrs.append(lr)
        smoothed.append(value)
        if math.isnan(value) or math.isinf(value) or value > diverge_factor * lowest:
            break
        lowest = min(lowest, value)
    return lrs, smoothed, lrs[smoothed.index(min(smoothed))] / 10
'''
RANGE_TEST_LINEAR = RANGE_TEST_LOGSPACE.replace(
    "torch.logspace(math.log10(start_lr), math.log10(end_lr), len(batches), dtype=torch.float64)",
    "torch.linspace(start_lr, end_lr, len(batches), dtype=torch.float64)")
RANGE_TEST_NO_BIAS_CORRECTION = RANGE_TEST_LOGSPACE.replace("value = ema / (1 - smoothing ** (i + 1))", "value = ema")
RANGE_TEST_SUGGESTS_THE_MINIMUM = RANGE_TEST_LOGSPACE.replace(
    "lrs[smoothed.index(min(smoothed))] / 10", "lrs[smoothed.index(min(smoothed))]")

SEARCH_BASE_TEN = '''def random_search(objective, space, trials, generator):
    import math
    for key, (lo, hi, kind) in space.items():
        if lo >= hi or (kind == "log" and lo <= 0):
            raise ValueError(f"bad range for {key}: {lo}..{hi} ({kind})")
    trials_done = []
    for _ in range(trials):
        draw = {}
        for key, (lo, hi, kind) in space.items():
            u = float(torch.rand(1, generator=generator, dtype=torch.float64)[0])
            draw[key] = 10 ** (math.log10(lo) + u * math.log10(hi / lo)) if kind == "log" else lo + (hi - lo) * u
        trials_done.append((draw, objective(draw)))
    best = min(trials_done, key=lambda pair: pair[1])      # min keeps the first of equals
    return best[0], best[1], trials_done
'''
SEARCH_LINEAR_LR = SEARCH_BASE_TEN.replace(
    "10 ** (math.log10(lo) + u * math.log10(hi / lo)) if kind == \"log\" else lo + (hi - lo) * u",
    "lo + (hi - lo) * u")
SEARCH_KEEPS_THE_HIGHEST = SEARCH_BASE_TEN.replace("best = min(", "best = max(")

# the givens (in the answer cell) changed: one network whatever the seed, and a train_steps that
# trains nothing, so that a capture and restore that do nothing would look exact
RESUME_WITH_GIVENS_THAT_TRAIN_NOTHING = '''def make_run(seed):
    """Given, changed: the same network whatever the seed."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1)).double()
    return model, torch.optim.Adam(model.parameters(), lr=0.01)


def train_steps(model, optimizer, steps):
    """Given, changed: trains nothing."""
    return [0.0] * steps


def capture_state(model, optimizer):
    return {}


def restore_state(model, optimizer, state):
    pass
'''

VARIANTS = [
    honest("accumulate-with-clip-grad-norm", accumulated_step=ACCUMULATE_WITH_CLIP_GRAD_NORM),
    wrong("accumulate-sums-the-means", "accumulated_step-tests", accumulated_step=ACCUMULATE_SUMS_THE_MEANS),
    wrong("accumulate-divides-by-k", "accumulated_step-tests", accumulated_step=ACCUMULATE_DIVIDES_BY_K),
    wrong("accumulate-clips-each-micro-batch", "accumulated_step-tests",
          accumulated_step=ACCUMULATE_CLIPS_EACH_MICRO_BATCH),
    wrong("accumulate-clips-each-parameter", "accumulated_step-tests",
          accumulated_step=ACCUMULATE_CLIPS_EACH_PARAMETER),
    honest("early-stopping-since-best-deepcopy", fit_with_early_stopping=EARLY_STOPPING_SINCE_BEST),
    wrong("early-stopping-alias", "fit_with_early_stopping-tests", fit_with_early_stopping=EARLY_STOPPING_ALIAS),
    wrong("early-stopping-one-epoch-late", "fit_with_early_stopping-tests",
          fit_with_early_stopping=EARLY_STOPPING_ONE_EPOCH_LATE),
    wrong("early-stopping-ignores-min-delta", "fit_with_early_stopping-tests",
          fit_with_early_stopping=EARLY_STOPPING_IGNORES_MIN_DELTA),
    honest("resume-through-torch-save", exact_resume=RESUME_THROUGH_TORCH_SAVE),
    wrong("resume-without-optimizer", "exact_resume-tests", exact_resume=RESUME_WITHOUT_OPTIMIZER),
    wrong("resume-without-rng", "exact_resume-tests", exact_resume=RESUME_WITHOUT_RNG),
    wrong("resume-reseeds", "exact_resume-tests", exact_resume=RESUME_RESEEDS),
    honest("range-test-logspace", lr_range_test=RANGE_TEST_LOGSPACE),
    wrong("range-test-linear", "lr_range_test-tests", lr_range_test=RANGE_TEST_LINEAR),
    wrong("range-test-no-bias-correction", "lr_range_test-tests", lr_range_test=RANGE_TEST_NO_BIAS_CORRECTION),
    wrong("range-test-suggests-the-minimum", "lr_range_test-tests", lr_range_test=RANGE_TEST_SUGGESTS_THE_MINIMUM),
    honest("search-base-ten-min", random_search=SEARCH_BASE_TEN),
    wrong("search-linear-lr", "random_search-tests", random_search=SEARCH_LINEAR_LR),
    wrong("search-keeps-the-highest", "random_search-tests", random_search=SEARCH_KEEPS_THE_HIGHEST),
    scribbling("lab11"),  # overwrites its arguments
    wrong("changes-the-givens", "exact_resume-tests", exact_resume=RESUME_WITH_GIVENS_THAT_TRAIN_NOTHING),
    # the givens drawn under a float64 default: other initial weights, still the given network
    honest("resume-under-a-float64-default", exact_resume="torch.set_default_dtype(torch.float64)\n\n\n"
           + solution_answer("lab11", "exact_resume")),
]


def test_lab11_grades_what_an_answer_does_not_how_it_is_written(tmp_path: Path) -> None:
    problems = mismatches("lab11", VARIANTS, grade_variants("lab11", VARIANTS, tmp_path))
    assert not problems, "\n".join(problems)
