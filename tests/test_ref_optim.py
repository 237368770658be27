"""dlkit.ref.optim follows torch.optim step for step (chapter 04)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlkit.ref.optim import SGD, AdaGrad, Adam, AdamW, Optimizer, RMSprop

SHAPES = [(3, 4), (5,), (), (2, 3, 2)]
NUM_STEPS = 20
RTOL = 1e-10
ATOL = 1e-13

TORCH_CLASS = {SGD: torch.optim.SGD, AdaGrad: torch.optim.Adagrad, RMSprop: torch.optim.RMSprop,
               Adam: torch.optim.Adam, AdamW: torch.optim.AdamW}


class Param:
    """The smallest thing an optimizer accepts: a float array and its gradient."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.grad: np.ndarray | None = None


def initial_arrays(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, size=shape) for shape in SHAPES]


def _problem(seed: int = 1) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    curvature = [rng.uniform(0.5, 2.0, size=shape) for shape in SHAPES]
    target = [rng.uniform(-0.5, 0.5, size=shape) for shape in SHAPES]
    return curvature, target


CURVATURE, TARGET = _problem()


def gradient(i: int, w: np.ndarray) -> np.ndarray:
    """∇ of L(w) = Σ c/2·w² + w⁴/4 − t·w: a quadratic-plus-quartic bowl, different per param."""
    return np.asarray(CURVATURE[i] * w + w**3 - TARGET[i])


def has_grad(i: int, step: int, skip: bool) -> bool:
    """With ``skip``, parameter 1 has no gradient on every third step (torch skips it too)."""
    return not (skip and i == 1 and step % 3 == 0)


def run_both(ours_cls: type[Optimizer], num_steps: int = NUM_STEPS, skip: bool = False,
             **hyper: object) -> tuple[list[Param], Optimizer, list[torch.Tensor],
                                       torch.optim.Optimizer]:
    """Run ours and torch on the same problem, asserting equal params after every step."""
    params = [Param(w.copy()) for w in initial_arrays()]
    tparams = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in initial_arrays()]
    opt = ours_cls(params, **hyper)
    topt = TORCH_CLASS[ours_cls](tparams, **hyper)
    for step in range(num_steps):
        for i, (p, tp) in enumerate(zip(params, tparams, strict=True)):
            if has_grad(i, step, skip):
                p.grad = gradient(i, p.data)
                tp.grad = torch.from_numpy(gradient(i, tp.detach().numpy().copy()))
            else:
                p.grad, tp.grad = None, None
        opt.step()
        topt.step()
        for i, (p, tp) in enumerate(zip(params, tparams, strict=True)):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=RTOL, atol=ATOL,
                                       err_msg=f"param {i} after step {step + 1}")
    return params, opt, tparams, topt


