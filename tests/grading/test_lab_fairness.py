"""The course labs grade what an answer does: honest answers written differently from the
solutions score full marks, wrong ones lose exactly the points of their task (nothing more).

Each lab's variants go through ``dlkit grade`` in one batch on a scratch copy of the course;
``lab_variants`` builds them from the lab's own solutions with some answer cells replaced.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_variants import Variant, grade_variants, honest, mismatches, wrong


def body(header: str, code: str) -> str:
    """``header`` (a def line and what comes before the body) followed by ``code``, indented."""
    return header + "".join(f"    {line}\n" for line in code.strip().splitlines())


# -- lab01: a dtype slip costs the one dtype point; right values in another form score full -----
SIGMOID_FLOAT64 = body("def sigmoid(x):\n", """
x = np.asarray(x, dtype=np.float64)          # right values, float64 even for float32 input
e = np.exp(-np.abs(x))
return np.where(x >= 0, 1 / (1 + e), e / (1 + e))
""")
SIGMOID_BY_HALVES = body("def sigmoid(x):\n", '''
"""Stable, as torch.sigmoid and scipy.special.expit are: naming them in words is fine."""
x = np.asarray(x)
out = np.empty_like(x, dtype=np.result_type(x.dtype, np.float32))
positive = x >= 0
out[positive] = 1 / (1 + np.exp(-x[positive]))
e = np.exp(x[~positive])
out[~positive] = e / (1 + e)
return out
''')
SOFTMAX_OVER_AXIS_0 = body("def stable_softmax(z):\n", """
z = np.asarray(z) * 1.0                        # float32 stays float32
e = np.exp(z - z.max(axis=0, keepdims=True))
return e / e.sum(axis=0, keepdims=True)
""")
RELU_IN_PLACE = body("def relu(x):\n", """
x = np.asarray(x)
x[x < 0] = 0
return x
""") + "\n\n" + body("def relu_derivative(x):\n", """
x = np.asarray(x)
return (x > 0).astype(x.dtype)
""")

# -- lab02 ------------------------------------------------------------------------------------
DENSE_EINSUM = body("def dense_forward(X, W, b):\n", '''
"""Like torch.nn.functional.linear, with W stored (D, H)."""
X, W, b = np.asarray(X), np.asarray(W), np.asarray(b)
if X.ndim != 2 or W.ndim != 2 or W.shape[0] != X.shape[1] or b.shape != (W.shape[1],):
    raise ValueError(f"expected X (N, D), W (D, H), b (H,), got {X.shape}, {W.shape}, {b.shape}")
return np.einsum("nd,dh->nh", X, W) + b
''')
BCE_LOGADDEXP = body("def binary_cross_entropy_with_logits(z, y):\n", """
z, y = np.asarray(z, dtype=float), np.asarray(y, dtype=float)
if z.shape != y.shape:
    raise ValueError(f"expected logits and labels of one shape, got {z.shape} and {y.shape}")
return float(np.mean(np.logaddexp(0.0, z) - z * y))
""")
MSE_OVER_ROWS = body("def mse(y_hat, y):\n", """
y_hat, y = np.asarray(y_hat, dtype=float), np.asarray(y, dtype=float)
if y_hat.shape != y.shape:
    raise ValueError(f"expected one shape, got {y_hat.shape} and {y.shape}")
return float(np.sum((y_hat - y) ** 2) / len(y))
""")

# -- lab03 ------------------------------------------------------------------------------------
TANH_BACKWARD_SECH = body("def tanh_backward(x, out_grad):\n", """
# 1 - tanh² = sech² = 1 / cosh²; cosh overflows to inf for |x| > 710, and 1 / inf² is 0
with np.errstate(over="ignore"):
    return np.asarray(out_grad) / np.cosh(x) ** 2
