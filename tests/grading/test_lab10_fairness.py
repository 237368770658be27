"""Lab 10 grades what an answer does: honest answers written differently from the solutions
score full marks, and the classic GAN and VAE mistakes lose exactly the points of their task
(see test_lab_fairness.py)."""

from __future__ import annotations

from pathlib import Path

from lab_variants import grade_variants, honest, mismatches, scribbling, wrong

LOSSES_LOGSIGMOID = '''def discriminator_loss(real_logits, fake_logits):
    if not torch.is_tensor(real_logits) or not torch.is_tensor(fake_logits) \\
            or not (real_logits.is_floating_point() and fake_logits.is_floating_point()):
        raise ValueError(f"expected float tensors of logits, got {type(real_logits)} and {type(fake_logits)}")
    # log(1 - sigmoid(f)) = logsigmoid(-f)
    return -(F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean())


def generator_loss(fake_logits, non_saturating=True):
    if not torch.is_tensor(fake_logits) or not fake_logits.is_floating_point():
        raise ValueError(f"expected a float tensor of logits, got {type(fake_logits)}")
    return -F.logsigmoid(fake_logits).mean() if non_saturating else F.logsigmoid(-fake_logits).mean()
'''
LOSSES_BY_HAND = '''def _softplus(x):
    # log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|)
    return torch.clamp(x, min=0) + torch.log1p(torch.exp(-torch.abs(x)))


def _logits(x):
    if not (isinstance(x, torch.Tensor) and x.dtype in (torch.float16, torch.float32, torch.float64)):
        raise ValueError(f"logits must be a float tensor, found {type(x).__name__}")
    return x


def discriminator_loss(real_logits, fake_logits):
    return torch.mean(_softplus(-_logits(real_logits))) + torch.mean(_softplus(_logits(fake_logits)))


def generator_loss(fake_logits, non_saturating=True):
    sign = 1 if non_saturating else -1
    return sign * torch.mean(_softplus(-sign * _logits(fake_logits)))
'''
LOSSES_NAIVE_LOG = LOSSES_LOGSIGMOID.replace(
    "-(F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean())",
    "-(torch.log(torch.sigmoid(real_logits)).mean() + torch.log(1 - torch.sigmoid(fake_logits)).mean())").replace(
    "-F.logsigmoid(fake_logits).mean() if non_saturating else F.logsigmoid(-fake_logits).mean()",
    "-torch.log(torch.sigmoid(fake_logits)).mean() if non_saturating \\\n"
    "        else torch.log(1 - torch.sigmoid(fake_logits)).mean()")
LOSSES_SATURATING_BY_DEFAULT = LOSSES_LOGSIGMOID.replace("non_saturating=True", "non_saturating=False")

MAKE_GAN = '''def make_gan(seed, lr_G=0.05, lr_D=0.05):
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2)).double()
    D = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    return G, D, torch.optim.SGD(G.parameters(), lr=lr_G), torch.optim.SGD(D.parameters(), lr=lr_D)


'''
STEP_MODULE_ZERO_GRAD = MAKE_GAN + '''def gan_training_step(G, D, opt_G, opt_D, real, z, d_loss_fn, g_loss_fn):
    D.zero_grad(set_to_none=True)
    with torch.no_grad():
        fake = G(z)                                       # no graph to G at all for D's step
    d_loss = d_loss_fn(D(real), D(fake))
    d_loss.backward()
    opt_D.step()
    G.zero_grad(set_to_none=True)
    g_loss = g_loss_fn(D(G(z)))                          # fresh fakes through the updated D
    g_loss.backward()
    opt_G.step()
    return float(d_loss.detach()), float(g_loss.detach())
'''
STEP_ONE_ZERO_GRAD_NO_DETACH = MAKE_GAN + '''def gan_training_step(G, D, opt_G, opt_D, real, z, d_loss_fn, g_loss_fn):
    opt_D.zero_grad()
    opt_G.zero_grad()
    fake = G(z)
    d_loss = d_loss_fn(D(real), D(fake))                 # not detached: G collects D's loss gradient too
    d_loss.backward(retain_graph=True)                   # (what the error message suggests)
    opt_D.step()
    g_loss = g_loss_fn(D(fake))
    g_loss.backward()
    opt_G.step()
    return d_loss.item(), g_loss.item()
'''
STEP_FORGETS_TO_CLEAR = MAKE_GAN + '''def gan_training_step(G, D, opt_G, opt_D, real, z, d_loss_fn, g_loss_fn):
    fake = G(z)
    d_loss = d_loss_fn(D(real), D(fake.detach()))
    d_loss.backward()                                    # gradients of the last step are still there
    opt_D.step()
    g_loss = g_loss_fn(D(fake))
    opt_G.zero_grad()
    g_loss.backward()
    opt_G.step()
    return d_loss.item(), g_loss.item()
'''

PENALTY_VECTOR_NORM = '''def gradient_penalty(critic, real, fake, eps):
    x_hat = torch.lerp(fake.detach(), real.detach(), eps).requires_grad_()
    scores = critic(x_hat)
    grad = torch.autograd.grad(scores, x_hat, grad_outputs=torch.ones_like(scores), create_graph=True)[0]
    norms = torch.linalg.vector_norm(grad, dim=tuple(range(1, grad.dim())))
    return torch.mean(torch.square(norms - 1))
'''
PENALTY_NORM_OVER_THE_BATCH = PENALTY_VECTOR_NORM.replace(
    "torch.linalg.vector_norm(grad, dim=tuple(range(1, grad.dim())))", "torch.linalg.vector_norm(grad)")
