"""The results chapter 07 asserts or states, each reproduced with the notebook's quick-mode recipe
over 5 seeds (the notebook runs seed 0): the digits CNN ≥ 97%, the residual net trains deeper than
its plain twin, random crops make the CNN robust to shifts, transfer beats chance, the detector's
mAP@0.5 ≥ 0.5, and the U-Net's Dice ≥ 0.85 and above the best global threshold."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import dlkit
from dlkit.data import load_digits, make_shape_scenes, make_shapes
from dlkit.metrics import accuracy, dice, mean_average_precision
from dlkit.models import GridDetector, ResNet, TinyUNet, decode_detections, detection_loss, encode_targets
from dlkit.train import Trainer

pytestmark = pytest.mark.slow
SEEDS = range(5)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def vgg_block(c_in, c_out):
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.MaxPool2d(2)]


def small_vgg(num_classes=10, widths=(16, 32)):
    a, b = widths
    backbone = nn.Sequential(*vgg_block(1, a), *vgg_block(a, b), nn.AdaptiveAvgPool2d(2), nn.Flatten())
    return nn.Sequential(backbone, nn.Linear(4 * b, num_classes))


def digits_splits():
    train, val, test = load_digits(images=True).split(val=0.15, test=0.2, seed=0)
    train, stats = train.standardize()
    return train, val.standardize(stats)[0], test.standardize(stats)[0]


def fit(model, loader, epochs, lr=3e-3, loss=None, cosine=True):
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs) if cosine else None
    trainer = Trainer(model, optimizer, loss or nn.CrossEntropyLoss(), scheduler=scheduler,
                      metrics={} if loss else {"accuracy": accuracy}, progress=False, plot=False, device="cpu")
    trainer.fit(loader, epochs=epochs)
    return trainer


def random_crop(images, padding, generator):
    n, _, h, w = images.shape
    padded = F.pad(images, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    return torch.stack([padded[i, :, dy[i]: dy[i] + h, dx[i]: dx[i] + w] for i in range(n)])


class Augmented:
    """The notebook's training loader with a random crop of every batch as it is drawn."""

    def __init__(self, loader, padding, seed=0):
        self.loader, self.padding = loader, padding
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for images, labels in self.loader:
            yield random_crop(images, self.padding, self.generator), labels