""")
ELEMENTWISE_REST = '''

def mul_backward(a, b, out_grad):
    """Checked against autograd in the tests (the word is fine in a docstring)."""
    a, b, out_grad = np.asarray(a), np.asarray(b), np.asarray(out_grad)
    return unbroadcast(out_grad * b, a.shape), unbroadcast(out_grad * a, b.shape)


def relu_backward(x, out_grad):
    return np.where(np.asarray(x) > 0, out_grad, 0.0)
'''
NUMERICAL_GRADIENT_HEADER = "def numerical_gradient(f, x, eps=1e-5):\n"
RELATIVE_ERROR = body("def relative_error(a, b):\n", """
a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)))
""")
NUDGE_IN_PLACE = body(NUMERICAL_GRADIENT_HEADER, """
x = np.asarray(x, dtype=np.float64)      # the caller's own array when it is float64 already
grad = np.zeros_like(x)
flat, flat_grad = x.reshape(-1), grad.reshape(-1)
for i in range(flat.size):
    saved = flat[i]
    flat[i] = saved + eps
    plus = f(x)
    flat[i] = saved - eps
    minus = f(x)
    flat[i] = saved                      # written back: exactly the old value
    flat_grad[i] = (plus - minus) / (2 * eps)
return grad
""") + "\n\n" + RELATIVE_ERROR
FIXED_EPS = NUDGE_IN_PLACE.replace("saved + eps", "saved + 1e-5").replace("saved - eps", "saved - 1e-5").replace(
    "(2 * eps)", "2e-5")

TRAIN_HEADER = "def train_mlp(X, y, num_hidden=64, lr=0.1, num_epochs=20, batch_size=32, seed=0):\n"
TRAIN_LOOP = """
for epoch in range(num_epochs):
    order = rng.permutation(N)
    for start in range(0, N, BATCH):
        batch = order[start:start + BATCH]
        _, grads = mlp_loss_and_grads(params, X[batch], y[batch])
        for key in params:
            params[key] = params[key] - LR * grads[key]
return params
"""


def train_mlp(init: str, seed: str = "seed", batch: str = "batch_size", lr: str = "lr",
              epochs: str = "num_epochs") -> str:
    loop = TRAIN_LOOP.replace("BATCH", batch).replace("LR", lr).replace("num_epochs", epochs)
    return body(TRAIN_HEADER, f"rng = np.random.default_rng({seed})\nN, D = X.shape\nC = int(y.max()) + 1\n"
                + init + loop)


HE_W1_FIRST = """
params = {"W1": rng.normal(0.0, np.sqrt(2 / D), size=(D, num_hidden)), "b1": np.zeros(num_hidden)}
params |= {"W2": rng.normal(0.0, np.sqrt(2 / num_hidden), size=(num_hidden, C)), "b2": np.zeros(C)}
"""
HE_W2_FIRST = """
W2 = rng.standard_normal((num_hidden, C)) * np.sqrt(2 / num_hidden)
W1 = rng.standard_normal((D, num_hidden)) * np.sqrt(2 / D)
params = {"W1": W1, "b1": np.zeros(num_hidden), "W2": W2, "b2": np.zeros(C)}
"""

# -- lab04 ------------------------------------------------------------------------------------
SGD_HEADER = "def sgd_momentum_step(param, grad, state, lr, momentum=0.9, nesterov=False):\n"
SGD_BUFFER_FROM_ZERO = body(SGD_HEADER, """
buffer = momentum * state.get("momentum_buffer", np.zeros_like(param)) + grad   # b_1 = g_1
state["momentum_buffer"] = buffer
return param - lr * (grad + momentum * buffer if nesterov else buffer)
""")
SGD_BUFFER_AS_AVERAGE = SGD_BUFFER_FROM_ZERO.replace("+ grad   # b_1 = g_1", "+ (1 - momentum) * grad")
RMSPROP_HEADER = "def rmsprop_step(param, grad, state, lr=0.01, alpha=0.99, eps=1e-8):\n"
RMSPROP_FLOAT64_BUFFER = body(RMSPROP_HEADER, """
v = alpha * state.get("square_avg", np.zeros(np.shape(param))) + (1 - alpha) * grad ** 2
state["square_avg"] = v
return param - lr * grad / (np.sqrt(v) + eps)
""")
RMSPROP_EPS_INSIDE = RMSPROP_FLOAT64_BUFFER.replace("np.zeros(np.shape(param))", "np.zeros_like(param)").replace(
    "(np.sqrt(v) + eps)", "np.sqrt(v + eps)")
ADAM_HEADER = "def adam_step(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):\n"
ADAM_TORCH_ORDER = body(ADAM_HEADER, """
# the order of operations of torch.optim.Adam's own code
beta1, beta2 = betas
state["step"] = t = state.get("step", 0) + 1
state["exp_avg"] = state.get("exp_avg", np.zeros_like(param)) * beta1 + (1 - beta1) * grad
state["exp_avg_sq"] = state.get("exp_avg_sq", np.zeros_like(param)) * beta2 + (1 - beta2) * grad * grad
denom = np.sqrt(state["exp_avg_sq"]) / math.sqrt(1 - beta2**t) + eps
return param - lr / (1 - beta1**t) * state["exp_avg"] / denom
""")
ADAM_UNCORRECTED = body(ADAM_HEADER, """
beta1, beta2 = betas
state["step"] = state.get("step", 0) + 1
state["exp_avg"] = beta1 * state.get("exp_avg", np.zeros_like(param)) + (1 - beta1) * grad
state["exp_avg_sq"] = beta2 * state.get("exp_avg_sq", np.zeros_like(param)) + (1 - beta2) * grad * grad
return param - lr * state["exp_avg"] / (np.sqrt(state["exp_avg_sq"]) + eps)
""")
MINIBATCHES_HEADER = "def minibatches(X, y, batch_size, rng):\n"


def minibatches(shuffle: str) -> str:
    return body(MINIBATCHES_HEADER, f"""