PENALTY_WITHOUT_CREATE_GRAPH = PENALTY_VECTOR_NORM.replace(", create_graph=True", "")
# the norm along axis 1 only: right for (N, features), not for images
PENALTY_ROW_NORM_OF_IMAGES = PENALTY_VECTOR_NORM.replace(
    "torch.linalg.vector_norm(grad, dim=tuple(range(1, grad.dim())))", "grad.norm(2, dim=1)")

REPARAMETERIZE_STD_FIRST = '''def reparameterize(mu, log_var, eps):
    std = log_var.mul(0.5).exp()
    return eps * std + mu


def gaussian_kl(mu, log_var):
    per_example = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=-1)
    return per_example.mean()
'''
REPARAMETERIZE_LOG_VAR_AS_VARIANCE = REPARAMETERIZE_STD_FIRST.replace("log_var.mul(0.5).exp()", "log_var.exp()")
REPARAMETERIZE_SAMPLES = REPARAMETERIZE_STD_FIRST.replace("return eps * std + mu", "return torch.normal(mu, std)")

# make_gan (given, in the answer cell) changed to build a discriminator of zeros: nothing has a
# gradient, so "return 2 log 2, log 2" would match the reference step built from its weights
STEP_WITH_A_SILENT_DISCRIMINATOR = '''import math


def make_gan(seed, lr_G=0.05, lr_D=0.05):
    """Given, changed: a discriminator of zeros has no gradient anywhere."""
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2)).double()
    D = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    with torch.no_grad():
        for p in D.parameters():
            p.zero_()
    return G, D, torch.optim.SGD(G.parameters(), lr=lr_G), torch.optim.SGD(D.parameters(), lr=lr_D)


def gan_training_step(G, D, opt_G, opt_D, real, z, d_loss_fn, g_loss_fn):
    return 2 * math.log(2), math.log(2)
'''

# the losses returned as a torch.Tensor subclass whose __torch_function__ and __eq__ agree with
# anything: not data, it crosses as a handle, and every check of it fails
LOSSES_AS_AN_AGREEABLE_TENSOR = LOSSES_LOGSIGMOID + '''

class Agreeable(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return torch.tensor(True)

    def __eq__(self, other):
        return True


_honest_discriminator_loss = discriminator_loss


def discriminator_loss(real_logits, fake_logits):
    return _honest_discriminator_loss(real_logits, fake_logits).detach().as_subclass(Agreeable)
'''
# right losses, after changing what the student process's own libraries do: the tester's
# dtype, compare and allclose are its own
LOSSES_AFTER_GLOBAL_TRICKS = '''torch.set_default_dtype(torch.float64)
np.seterr(all="ignore")
import dlkit.check
dlkit.check.compare = lambda *args, **kwargs: None
torch.allclose = lambda *args, **kwargs: True
np.isclose = lambda *args, **kwargs: True


''' + LOSSES_LOGSIGMOID

VARIANTS = [
    honest("losses-logsigmoid", gan_losses=LOSSES_LOGSIGMOID),
    honest("losses-softplus-by-hand", gan_losses=LOSSES_BY_HAND),
    wrong("losses-naive-log-of-sigmoid", "gan_losses-tests", gan_losses=LOSSES_NAIVE_LOG),
    wrong("losses-saturating-by-default", "gan_losses-tests", gan_losses=LOSSES_SATURATING_BY_DEFAULT),
    honest("step-module-zero-grad-fresh-fakes", gan_training_step=STEP_MODULE_ZERO_GRAD),
    wrong("step-one-zero-grad-no-detach", "gan_training_step-tests", gan_training_step=STEP_ONE_ZERO_GRAD_NO_DETACH),
    wrong("step-forgets-to-clear-d", "gan_training_step-tests", gan_training_step=STEP_FORGETS_TO_CLEAR),
    honest("penalty-lerp-vector-norm", gradient_penalty=PENALTY_VECTOR_NORM),
    wrong("penalty-norm-over-the-batch", "gradient_penalty-tests", gradient_penalty=PENALTY_NORM_OVER_THE_BATCH),
    wrong("penalty-without-create-graph", "gradient_penalty-tests", gradient_penalty=PENALTY_WITHOUT_CREATE_GRAPH),
    wrong("penalty-row-norm-of-images", "gradient_penalty-tests", gradient_penalty=PENALTY_ROW_NORM_OF_IMAGES),
    honest("reparameterize-std-first", reparameterize=REPARAMETERIZE_STD_FIRST),
    wrong("reparameterize-log-var-as-variance", "reparameterize-tests",
          reparameterize=REPARAMETERIZE_LOG_VAR_AS_VARIANCE),
    wrong("reparameterize-samples-afresh", "reparameterize-tests", reparameterize=REPARAMETERIZE_SAMPLES),
    scribbling("lab10"),  # overwrites its arguments
    wrong("changes-the-givens", "gan_training_step-tests", gan_training_step=STEP_WITH_A_SILENT_DISCRIMINATOR),
    wrong("losses-as-an-agreeable-tensor", "gan_losses-tests", gan_losses=LOSSES_AS_AN_AGREEABLE_TENSOR),
    honest("losses-after-global-tricks", gan_losses=LOSSES_AFTER_GLOBAL_TRICKS),
]


def test_lab10_grades_what_an_answer_does_not_how_it_is_written(tmp_path: Path) -> None:
    problems = mismatches("lab10", VARIANTS, grade_variants("lab10", VARIANTS, tmp_path))
    assert not problems, "\n".join(problems)
