"""Lab 12 grades what an answer does: honest answers written differently from the solutions
score full marks, and the classic mistakes of adversarial examples, distillation, DP-SGD,
int8 quantization and Grad-CAM lose exactly the points of their task (see test_lab_fairness.py)."""

from __future__ import annotations

from pathlib import Path

from lab_variants import grade_variants, honest, mismatches, scribbling, wrong

ADVERSARIAL_BACKWARD = '''def _input_grad(model, x, y):
    x = x.clone().detach()
    x.requires_grad = True
    F.cross_entropy(model(x), y, reduction="sum").backward()   # a sum: same sign as the mean
    return x.grad


def fgsm(model, x, y, eps, lo=0.0, hi=1.0):
    return (x + eps * torch.sign(_input_grad(model, x, y))).clamp(min=lo, max=hi).detach()


def pgd(model, x, y, eps, alpha, steps, lo=0.0, hi=1.0):
    adv = x.clone().detach()
    for _ in range(steps):
        adv = adv + alpha * torch.sign(_input_grad(model, adv, y))
        adv = adv.clamp(lo, hi)                              # data range first, then the ball
        adv = x + torch.clamp(adv - x, -eps, eps)
    return adv.detach()
'''
FGSM_RAW_GRADIENT = ADVERSARIAL_BACKWARD.replace(
    "(x + eps * torch.sign(_input_grad(model, x, y)))", "(x + eps * _input_grad(model, x, y))")
PGD_WITHOUT_PROJECTION = ADVERSARIAL_BACKWARD.replace("        adv = x + torch.clamp(adv - x, -eps, eps)\n", "")
PGD_BALL_AROUND_THE_ITERATE = ADVERSARIAL_BACKWARD.replace(
    "        adv = adv + alpha * torch.sign(_input_grad(model, adv, y))\n",
    "        start = adv\n        adv = adv + alpha * torch.sign(_input_grad(model, adv, y))\n").replace(
    "adv = x + torch.clamp(adv - x, -eps, eps)", "adv = start + torch.clamp(adv - start, -eps, eps)")
FGSM_WITHOUT_CLAMP = ADVERSARIAL_BACKWARD.replace(".clamp(min=lo, max=hi).detach()", ".detach()")

DISTILLATION_KL_DIV = '''def distillation_loss(student_logits, teacher_logits, labels, T=4.0, alpha=0.5):
    if T <= 0:
        raise ValueError(f"temperature must be > 0, found {T}")
    soft = F.kl_div(F.log_softmax(student_logits / T, dim=1), F.log_softmax(teacher_logits / T, dim=1),
                    reduction="batchmean", log_target=True)
    hard = F.cross_entropy(student_logits, labels)
    return alpha * hard + (1 - alpha) * soft * T * T
'''
DISTILLATION_WITHOUT_T2 = DISTILLATION_KL_DIV.replace("soft * T * T", "soft")
DISTILLATION_MEAN_OVER_ALL = DISTILLATION_KL_DIV.replace('reduction="batchmean"', 'reduction="mean"')
DISTILLATION_REVERSED_KL = DISTILLATION_KL_DIV.replace(
    "F.kl_div(F.log_softmax(student_logits / T, dim=1), F.log_softmax(teacher_logits / T, dim=1),",
    "F.kl_div(F.log_softmax(teacher_logits / T, dim=1), F.log_softmax(student_logits / T, dim=1),")
DISTILLATION_LOG_OF_SOFTMAX = '''def distillation_loss(student_logits, teacher_logits, labels, T=4.0, alpha=0.5):
    if T <= 0:
        raise ValueError(f"temperature must be > 0, found {T}")
    p_t = torch.softmax(teacher_logits / T, dim=-1)
    p_s = torch.softmax(student_logits / T, dim=-1)
    kl = (p_t * (torch.log(p_t) - torch.log(p_s))).sum(dim=-1).mean()
    return alpha * F.cross_entropy(student_logits, labels) + (1 - alpha) * T**2 * kl
'''