if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
    raise ValueError(f"expected a positive int batch_size, got {{batch_size!r}}")
if len(X) != len(y):
    raise ValueError(f"expected X and y of one length, got {{len(X)}} and {{len(y)}}")
order = {shuffle}
return [(X[order[i:i + batch_size]], y[order[i:i + batch_size]]) for i in range(0, len(X), batch_size)]
""")


# -- lab05 ------------------------------------------------------------------------------------
FANS = '''def _check_fans(fan_in, fan_out):
    for name, value in (("fan_in", fan_in), ("fan_out", fan_out)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"expected {name} to be a positive integer, got {value!r}")


'''
XAVIER = body("def xavier_uniform(fan_in, fan_out, rng):\n", """
_check_fans(fan_in, fan_out)
a = math.sqrt(6.0 / (fan_in + fan_out))
return rng.uniform(-a, a, size=(fan_in, fan_out))
""")
HE = body("def he_normal(fan_in, fan_out, rng):\n", """
_check_fans(fan_in, fan_out)
return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
""")


def he_normal(code: str) -> str:
    header = "def he_normal(fan_in, fan_out, rng):\n"
    return FANS + XAVIER + "\n\n" + body(header, "_check_fans(fan_in, fan_out)\n" + code)


def xavier_uniform(code: str) -> str:
    header = "def xavier_uniform(fan_in, fan_out, rng):\n"
    return FANS + body(header, "_check_fans(fan_in, fan_out)\n" + code) + "\n\n" + HE


BATCHNORM_STAGED_BACKWARD = body("def batchnorm_backward(grad_out, x, gamma, eps=1e-5):\n", """
# the computational graph walked backwards node by node, instead of the closed form
grad_out, x = np.asarray(grad_out), np.asarray(x)
if grad_out.shape != x.shape:
    raise ValueError(f"expected grad_out of shape {x.shape}, got {grad_out.shape}")