CASES = [
    (SGD, {"lr": 0.05}),
    (SGD, {"lr": 0.05, "momentum": 0.9}),
    (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    (SGD, {"lr": 0.05, "momentum": 0.8, "dampening": 0.3}),
    (SGD, {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.1, "nesterov": True}),
    (SGD, {"lr": 0.05, "weight_decay": 0.2}),
    (AdaGrad, {"lr": 0.1}),
    (AdaGrad, {"lr": 0.1, "weight_decay": 0.1, "initial_accumulator_value": 0.5}),
    (AdaGrad, {"lr": 0.1, "eps": 1e-3}),
    (RMSprop, {"lr": 0.01}),
    (RMSprop, {"lr": 0.01, "centered": True}),
    (RMSprop, {"lr": 0.01, "momentum": 0.9}),
    (RMSprop, {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.1,
               "alpha": 0.9}),
    (Adam, {"lr": 0.05}),
    (Adam, {"lr": 0.05, "amsgrad": True}),
    (Adam, {"lr": 0.05, "weight_decay": 0.1, "betas": (0.8, 0.99), "eps": 1e-6}),
    (Adam, {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True}),
    (AdamW, {"lr": 0.05}),
    (AdamW, {"lr": 0.05, "weight_decay": 0.3, "amsgrad": True}),
    (AdamW, {"lr": 0.05, "weight_decay": 0.0}),
]


def _case_id(case: tuple[type, dict]) -> str:
    cls, hyper = case
    return cls.__name__ + "-" + "-".join(f"{k}={v}" for k, v in hyper.items())


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_trajectory_matches_torch(case: tuple[type[Optimizer], dict]) -> None:
    cls, hyper = case
    params, opt, tparams, topt = run_both(cls, **hyper)
    # the buffers match torch's too (same names), not only the parameters
    for i, tp in enumerate(tparams):
        for key, value in opt.state[i].items():
            expected = topt.state[tp][key]
            if key == "step":
                assert value == int(expected.item())
            elif value is None:
                assert expected is None
            else:
                np.testing.assert_allclose(value, expected.numpy(), rtol=RTOL, atol=ATOL)
        assert set(opt.state[i]) == set(topt.state[tp])


@pytest.mark.parametrize("cls", [SGD, AdaGrad, RMSprop, Adam, AdamW])
def test_params_without_grad_are_skipped_like_torch(cls: type[Optimizer]) -> None:
    hyper = {"lr": 0.05, "momentum": 0.9} if cls in (SGD, RMSprop) else {"lr": 0.05}
    params, opt, _, _ = run_both(cls, skip=True, **hyper)
    # param 1 missed its gradient on steps 0, 3, ..., 18: 7 of 20
    if "step" in opt.state[1]:
        assert opt.state[1]["step"] == NUM_STEPS - 7
        assert opt.state[0]["step"] == NUM_STEPS


def test_param_that_never_has_grad_is_untouched() -> None:
    frozen = Param(np.arange(3.0))
    live = Param(np.ones(2))
    opt = Adam([frozen, live], lr=0.1, weight_decay=0.5)
    for _ in range(3):
        live.grad = np.ones(2)
        opt.step()
    np.testing.assert_array_equal(frozen.data, np.arange(3.0))
    assert 0 not in opt.state and 1 in opt.state


@pytest.mark.parametrize("cls", [SGD, AdaGrad, RMSprop, Adam, AdamW])
def test_update_is_in_place(cls: type[Optimizer]) -> None:
    data = np.ones((2, 3))
    view = data[0]  # a view must see the update
    p = Param(data)
    scalar = Param(np.array(0.5))
    scalar_data = scalar.data
    opt = cls([p, scalar], lr=0.1)
    p.grad, scalar.grad = np.ones((2, 3)), np.array(1.0)
    opt.step()
    assert p.data is data and scalar.data is scalar_data
    assert np.all(view < 1.0) and scalar.data < 0.5


def _sgd_hyper() -> st.SearchStrategy[dict]:
    def finish(d: dict) -> dict:
        if d["nesterov"]:
            d["dampening"] = 0.0
            d["momentum"] = max(d["momentum"], 0.1)
        return d

    return st.fixed_dictionaries({
        "lr": st.floats(1e-3, 0.1),
        "momentum": st.sampled_from([0.0, 0.5, 0.9]) | st.floats(0.0, 0.95),
        "dampening": st.sampled_from([0.0]) | st.floats(0.0, 0.9),
        "weight_decay": st.sampled_from([0.0]) | st.floats(0.0, 0.5),
        "nesterov": st.booleans(),
    }).map(finish)


@settings(max_examples=15, deadline=None)
@given(hyper=_sgd_hyper())
def test_sgd_matches_torch_for_any_hyperparams(hyper: dict) -> None:
    run_both(SGD, **hyper)


@settings(max_examples=10, deadline=None)
@given(lr=st.floats(1e-3, 0.5), eps=st.floats(1e-10, 1e-2), weight_decay=st.floats(0.0, 0.5),
       initial_accumulator_value=st.floats(0.0, 1.0))
def test_adagrad_matches_torch_for_any_hyperparams(lr: float, eps: float, weight_decay: float,
                                                   initial_accumulator_value: float) -> None:
    run_both(AdaGrad, lr=lr, eps=eps, weight_decay=weight_decay,
             initial_accumulator_value=initial_accumulator_value)


@settings(max_examples=15, deadline=None)
@given(lr=st.floats(1e-4, 0.05), alpha=st.floats(0.5, 0.999), eps=st.floats(1e-8, 1e-3),
       weight_decay=st.floats(0.0, 0.5), momentum=st.sampled_from([0.0]) | st.floats(0.0, 0.9),
       centered=st.booleans())
def test_rmsprop_matches_torch_for_any_hyperparams(lr: float, alpha: float, eps: float,
                                                   weight_decay: float, momentum: float,
                                                   centered: bool) -> None:
    run_both(RMSprop, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
             momentum=momentum, centered=centered)


@settings(max_examples=15, deadline=None)
@given(cls=st.sampled_from([Adam, AdamW]), lr=st.floats(1e-4, 0.1),
       beta1=st.floats(0.0, 0.99), beta2=st.floats(0.5, 0.9999), eps=st.floats(1e-8, 1e-3),
       weight_decay=st.floats(0.0, 0.5), amsgrad=st.booleans())
def test_adam_and_adamw_match_torch_for_any_hyperparams(cls: type[Optimizer], lr: float,
                                                        beta1: float, beta2: float, eps: float,
                                                        weight_decay: float,
                                                        amsgrad: bool) -> None:
    run_both(cls, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay,
             amsgrad=amsgrad)


def test_adamw_differs_from_adam_with_l2() -> None:
    """Decoupled decay is not the same as L2 in the gradient once weight_decay > 0."""
    adam_params, *_ = run_both(Adam, num_steps=5, lr=0.05, weight_decay=0.3)
    adamw_params, *_ = run_both(AdamW, num_steps=5, lr=0.05, weight_decay=0.3)
    assert not np.allclose(adam_params[0].data, adamw_params[0].data)


def test_lr_is_read_at_every_step() -> None:
    """Schedules change opt.lr between steps; the next step must use the new value."""
    params, tparams = [Param(initial_arrays()[0])], [
        torch.tensor(initial_arrays()[0], requires_grad=True)]
    opt, topt = SGD(params, lr=0.1, momentum=0.9), torch.optim.SGD(tparams, lr=0.1, momentum=0.9)
    for step in range(6):
        opt.lr = topt.param_groups[0]["lr"] = 0.1 / (step + 1)
        params[0].grad = gradient(0, params[0].data)
        tparams[0].grad = torch.from_numpy(gradient(0, tparams[0].detach().numpy().copy()))
        opt.step()
        topt.step()
    np.testing.assert_allclose(params[0].data, tparams[0].detach().numpy(), rtol=RTOL)


def test_zero_grad() -> None:
    p, q = Param(np.ones(3)), Param(np.ones(2))
    opt = SGD([p, q], lr=0.1)
    p.grad = np.full(3, 2.0)
    grad_array = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad_array and np.all(p.grad == 0) and q.grad is None
    opt.zero_grad()
    assert p.grad is None and q.grad is None


# --- state_dict: resume == uninterrupted ---------------------------------------------------

RESUME_CASES = [
    (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    (AdaGrad, {"lr": 0.1, "initial_accumulator_value": 0.1}),
    (RMSprop, {"lr": 0.01, "momentum": 0.9, "centered": True}),
    (Adam, {"lr": 0.05, "amsgrad": True}),
    (AdamW, {"lr": 0.05, "weight_decay": 0.1}),
]


def _steps(opt: Optimizer, params: list[Param], num_steps: int) -> None:
    for _ in range(num_steps):
        for i, p in enumerate(params):
            p.grad = gradient(i, p.data)
        opt.step()


@pytest.mark.parametrize("case", RESUME_CASES, ids=_case_id)
def test_state_dict_round_trip_resumes_exactly(case: tuple[type[Optimizer], dict]) -> None:
    cls, hyper = case
    straight = [Param(w) for w in initial_arrays()]
    _steps(cls(straight, **hyper), straight, 2 * 10)

    first = [Param(w) for w in initial_arrays()]
    opt = cls(first, **hyper)
    _steps(opt, first, 10)
    saved = opt.state_dict()
    saved_copy = {i: {k: np.copy(v) for k, v in s.items() if isinstance(v, np.ndarray)}
                  for i, s in saved["state"].items()}
    _steps(opt, first, 3)  # keeps training: the saved dict must not change
    for i, s in saved_copy.items():
        for k, v in s.items():
            np.testing.assert_array_equal(saved["state"][i][k], v)

    resumed = [Param(w) for w in initial_arrays()]
    # bring the params to where they were at the save (params are not part of the state)
    replay = [Param(w) for w in initial_arrays()]
    _steps(cls(replay, **hyper), replay, 10)
    for p, r in zip(resumed, replay, strict=True):
        p.data[...] = r.data
    new_opt = cls(resumed, **hyper)
    new_opt.load_state_dict(saved)
    for buffers in saved["state"].values():  # load copies: later edits to the dict do nothing
        for v in buffers.values():
            if isinstance(v, np.ndarray):
                v[...] = 123.0
    _steps(new_opt, resumed, 10)
    for p, s in zip(resumed, straight, strict=True):
        np.testing.assert_array_equal(p.data, s.data)


def test_load_state_dict_restores_hyperparams() -> None:
    opt = Adam([Param(np.ones(2))], lr=0.01, betas=(0.8, 0.9))
    opt.lr = 0.005  # e.g. set by a schedule
    new_opt = Adam([Param(np.ones(2))], lr=0.1)
    new_opt.load_state_dict(opt.state_dict())
    assert new_opt.lr == 0.005 and new_opt.betas == (0.8, 0.9)


def test_load_state_dict_rejects_mismatches() -> None:
    p = Param(np.ones((3, 4)))
    opt = Adam([p], lr=0.1)
    p.grad = np.ones((3, 4))
    opt.step()
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="expected a state_dict of SGD, got one of Adam"):
        SGD([Param(np.ones((3, 4)))], lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match=r"expected state 'exp_avg' of parameter 0 to have "
                                         r"shape \(4,\), got \(3, 4\)"):
        Adam([Param(np.ones(4))], lr=0.1).load_state_dict(saved)
    two = Adam([Param(np.ones((3, 4))), Param(np.ones(2))], lr=0.1)
    saved["state"] = {5: saved["state"][0]}
    with pytest.raises(ValueError, match="expected state for parameters 0..1, got state for "
                                         "parameter 5"):
        two.load_state_dict(saved)
    with pytest.raises(ValueError, match="expected a dict from Optimizer.state_dict"):
        opt.load_state_dict({"state": {}})
    bad = opt.state_dict()
    bad["hyperparams"]["lr"] = -1.0
    with pytest.raises(ValueError, match="expected lr >= 0.0, got -1.0"):
        opt.load_state_dict(bad)
    assert opt.lr == 0.1  # a rejected load leaves the optimizer as it was


# --- bad input -----------------------------------------------------------------------------

def test_bad_hyperparams_are_rejected_with_clear_messages() -> None:
    ps = lambda: [Param(np.ones(2))]
    with pytest.raises(ValueError, match="expected lr >= 0.0, got -0.1"):
        SGD(ps(), lr=-0.1)
    with pytest.raises(ValueError, match="expected momentum >= 0.0, got -0.5"):
        SGD(ps(), lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="expected momentum > 0 and dampening == 0 for "
                                         "nesterov=True, got momentum=0.0"):
        SGD(ps(), lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="dampening == 0 for nesterov=True.*dampening=0.5"):
        SGD(ps(), lr=0.1, momentum=0.9, dampening=0.5, nesterov=True)
    with pytest.raises(ValueError, match=r"expected betas\[0\] in \[0.0, 1.0\), got 1.0"):
        Adam(ps(), betas=(1.0, 0.999))
    with pytest.raises(ValueError, match=r"expected betas\[1\] in \[0.0, 1.0\), got -0.1"):
        AdamW(ps(), betas=(0.9, -0.1))
    with pytest.raises(ValueError, match=r"expected betas to be a pair"):
        Adam(ps(), betas=(0.9,))
    with pytest.raises(ValueError, match="expected weight_decay >= 0.0, got -0.01"):
        Adam(ps(), weight_decay=-0.01)
    with pytest.raises(ValueError, match="expected eps >= 0.0, got -1e-08"):
        RMSprop(ps(), eps=-1e-8)
    with pytest.raises(ValueError, match=r"expected alpha in \[0.0, 1.0\), got 1.5"):
        RMSprop(ps(), alpha=1.5)
    with pytest.raises(ValueError, match="expected initial_accumulator_value >= 0.0, got -1"):
        AdaGrad(ps(), initial_accumulator_value=-1)
    with pytest.raises(ValueError, match="expected lr >= 0.0, got nan"):
        Adam(ps(), lr=float("nan"))


def test_bad_params_are_rejected_with_clear_messages() -> None:
    with pytest.raises(ValueError, match="expected a non-empty list of parameters, got an "
                                         "empty one"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="got a single parameter; wrap it in a list"):
        SGD(Param(np.ones(2)), lr=0.1)
    with pytest.raises(TypeError, match="expected parameter 0 to have .data and .grad"):
        SGD([np.ones(2)], lr=0.1)
    with pytest.raises(TypeError, match="expected parameter 1 .data to be a float np.ndarray "
                                        r"\(updated in place\), got int64"):
        SGD([Param(np.ones(2)), Param(np.arange(3))], lr=0.1)
    p = Param(np.ones(2))
    with pytest.raises(ValueError, match="expected each parameter once, parameter 1 is the "
                                         "same object as parameter 0"):
        SGD([p, p], lr=0.1)


def test_grad_of_wrong_shape_is_rejected() -> None:
    p, q = Param(np.ones((3, 4))), Param(np.ones(2))
    opt = Adam([q, p], lr=0.1)
    q.grad, p.grad = np.ones(2), np.ones(4)
    with pytest.raises(ValueError, match=r"expected grad of shape \(3, 4\) for parameter 1, "
                                         r"got \(4,\)"):
        opt.step()
    # nothing moved: a step is all or nothing
    np.testing.assert_array_equal(q.data, np.ones(2))
    assert opt.state == {}


def test_works_with_generators_and_reports_hyperparams() -> None:
    opt = RMSprop((Param(np.ones(2)) for _ in range(2)), lr=0.1, centered=True)
    assert len(opt.param_list) == 2
    assert repr(opt) == ("RMSprop(lr=0.1, alpha=0.99, eps=1e-08, weight_decay=0.0, "
                         "momentum=0.0, centered=True)")
    assert AdamW([Param(np.ones(1))]).weight_decay == 0.01


def test_trains_dlkit_tensors_like_torch() -> None:
    """The optimizers take dlkit.ref.Tensor parameters, with grads from its backward()."""
    from dlkit.ref import Tensor

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 1))
    W0, b0 = rng.normal(size=(3, 1)), np.zeros(1)
    W, b = Tensor(W0.copy(), requires_grad=True), Tensor(b0.copy(), requires_grad=True)
    tW, tb = torch.tensor(W0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    opt = SGD([W, b], lr=0.05, momentum=0.9, nesterov=True)
    topt = torch.optim.SGD([tW, tb], lr=0.05, momentum=0.9, nesterov=True)
    for _ in range(NUM_STEPS):
        opt.zero_grad()
        topt.zero_grad()
        ((Tensor(X) @ W + b - Tensor(y)) ** 2).mean().backward()
        ((torch.from_numpy(X) @ tW + tb - torch.from_numpy(y)) ** 2).mean().backward()
        opt.step()
        topt.step()
        np.testing.assert_allclose(W.data, tW.detach().numpy(), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(b.data, tb.detach().numpy(), rtol=RTOL, atol=ATOL)