class FrozenFeatures(nn.Module):
    """The notebook's frozen backbone: no gradients, batch norm kept in evaluation mode."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone.requires_grad_(False)

    def train(self, mode=True):
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, x):
        return self.backbone(x)


def shift_accuracy(model, test):
    model.eval()
    with torch.no_grad():
        X = torch.tensor(test.X)
        return accuracy(model(X), test.y), accuracy(model(torch.roll(X, 1, dims=-1)), test.y)


@pytest.mark.parametrize("seed", SEEDS)
def test_digits_cnn_and_augmentation(seed):
    train, _, test = digits_splits()
    dlkit.seed(seed)
    plain = small_vgg()
    fit(plain, train.loader(64, seed=seed), epochs=10)
    plain_acc, plain_shifted = shift_accuracy(plain, test)
    assert plain_acc >= 0.97, f"seed {seed}: digits CNN test accuracy {plain_acc:.3f}"

    dlkit.seed(seed)
    augmented = small_vgg()
    trainer = Trainer(augmented, torch.optim.Adam(augmented.parameters(), lr=3e-3), nn.CrossEntropyLoss(),
                      progress=False, plot=False, device="cpu")
    trainer.fit(Augmented(train.loader(64, seed=seed), padding=1, seed=seed), epochs=6)
    aug_acc, aug_shifted = shift_accuracy(augmented, test)
    assert aug_shifted > plain_shifted + 0.05, \
        f"seed {seed}: shifted accuracy with crops {aug_shifted:.3f}, without {plain_shifted:.3f}"
    assert aug_acc > 0.95


@pytest.mark.parametrize("seed", SEEDS)
def test_residual_net_trains_deeper_than_its_plain_twin(seed):
    train = digits_splits()[0]
    losses = {}
    for residual in (True, False):
        torch.manual_seed(seed)
        model = ResNet(1, 10, widths=(8, 16), blocks=(5, 5), residual=residual)
        trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
                          nn.CrossEntropyLoss(), progress=False, plot=False, device="cpu")
        losses[residual] = trainer.fit(train.loader(128, seed=0), epochs=4)["train_loss"][-1]
    assert losses[True] < 0.75 * losses[False], f"seed {seed}: residual {losses[True]:.3f}, plain {losses[False]:.3f}"


@pytest.mark.parametrize("seed", SEEDS)
def test_transfer_from_digits_0_4_to_5_9_beats_chance(seed):
    train, _, test = digits_splits()
    source = train.subset(np.flatnonzero(train.y < 5))
    pool, target = train.subset(np.flatnonzero(train.y >= 5)), test.subset(np.flatnonzero(test.y >= 5))
    picker = np.random.default_rng(seed)
    few = pool.subset(np.concatenate([picker.choice(np.flatnonzero(pool.y == c), 3, replace=False)
                                      for c in range(5, 10)]))
    few.y, target.y = few.y - 5, target.y - 5
    dlkit.seed(seed)
    pretrained = small_vgg(num_classes=5)
    fit(pretrained, source.loader(64, seed=seed), epochs=6)
    for mode in ("from scratch", "frozen features", "fine-tuning"):
        dlkit.seed(seed + 1)
        model = small_vgg(num_classes=5) if mode == "from scratch" else copy.deepcopy(pretrained)
        if mode != "from scratch":
            model[1] = nn.Linear(model[1].in_features, 5)
        if mode == "frozen features":
            model[0] = FrozenFeatures(model[0])
        trainer = fit(model, few.loader(len(few), seed=seed), epochs=30, lr=1e-3 if mode == "fine-tuning" else 3e-3,
                      cosine=False)
        acc = trainer.evaluate(target.loader(512, shuffle=False))["accuracy"]
        assert acc > 0.5, f"seed {seed}: {mode} reached {acc:.3f}"


@pytest.mark.parametrize("seed", SEEDS)
def test_grid_detector_map(seed):
    n = 256
    scenes, boxes, labels = make_shape_scenes(n + 200, tiles=2, seed=seed)
    targets = encode_targets(boxes[:n], labels[:n], 8, GridDetector.stride)
    loader = DataLoader(TensorDataset(torch.tensor(scenes[:n]), targets), batch_size=16, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    dlkit.seed(seed)
    detector = GridDetector(1, 3, width=16)
    fit(detector, loader, epochs=8, lr=1e-2, loss=detection_loss, cosine=False)
    detector.eval()
    with torch.no_grad():
        detections = decode_detections(detector(torch.tensor(scenes[n:])), GridDetector.stride)
    score = mean_average_precision(detections, boxes[n:], labels[n:])
    assert score >= 0.5 + 0.1, f"seed {seed}: mAP@0.5 {score:.3f}"


@pytest.mark.parametrize("seed", SEEDS)
def test_unet_dice(seed):
    shapes = make_shapes(240, size=32, seed=seed, noise=0.25)
    train, _, test = shapes.split(val=0.0, test=0.25, seed=seed)
    loader = DataLoader(TensorDataset(torch.tensor(train.X), torch.tensor(train.meta["masks"]).float()[:, None]),
                        batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(seed))
    dlkit.seed(seed)
    unet = TinyUNet(1, 1, base=8, depth=2)
    fit(unet, loader, epochs=5, lr=1e-2, loss=nn.BCEWithLogitsLoss(), cosine=False)
    unet.eval()
    with torch.no_grad():
        predicted = (unet(torch.tensor(test.X)) > 0).numpy()[:, 0]
    truth = test.meta["masks"]
    score = dice(predicted, truth, per_sample=True).mean()
    threshold = max(dice(test.X[:, 0] > t, truth, per_sample=True).mean() for t in np.linspace(0.1, 0.6, 11))
    assert score >= 0.85 + 0.05, f"seed {seed}: U-Net Dice {score:.3f}"
    assert score > threshold + 0.05, f"seed {seed}: U-Net {score:.3f} vs threshold {threshold:.3f}"