PRIVATE_OPACUS_STYLE = '''def private_gradient(per_sample_grads, max_norm, noise_multiplier, noise):
    if max_norm <= 0:
        raise ValueError(f"max_norm must be positive, found {max_norm}")
    B = len(per_sample_grads[0])
    per_param = torch.stack([g.flatten(start_dim=1).norm(2, dim=1) for g in per_sample_grads], dim=1)
    total = per_param.norm(2, dim=1)
    factor = (max_norm / (total + 1e-6)).clamp(max=1.0)          # Opacus's clip factor
    out = []
    for g, z in zip(per_sample_grads, noise):
        summed = torch.einsum("i,i...->...", factor, g)
        out.append((summed + noise_multiplier * max_norm * z) / B)
    return out
'''
PRIVATE_CLIPS_THE_BATCH = '''def private_gradient(per_sample_grads, max_norm, noise_multiplier, noise):
    if max_norm <= 0:
        raise ValueError(f"max_norm must be positive, found {max_norm}")
    B = len(per_sample_grads[0])
    mean = [g.mean(dim=0) for g in per_sample_grads]
    norm = torch.sqrt(sum((m ** 2).sum() for m in mean))
    factor = min(1.0, max_norm / float(norm)) if norm > 0 else 1.0
    return [m * factor + noise_multiplier * max_norm * z / B for m, z in zip(mean, noise)]
'''
PRIVATE_NOISE_SIGMA_ONLY = PRIVATE_OPACUS_STYLE.replace("noise_multiplier * max_norm * z", "noise_multiplier * z")
PRIVATE_NOISE_NOT_DIVIDED = PRIVATE_OPACUS_STYLE.replace(
    "(summed + noise_multiplier * max_norm * z) / B", "summed / B + noise_multiplier * max_norm * z")
PRIVATE_CLIPS_EACH_PARAMETER = PRIVATE_OPACUS_STYLE.replace(
    "        summed = torch.einsum(\"i,i...->...\", factor, g)\n",
    "        own = (max_norm / (g.flatten(start_dim=1).norm(2, dim=1) + 1e-6)).clamp(max=1.0)\n"
    "        summed = torch.einsum(\"i,i...->...\", own, g)\n")

QUANTIZE_BY_HAND = '''def quantize_int8(weight, per_channel=False):
    if not torch.is_tensor(weight) or not torch.is_floating_point(weight):
        raise ValueError(f"quantize_int8 needs a float tensor, found {type(weight)}")
    if per_channel:
        top = torch.max(torch.abs(weight), dim=1, keepdim=True).values
    else:
        top = torch.max(torch.abs(weight))
    scale = top / 127.0
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    q = (weight / scale).round().clamp(-127, 127).to(torch.int8)
    return q, scale


def dequantize_int8(q, scale):
    return scale * q.type(scale.dtype)
'''
QUANTIZE_SCALE_FROM_THE_MEAN = QUANTIZE_BY_HAND.replace(
    "torch.max(torch.abs(weight), dim=1, keepdim=True).values", "torch.abs(weight).mean(dim=1, keepdim=True)").replace(
    "top = torch.max(torch.abs(weight))", "top = torch.abs(weight).mean()")
QUANTIZE_TRUNCATES = QUANTIZE_BY_HAND.replace("(weight / scale).round().clamp(", "(weight / scale).clamp(")

GRAD_CAM_PER_IMAGE = '''def grad_cam(features, head, x, target):
    targets = [int(target)] * len(x) if isinstance(target, int) else [int(t) for t in target]
    maps = []
    for image, c in zip(x, targets):
        A = features(image[None]).detach()
        A.requires_grad_()
        head(A)[0, c].backward()
        alpha = A.grad.mean(dim=(-2, -1))                   # (1, K)
        maps.append(torch.relu(torch.einsum("bk,bkhw->bhw", alpha, A.detach()))[0])
    return torch.stack(maps)
'''
GRAD_CAM_WITHOUT_RELU = GRAD_CAM_PER_IMAGE.replace(
    'torch.relu(torch.einsum("bk,bkhw->bhw", alpha, A.detach()))', 'torch.einsum("bk,bkhw->bhw", alpha, A.detach())')