m = x.shape[0]
mu = x.mean(axis=0)
xc = x - mu
var = (xc ** 2).mean(axis=0)
std = np.sqrt(var + eps)
x_hat = xc / std
dx_hat = grad_out * gamma
dvar = np.sum(dx_hat * xc, axis=0) * -0.5 * std ** -3
dmu = np.sum(-dx_hat / std, axis=0) + dvar * np.mean(-2 * xc, axis=0)
grad_x = dx_hat / std + dvar * 2 * xc / m + dmu / m
return grad_x, np.sum(grad_out * x_hat, axis=0), grad_out.sum(axis=0)
""")
LAYERNORM_HEADER = "def layernorm_forward(x, gamma, beta, eps=1e-5):\n"
LAYERNORM_FLOAT64 = body(LAYERNORM_HEADER, """
x = np.asarray(x, dtype=np.float64)                     # right values, float64 for float32 input
if np.shape(gamma) != x.shape[-1:] or np.shape(beta) != x.shape[-1:]:
    raise ValueError(f"expected gamma and beta of shape {x.shape[-1:]}, got {np.shape(gamma)}, {np.shape(beta)}")
mean = x.mean(axis=-1, keepdims=True)
return gamma * (x - mean) / np.sqrt(x.var(axis=-1, keepdims=True) + eps) + beta
""")

LAYERNORM_FIXED_EPS = LAYERNORM_FLOAT64.replace("np.asarray(x, dtype=np.float64)", "np.asarray(x)").replace(
    "keepdims=True) + eps)", "keepdims=True) + 1e-5)")

# -- lab06 ------------------------------------------------------------------------------------
DROPOUT_HEADER = '''def dropout_forward(x, p, training, rng):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"expected p in [0, 1], got {p}")
    x = np.asarray(x)
    if not training:
        return x
    if p == 1.0:
        return np.zeros_like(x)
'''


def dropout(code: str) -> str:
    return body(DROPOUT_HEADER, code)


EARLY_STOPPING_NUMPY_BOOL = '''class EarlyStopping:
    def __init__(self, patience, min_delta=0.0):
        if patience < 1 or min_delta < 0:
            raise ValueError(f"expected patience >= 1 and min_delta >= 0, got {patience}, {min_delta}")
        self.patience, self.min_delta = np.int64(patience), min_delta
        self.best_loss, self.best_epoch, self.best_state = float("inf"), -1, None
        self.history = []

    def step(self, val_loss, state=None):
        self.history.append(val_loss)
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch = val_loss, len(self.history) - 1
            self.best_state = copy.deepcopy(state)
        return len(self.history) - 1 - self.best_epoch >= self.patience   # a NumPy bool
'''

VARIANTS: dict[str, list[Variant]] = {
    "lab01": [
        wrong("sigmoid-float64", "dtype-tests", sigmoid=SIGMOID_FLOAT64,
              says="float32 in should give float32 out: sigmoid gave float64; sigmoid_derivative gave float64"),
        honest("sigmoid-by-halves", sigmoid=SIGMOID_BY_HALVES),
        wrong("softmax-over-axis-0", "stable_softmax-tests", stable_softmax=SOFTMAX_OVER_AXIS_0,
              says="did you normalise over axis 0 instead of axis 1?"),
        wrong("relu-modifies-its-input", "relu-tests", relu=RELU_IN_PLACE),
    ],
    "lab02": [
        honest("dense-einsum", dense_forward=DENSE_EINSUM),
        honest("bce-logaddexp", binary_cross_entropy_with_logits=BCE_LOGADDEXP),
        wrong("mse-divides-by-rows", "mse-tests", mse=MSE_OVER_ROWS),
    ],
    "lab03": [
        honest("tanh-backward-sech", elementwise_backward=TANH_BACKWARD_SECH + ELEMENTWISE_REST),
        honest("numerical-gradient-nudges-in-place", gradient_check=NUDGE_IN_PLACE),
        wrong("numerical-gradient-ignores-eps", "gradient_check-tests", gradient_check=FIXED_EPS),
        honest("train-draws-w2-first", train_mlp=train_mlp(HE_W2_FIRST)),
        wrong("train-ignores-seed", "train_mlp-tests", train_mlp=train_mlp(HE_W1_FIRST, seed="0")),
        wrong("train-ignores-batch-size", "train_mlp-tests", train_mlp=train_mlp(HE_W1_FIRST, batch="32")),
        wrong("train-ignores-lr", "train_mlp-tests", train_mlp=train_mlp(HE_W1_FIRST, lr="0.1")),
        wrong("train-ignores-epochs", "train_mlp-tests", train_mlp=train_mlp(HE_W1_FIRST, epochs="20")),
    ],
    "lab04": [
        honest("sgd-buffer-starts-at-zero", sgd_momentum_step=SGD_BUFFER_FROM_ZERO),
        wrong("sgd-buffer-as-average", "sgd_momentum_step-tests", sgd_momentum_step=SGD_BUFFER_AS_AVERAGE),
        wrong("rmsprop-float64-buffer", "dtype-tests", rmsprop_step=RMSPROP_FLOAT64_BUFFER),
        wrong("rmsprop-eps-inside-sqrt", "rmsprop_step-tests", rmsprop_step=RMSPROP_EPS_INSIDE),
        honest("adam-torch-order-of-operations", adam_step=ADAM_TORCH_ORDER),
        wrong("adam-without-bias-correction", "adam_step-tests", adam_step=ADAM_UNCORRECTED),
        honest("minibatches-choice", minibatches=minibatches("rng.choice(len(X), size=len(X), replace=False)")),
        wrong("minibatches-global-random", "minibatches-tests",
              minibatches=minibatches("np.random.permutation(len(X))")),
    ],
    "lab05": [
        honest("he-standard-normal", initializers=he_normal(
            "# as torch.nn.init.kaiming_normal_ does (a comment that names torch is fine)\n"
            "return rng.standard_normal((fan_in, fan_out)) * np.sqrt(2 / fan_in)")),
        honest("xavier-from-random", initializers=xavier_uniform(
            "return (2 * rng.random((fan_in, fan_out)) - 1) * np.sqrt(6 / (fan_in + fan_out))")),
        honest("xavier-drawn-transposed", initializers=xavier_uniform(
            "a = np.sqrt(6 / (fan_in + fan_out))\nreturn rng.uniform(-a, a, size=(fan_out, fan_in)).T")),
        wrong("he-global-random", "initializers-tests", initializers=he_normal(
            "return np.random.normal(0.0, np.sqrt(2 / fan_in), size=(fan_in, fan_out))")),
        wrong("he-reseeds-the-global-generator", "initializers-tests", initializers=he_normal(
            "np.random.seed(int(rng.integers(2**31)))\n"
            "return np.random.normal(0.0, np.sqrt(2 / fan_in), size=(fan_in, fan_out))")),
        wrong("xavier-own-generator", "initializers-tests", initializers=xavier_uniform(
            "a = np.sqrt(6 / (fan_in + fan_out))\n"
            "return np.random.default_rng(0).uniform(-a, a, size=(fan_in, fan_out))")),
        honest("batchnorm-staged-backward", batchnorm_backward=BATCHNORM_STAGED_BACKWARD),
        wrong("layernorm-float64", "dtype-tests", layernorm_forward=LAYERNORM_FLOAT64),
        wrong("layernorm-ignores-eps", "layernorm_forward-tests", layernorm_forward=LAYERNORM_FIXED_EPS),
    ],
    "lab06": [
        honest("dropout-less-than", dropout_forward=dropout("return x * (rng.random(x.shape) < 1 - p) / (1 - p)")),
        honest("dropout-uniform-where", dropout_forward=dropout(
            "keep = rng.uniform(0.0, 1.0, size=x.shape) > p\nreturn np.where(keep, x / (1 - p), 0.0)")),
        honest("dropout-binomial", dropout_forward=dropout(
            "mask = rng.binomial(1, 1 - p, size=x.shape).astype(x.dtype)\nreturn x * mask * (1 / (1 - p))")),
        wrong("dropout-integer-mask", "dtype-tests", dropout_forward=dropout(
            "return x * rng.binomial(1, 1 - p, size=x.shape) / (1 - p)")),
        wrong("dropout-global-random", "dropout_forward-tests", dropout_forward=dropout(
            "return x * (np.random.random(x.shape) >= p) / (1 - p)")),
        wrong("dropout-own-generator", "dropout_forward-tests", dropout_forward=dropout(
            "return x * (np.random.default_rng(0).random(x.shape) >= p) / (1 - p)")),
        wrong("dropout-not-scaled", "dropout_forward-tests", dropout_forward=dropout(
            "return x * (rng.random(x.shape) >= p)")),
        wrong("dropout-keeps-with-probability-p", "dropout_forward-tests", dropout_forward=dropout(
            "return x * (rng.random(x.shape) < p) / p")),
        wrong("dropout-one-mask-per-feature", "dropout_forward-tests", dropout_forward=dropout(
            "return x * (rng.random(x.shape[-1]) >= p) / (1 - p)")),
        wrong("dropout-one-mask-per-example", "dropout_forward-tests", dropout_forward=dropout(
            "return x * (rng.random((len(x),) + (1,) * (x.ndim - 1)) >= p) / (1 - p)")),
        wrong("dropout-modifies-its-input", "dropout_forward-tests", dropout_forward=dropout(
            "x *= (rng.random(x.shape) >= p) / (1 - p)\nreturn x")),
        wrong("dropout-also-in-evaluation", "dropout_forward-tests", dropout_forward=body(
            "def dropout_forward(x, p, training, rng):\n",
            "if not 0 <= p <= 1:\n    raise ValueError(f'expected p in [0, 1], got {p}')\n"
            "if p == 1:\n    return np.zeros_like(x)\nreturn x * (rng.random(np.shape(x)) >= p) / (1 - p)")),
        honest("early-stopping-numpy-bool", EarlyStopping=EARLY_STOPPING_NUMPY_BOOL),
    ],
}


@pytest.mark.parametrize("lab", sorted(VARIANTS))
def test_a_lab_grades_what_an_answer_does_not_how_it_is_written(lab: str, tmp_path: Path) -> None:
    results = grade_variants(lab, VARIANTS[lab], tmp_path)
    problems = mismatches(lab, VARIANTS[lab], results)
    assert not problems, "\n".join(problems)


EARLY_STOPPING_WITHOUT_COPY = EARLY_STOPPING_NUMPY_BOOL.replace("copy.deepcopy(state)", "state")


EARLY_STOPPING_SHALLOW_COPY = EARLY_STOPPING_NUMPY_BOOL.replace("copy.deepcopy(state)", "dict(state)")


def test_an_early_stopping_that_keeps_a_reference_instead_of_a_copy_loses_its_task(tmp_path: Path) -> None:
    """The test changes the dict it passed, then passes it again: as under nbgrader, the student's
    side sees the change in the same object (``remote.Peer.adopt``), down to the arrays inside."""
    variants = [
        wrong("early-stopping-without-copy", "EarlyStopping-tests", EarlyStopping=EARLY_STOPPING_WITHOUT_COPY),
        wrong("early-stopping-shallow-copy", "EarlyStopping-tests", EarlyStopping=EARLY_STOPPING_SHALLOW_COPY),
    ]
    problems = mismatches("lab06", variants, grade_variants("lab06", variants, tmp_path))
    assert not problems, "\n".join(problems)


SAYS = [(lab, v) for lab, variants in sorted(VARIANTS.items()) for v in variants if v.says]


@pytest.mark.parametrize(("lab", "variant"), SAYS, ids=[v.name for _, v in SAYS])
def test_dlkit_check_tells_a_learner_why_a_task_is_lost(lab: str, variant, tmp_path: Path, capsys) -> None:
    import nbformat
    from grading_helpers import answer_cell, solved_release

    from dlkit.cli import main

    notebook = solved_release(lab)  # what a learner holds: the released lab, answered
    for grade_id, source in variant.answers.items():
        answer_cell(notebook, grade_id).source = source
    path = tmp_path / f"{lab}.ipynb"
    nbformat.write(notebook, str(path))
    assert main(["check", str(path), "--timeout", "60"]) == 1
    out = capsys.readouterr().out
    lost = [line for line in out.splitlines() if line.startswith("  ✗ ")]
    assert [line.split()[1] for line in lost] == sorted(variant.loses), out
    assert variant.says in out, out
