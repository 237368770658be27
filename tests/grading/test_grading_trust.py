"""The tester hands out no capability, sees only the answer names, and is fair (issue 8, 7).

Every case is a real submission of the course's own lab01 or lab04, graded in one batch by
``grade`` in the sandbox. Families, not single payloads:

* names (rule 2): a student binding any of the names tests and trusted helpers use (builtins,
  ``compare``, ``inspect``, ``np``, ``torch``, ``F``, ``strict_numerics``, ``torch_of``,
  ``assert_numpy_only``, ``dlkit``) changes no score, right or wrong answers alike;
* by value (rule 1): answers that walk every attribute path of what a test passes them
  (``gi_frame.f_builtins``, ``bit_generator.ctypes``, ``__class__.__subclasses__``, a passed
  function's ``__globals__``, a bound method's ``__self__``, ``gc`` of their own process) and run
  what they reach, on a blank lab04 and lab01: zero;
* numerics (issue 7.3): a naive sigmoid fails task 1 even if its cell silences NumPy;
* hidden feedback (rule 3): hidden inputs smuggled into an exception's class name, message, a
  returned string or a later cell's error never reach the CSV or the feedback;
* fairness (rule 8): a decoy ``def`` under ``if False:`` does not pass a torch answer; an
  honest lambda, ``%%capture`` and ``%%writefile`` + import keep every point.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import nbformat
import pytest
from grading_helpers import REPO, answer_cell, solved_release

from dlkit.grading.course import Course
from dlkit.grading.grade import grade
from dlkit.grading.sandbox import Limits

LIMITS = Limits(cell_timeout=30, notebook_timeout=120)
SETUP_NEXT = 2  # the index right after lab01's and lab04's setup cell


def _autograded_points(lab: str) -> float:
    source = nbformat.read(str(REPO / "solutions" / lab / f"{lab}.ipynb"), 4)
    meta = [c.metadata.get("nbgrader", {}) for c in source.cells if c.cell_type == "code"]
    return float(sum(m.get("points", 0) for m in meta if m.get("grade") and not m.get("solution")))


FULL = {lab: _autograded_points(lab) for lab in ("lab01", "lab04")}

SHADOWS = {  # a student cell binding a name the tests or the trusted helpers use
    "all": "def all(*args, **kwargs):\n    return True",
    "isinstance": "isinstance = lambda *args: True",
    "compare": "compare = lambda *args, **kwargs: None",
    "inspect": "class FakeInspect:\n    @staticmethod\n    def getsource(f):\n"
               "        return 'def f(x):\\n    return x'\n\ninspect = FakeInspect()",
    "np": "import numpy\n\nclass FakeNumpy:  # the answers still work; every check says yes\n"
          "    def __getattr__(self, name):\n"
          "        if name in ('allclose', 'array_equal', 'all', 'isclose', 'isfinite', 'shape'):\n"
          "            return lambda *a, **k: True\n"
          "        return getattr(numpy, name)\n\nnp = FakeNumpy()",
    "torch": "import types\ntorch = types.SimpleNamespace(sigmoid=lambda x: x, tensor=lambda x, **k: x)",
    "F": "F = None",
    "strict_numerics": "import contextlib\nstrict_numerics = contextlib.nullcontext",
    "torch_of": "torch_of = lambda x: x",
    "assert_numpy_only": "assert_numpy_only = lambda f: None",
    "dlkit": "dlkit = None",
    "AssertionError": "AssertionError = ZeroDivisionError",
}

TORCH_SIGMOID = "import torch\n\ndef sigmoid(x):\n    return torch.sigmoid(torch.as_tensor(x)).numpy()"
NAIVE_SIGMOID = (
    "import warnings\nnp.seterr(all='ignore')\nwarnings.simplefilter('ignore')\n\n"
    "def sigmoid(x):\n    return 1 / (1 + np.exp(-np.asarray(x)))"
)
WRONG_LAB01 = {  # every answer runs and is wrong
    "sigmoid": "def sigmoid(x):\n    return np.asarray(x, dtype=np.float64) * 0 + 0.5",  # dtype too
    "sigmoid_derivative": "def sigmoid_derivative(x):\n    return np.asarray(x) * 0",
    "relu": "def relu(x):\n    return np.asarray(x)\n\ndef relu_derivative(x):\n    return np.asarray(x)",
    "leaky_relu": "def leaky_relu(x, alpha=0.01):\n    return np.asarray(x)\n\n"
                  "def leaky_relu_derivative(x, alpha=0.01):\n    return np.asarray(x)",
    "stable_softmax": "def stable_softmax(z):\n    return np.asarray(z)",
    "neuron_forward": "def neuron_forward(X, w, b, activation):\n    return np.zeros(len(X))",
    "logistic_regression_gradients": "def logistic_regression_gradients(X, y, w, b):\n"
                                     "    return np.zeros(np.shape(w)), 0.0",
}

# What an answer does with every object a test hands it before it gives up (rule 1).
ATTACK = '''
PAYLOAD = (
    "import builtins, sys\\n"
    "import dlkit.check as check\\n"
    "check.compare = lambda *a, **k: None\\n"
    "builtins.all = lambda *a, **k: True\\n"
    "for m in list(sys.modules.values()):\\n"
    "    if hasattr(m, 'assert_allclose'): m.assert_allclose = lambda *a, **k: None\\n"
)
PATHS = ["gi_frame.f_builtins", "gi_frame.f_back.f_globals", "bit_generator.ctypes",
         "bit_generator.capsule", "__class__.__subclasses__", "__globals__", "__self__",
         "__func__.__globals__", "__init__.__globals__", "f_back.f_globals", "__closure__",
         "__wrapped__", "__self__.__dict__", "keywords"]


def _reach(obj, path):
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _use(found):
    import gc
    scopes = [found] if isinstance(found, dict) else []
    if callable(found):
        try:
            scopes += [v for v in found() if isinstance(v, dict)]
        except Exception:
            pass
    for scope in scopes:
        runner = scope.get("exec") or getattr(scope.get("__builtins__"), "exec", None)
        if runner is None and isinstance(scope.get("__builtins__"), dict):
            runner = scope["__builtins__"].get("exec")
        if callable(runner):
            runner(PAYLOAD, {})
    for obj in gc.get_objects() if FORGE else ():  # this process's end of the socket
        if type(obj).__name__ in ("Remote", "Peer", "Harness"):
            try:
                obj.request("call", target=1, values=[[PAYLOAD], {}])
            except Exception:
                pass


def attack(*objects):
    seen = list(objects)
    for obj in objects:
        if isinstance(obj, dict):
            seen += list(obj.values())
    for obj in seen:
        for path in PATHS:
            try:
                _use(_reach(obj, path))
            except Exception:
                pass
    exec(PAYLOAD, {})  # and in its own process, where it changes nothing the tester uses
'''

SMUGGLE = '''
LEAK = []


def sigmoid(x):
    x = np.asarray(x)
    if x.size == 10 and np.abs(x).max() > 500:  # lab01's hidden inputs
        LEAK.append(repr(x.tolist()))
        marker = "HIDDENINPUTS_" + "_".join(str(int(abs(v))) for v in x)
        raise type(marker, (ValueError,), {})(marker + repr(x.tolist()))
    e = np.exp(-np.abs(x if x.dtype.kind == "f" else x.astype(np.float64)))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))
'''


def _blank_with(lab: str, extra: str) -> nbformat.NotebookNode:
    nb = nbformat.read(str(REPO / "labs" / lab / f"{lab}.ipynb"), 4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            cell.source = cell.source.replace("raise NotImplementedError()", "attack(*locals().values())\n"
                                              "    raise NotImplementedError()")
    nb.cells.insert(2, nbformat.v4.new_code_cell(extra))
    return nb


def _solved(lab: str = "lab01", **answers: str) -> nbformat.NotebookNode:
    nb = solved_release(lab)
    for grade_id, source in answers.items():
        answer_cell(nb, grade_id).source = source
    return nb


def _with_cell(nb: nbformat.NotebookNode, source: str, at: int | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    if at is None:
        nb.cells.append(cell)
    else:
        nb.cells.insert(at, cell)
    return nb


def _cases() -> dict[str, tuple[str, nbformat.NotebookNode]]:
    cases: dict[str, tuple[str, nbformat.NotebookNode]] = {}
    for name, shadow in SHADOWS.items():
        # right after the setup cell: it rebinds the trusted name before every test
        cases[f"solved-shadows-{name}"] = ("lab01", _with_cell(_solved(), shadow, SETUP_NEXT))
        cases[f"wrong-shadows-{name}"] = ("lab01", _with_cell(_solved(**WRONG_LAB01), shadow, SETUP_NEXT))
    fakes = SHADOWS["inspect"] + "\n" + SHADOWS["assert_numpy_only"]
    cases["torch-sigmoid-fake-inspect"] = ("lab01", _with_cell(_solved(sigmoid=TORCH_SIGMOID), fakes, SETUP_NEXT))
    cases["naive-sigmoid-silenced"] = (
        "lab01", _with_cell(_solved(sigmoid=NAIVE_SIGMOID), SHADOWS["strict_numerics"], SETUP_NEXT)
    )
    cases["blank-lab04-walks"] = ("lab04", _blank_with("lab04", "FORGE = False\n" + ATTACK))
    cases["blank-lab01-walks"] = ("lab01", _blank_with("lab01", "FORGE = False\n" + ATTACK))
    cases["blank-lab04-forges"] = ("lab04", _blank_with("lab04", "FORGE = True\n" + ATTACK))
    cases["hidden-smuggler"] = (
        "lab01", _with_cell(_solved(sigmoid=SMUGGLE), "raise ValueError('LEAKED ' + ' '.join(LEAK))")
    )
    decoy = "if False:\n    def sigmoid(x):\n        return 1 / (1 + np.exp(-x))"
    cases["decoy-def-under-if-false"] = ("lab01", _solved(sigmoid=TORCH_SIGMOID + "\n\n" + decoy))
    relu_lambda = (
        "relu = lambda x: np.maximum(np.asarray(x), 0).astype("
        "np.asarray(x).dtype if np.asarray(x).dtype.kind == 'f' else np.float64, copy=False)\n"
        "relu_derivative = lambda x: (np.asarray(x) > 0).astype("
        "np.asarray(x).dtype if np.asarray(x).dtype.kind == 'f' else np.float64)"
    )
    cases["honest-lambdas"] = ("lab01", _solved(relu=relu_lambda))
    solved = solved_release("lab01")
    captured = _solved(sigmoid="%%capture\n" + answer_cell(solved, "sigmoid").source)
    cases["honest-capture-cell"] = ("lab01", captured)
    module = "%%writefile my_activations.py\nimport numpy as np\n\n\n" + answer_cell(solved, "stable_softmax").source
    cases["honest-writefile-module"] = (
        "lab01", _with_cell(_solved(stable_softmax="from my_activations import stable_softmax"), module, SETUP_NEXT)
    )
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("trust")
    course = Course.load(REPO)
    (root / "course").mkdir()
    shutil.copy(REPO / "nbgrader_config.py", root / "course" / "nbgrader_config.py")
    for lab in FULL:
        for directory in ("source", "release"):
            relative = course.path(directory).relative_to(course.root)
            shutil.copytree(course.path(directory) / lab, root / "course" / relative / lab)
    results: dict[str, object] = {"course-root": root / "course"}
    for lab in FULL:
        submitted = root / f"submitted-{lab}"
        for name, (case_lab, nb) in CASES.items():
            if case_lab == lab:
                (submitted / name / lab).mkdir(parents=True)
                nbformat.write(nb, str(submitted / name / lab / f"{lab}.ipynb"))
        out = root / f"out-{lab}"
        for result in grade(submitted, lab, root / "course", jobs=2, limits=LIMITS, out=out,
                            db_url=f"sqlite:///{root / (lab + '.db')}", progress=False,
                            log=lambda _: None):
            results[result.student] = result
        results[f"csv-{lab}"] = (out / "grades.csv").read_text()
        results[f"feedback-{lab}"] = "".join(p.read_text() for p in (out / "feedback").rglob("*.html"))
    return results


def _failed(result) -> set[str]:  # noqa: ANN001
    return {t.grade_id for nb in result.notebooks for t in nb.tests if not t.passed}


@pytest.mark.parametrize("name", sorted(SHADOWS))
def test_a_student_name_never_reaches_a_test_or_a_trusted_helper(graded, name: str) -> None:
    solved, wrong = graded[f"solved-shadows-{name}"], graded[f"wrong-shadows-{name}"]
    assert solved.score == FULL["lab01"], solved.reason
    assert wrong.score == 0.0, (wrong.score, _failed(wrong))


def test_a_fake_inspect_does_not_pass_a_torch_answer(graded) -> None:
    result = graded["torch-sigmoid-fake-inspect"]
    assert _failed(result) == {"sigmoid-tests"} and result.score == FULL["lab01"] - 3, result.reason
    assert "uses ['torch']: write it with NumPy only" in result.reason


def test_a_naive_sigmoid_overflows_where_it_runs_even_silenced(graded) -> None:
    result = graded["naive-sigmoid-silenced"]
    # its own task, and the hidden parts of the tasks that call it under strict_numerics
    calls_it = {"sigmoid_derivative-tests", "neuron_forward-tests", "logistic_regression_gradients-tests"}
    assert _failed(result) == {"sigmoid-tests"} | calls_it, result.reason
    assert result.score == FULL["lab01"] - 3 - 2 - 3 - 3
    assert "sigmoid-tests (FloatingPointError: overflow" in result.reason, result.reason
    assert result.reason.count("(FloatingPointError)") == len(calls_it), result.reason


@pytest.mark.parametrize("name", ["blank-lab04-walks", "blank-lab01-walks"])
def test_walking_what_a_test_passes_never_reaches_the_tester(graded, name: str) -> None:
    result = graded[name]
    assert result.score == 0.0, (result.score, result.reason)
    assert result.status in ("ok", "error"), result.reason  # it only ever met its own objects
    messages = {t.message for nb in result.notebooks for t in nb.tests}
    # the stub, and the dtype cell's own message (lab01), with or without the label of the check
    trusted = ("not implemented yet",
               "none of the functions this cell checks runs yet: write them first (AssertionError)")
    made_here = {m for m in messages if m.startswith("a hidden") or m in trusted
                 or (m.startswith("a check of ") and m.endswith(": " + trusted[1]))}
    assert messages == made_here, messages - made_here


def test_a_request_forged_on_the_socket_is_tampering(graded) -> None:
    result = graded["blank-lab04-forges"]
    assert result.score == 0.0 and result.status == "tampering", result.reason
    assert "the tester hands out no objects" in result.reason


def test_hidden_inputs_never_reach_the_csv_or_the_feedback(graded) -> None:
    result = graded["hidden-smuggler"]
    assert _failed(result) == {"sigmoid-tests"}, result.reason
    leaks = ("HIDDENINPUTS", "745", "710", "10000", "LEAKED")
    for text in (graded["csv-lab01"], graded["feedback-lab01"], result.reason):
        student = [row for row in csv.reader(text.splitlines()) if "hidden-smuggler" in row] or [text]
        assert not any(leak in str(student) for leak in leaks), student
    (message,) = [t.message for nb in result.notebooks for t in nb.tests if not t.passed]
    assert message.startswith("sigmoid at extreme x"), message  # the check's own label, made here
    assert "withheld" in result.reason  # the later cell's error, after a hidden test ran


def test_a_decoy_def_does_not_pass_a_torch_answer(graded) -> None:
    result = graded["decoy-def-under-if-false"]
    assert _failed(result) == {"sigmoid-tests"}, result.reason


@pytest.mark.parametrize("name", ["honest-lambdas", "honest-capture-cell", "honest-writefile-module"])
def test_honest_answers_in_any_form_keep_every_point(graded, name: str) -> None:
    result = graded[name]
    assert result.score == FULL["lab01"], result.reason


HONEST_VS_NBGRADER = ["honest-lambdas", "honest-capture-cell", "honest-writefile-module", "wrong-shadows-F"]


def test_honest_forms_score_what_nbgrader_autograde_gives(graded, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from dlkit.grading.gradebook import scores_in_gradebook

    course = tmp_path / "course"
    shutil.copytree(graded["course-root"], course)
    for name in HONEST_VS_NBGRADER:
        folder = course / "submitted" / name / "lab01"
        folder.mkdir(parents=True)
        nbformat.write(CASES[name][1], str(folder / "lab01.ipynb"))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    for command in (["generate_assignment", "lab01", "--force"], ["autograde", "lab01", "--force"]):
        done = subprocess.run(["nbgrader", *command], cwd=course, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    nbgrader = scores_in_gradebook(f"sqlite:///{course / 'gradebook.db'}", "lab01")
    ours = {name: graded[name].score for name in HONEST_VS_NBGRADER}
    assert ours == {name: nbgrader[name] for name in HONEST_VS_NBGRADER}
    assert ours["honest-lambdas"] == FULL["lab01"]