GRAD_CAM_SUM_NOT_MEAN = GRAD_CAM_PER_IMAGE.replace("A.grad.mean(dim=(-2, -1))", "A.grad.sum(dim=(-2, -1))")
GRAD_CAM_ARGMAX_CLASS = GRAD_CAM_PER_IMAGE.replace(
    "        head(A)[0, c].backward()\n",
    "        logits = head(A)\n        logits[0, logits[0].argmax()].backward()\n")

VARIANTS = [
    honest("adversarial-backward-sum-range-then-ball", adversarial=ADVERSARIAL_BACKWARD),
    wrong("fgsm-raw-gradient", "adversarial-tests", adversarial=FGSM_RAW_GRADIENT),
    wrong("fgsm-without-clamp", "adversarial-tests", adversarial=FGSM_WITHOUT_CLAMP),
    wrong("pgd-without-projection", "adversarial-tests", adversarial=PGD_WITHOUT_PROJECTION),
    wrong("pgd-ball-around-the-iterate", "adversarial-tests", adversarial=PGD_BALL_AROUND_THE_ITERATE),
    honest("distillation-kl-div", distillation_loss=DISTILLATION_KL_DIV),
    wrong("distillation-without-t2", "distillation_loss-tests", distillation_loss=DISTILLATION_WITHOUT_T2),
    wrong("distillation-mean-over-all", "distillation_loss-tests", distillation_loss=DISTILLATION_MEAN_OVER_ALL),
    wrong("distillation-reversed-kl", "distillation_loss-tests", distillation_loss=DISTILLATION_REVERSED_KL),
    wrong("distillation-log-of-softmax", "distillation_loss-tests", distillation_loss=DISTILLATION_LOG_OF_SOFTMAX),
    honest("private-opacus-style", private_gradient=PRIVATE_OPACUS_STYLE),
    wrong("private-clips-the-batch", "private_gradient-tests", private_gradient=PRIVATE_CLIPS_THE_BATCH),
    wrong("private-noise-sigma-only", "private_gradient-tests", private_gradient=PRIVATE_NOISE_SIGMA_ONLY),
    wrong("private-noise-not-divided", "private_gradient-tests", private_gradient=PRIVATE_NOISE_NOT_DIVIDED),
    wrong("private-clips-each-parameter", "private_gradient-tests", private_gradient=PRIVATE_CLIPS_EACH_PARAMETER),
    honest("quantize-by-hand", quantize_int8=QUANTIZE_BY_HAND),
    wrong("quantize-scale-from-the-mean", "quantize_int8-tests", quantize_int8=QUANTIZE_SCALE_FROM_THE_MEAN),
    wrong("quantize-truncates", "quantize_int8-tests", quantize_int8=QUANTIZE_TRUNCATES),
    honest("grad-cam-per-image-backward", grad_cam=GRAD_CAM_PER_IMAGE),
    wrong("grad-cam-without-relu", "grad_cam-tests", grad_cam=GRAD_CAM_WITHOUT_RELU),
    wrong("grad-cam-sum-not-mean", "grad_cam-tests", grad_cam=GRAD_CAM_SUM_NOT_MEAN),
    wrong("grad-cam-argmax-class", "grad_cam-tests", grad_cam=GRAD_CAM_ARGMAX_CLASS),
    scribbling("lab12"),  # overwrites its arguments
]


def test_lab12_grades_what_an_answer_does_not_how_it_is_written(tmp_path: Path) -> None:
    problems = mismatches("lab12", VARIANTS, grade_variants("lab12", VARIANTS, tmp_path))
    assert not problems, "\n".join(problems)
