"""The 2-D GAN demo (chapter 10): data, generator samples and the discriminator's field, live.

A ``RingGAN`` (``dlkit.train.gan``) learns the 8-mode ring of Gaussians. The picture shows the
real points (grey), the generator's samples from a fixed batch of noise (orange), and the
discriminator's output D(x) over the plane as a background (blue: "real", red: "fake"); below,
both losses so far. Play trains 20 rounds a frame; pause stops; step trains one frame.

A new loss or learning rate starts a new run from step 0 (the weights of a GAN depend on its
whole history); every frame of every run is kept. The ``steps`` slider scrubs through what the
run has trained so far (its range grows as play or step train further), so moving it is
instant; ``set(steps=...)`` from Python may also go beyond, and trains on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np

from dlkit.data import make_ring_gaussians
from dlkit.runtime import torch_threads
from dlkit.train.gan import RingGAN, modes_covered
from dlkit.viz.demo import Demo, rate_slider
from dlkit.viz.style import PALETTE

LR_CHOICES = (1e-4, 3e-4, 1e-3, 2e-3, 5e-3, 1e-2)
LOSSES = ("non-saturating", "saturating")
TICK_STEPS = 20          # rounds of D-then-G per frame of "play"
MAX_STEPS = 2000
SHOWN_SAMPLES = 500
EXTENT = 3.0             # the plane drawn: [-3, 3]²
GRID = np.stack(np.meshgrid(np.linspace(-EXTENT, EXTENT, 48), np.linspace(-EXTENT, EXTENT, 48)), axis=-1)
# the demo's networks: small enough for 20 rounds in ~100 ms on one core, and all 8 modes
# within a few hundred rounds at the default rates
RUN_OPTIONS = {"hidden": 128, "depth": 2, "batch_size": 128}


@dataclass(frozen=True)
class Frame:
    """What one picture shows: the run after ``step`` rounds."""

    step: int
    samples: np.ndarray      # (SHOWN_SAMPLES, 2) generated points
    field: np.ndarray        # D(x) on GRID (48, 48)
    covered: int             # modes covered by the 1000 fixed-noise samples


class GAN2DDemo(Demo):
    """A 2-D GAN training in front of you (chapter 10).

    State: ``loss`` ("non-saturating" or "saturating" generator loss), ``lr_g`` and ``lr_d``
    (Adam rates of G and D, from ``LR_CHOICES``), ``steps`` (rounds trained, 0 to 2000).
    ``frame`` is the ``Frame`` drawn; ``run`` the ``RingGAN`` behind it. Try lr_d = 1e-4 with
    lr_g = 1e-2: D learns too slowly to push back and G collapses onto one or two modes.
    """

    figure_px = (520, 540)
    tick_interval_ms = 300

    def __init__(self, seed: int = 0, **state: Any) -> None:
        self.seed = seed
        self._runs: dict[tuple, tuple[RingGAN, dict[int, Frame]]] = {}
        super().__init__(**state)

    def defaults(self) -> dict[str, Any]:
        return {"loss": "non-saturating", "lr_g": 2e-3, "lr_d": 2e-3, "steps": 0}

    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        if state["loss"] not in LOSSES:
            raise ValueError(f"expected loss among {LOSSES}, got {state['loss']!r}")
        for name in ("lr_g", "lr_d"):
            value = state[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 0.1:
                raise ValueError(f"expected {name} a learning rate in (0, 0.1], got {value!r}")
        steps = state["steps"]
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 0 <= steps <= MAX_STEPS:
            raise ValueError(f"expected steps an int from 0 to {MAX_STEPS}, got {steps!r}")
        return {"loss": state["loss"], "lr_g": float(state["lr_g"]), "lr_d": float(state["lr_d"]),
                "steps": int(steps)}

    def set(self, **changes: Any) -> GAN2DDemo:
        """As ``Demo.set``; a new loss or rate without ``steps`` starts its run at step 0."""
        if changes.keys() & {"loss", "lr_g", "lr_d"} and "steps" not in changes:
            changes["steps"] = 0
        super().set(**changes)
        return self

    def controls(self) -> dict[str, widgets.ValueWidget]:
        return {
            "loss": widgets.Dropdown(options=list(LOSSES), description="G loss"),
            "lr_g": rate_slider("lr G", LR_CHOICES),
            "lr_d": rate_slider("lr D", LR_CHOICES),
            "steps": widgets.IntSlider(min=0, max=MAX_STEPS, step=TICK_STEPS, description="steps",
                                       continuous_update=False),
        }

    def refresh_controls(self) -> None:
        self._fit_steps_slider()

    def _fit_steps_slider(self) -> None:
        """The steps slider spans the frames trained so far (at least one tick)."""
        slider = self._controls.get("steps")
        if slider is None:
            return
        trained = max(self._runs[self._key(self.state)][1])
        syncing, self._syncing = self._syncing, True   # a shrinking range must not echo a change
        try:
            slider.max = max(trained, TICK_STEPS)
        finally:
            self._syncing = syncing

    def tick(self) -> None:
        """One frame of "play": 20 more rounds (from step 0 again at the end)."""
        steps = self.state["steps"]
        self.set(steps=0 if steps >= MAX_STEPS else min(MAX_STEPS, steps + TICK_STEPS))

    # ---- the runs ------------------------------------------------------------------------
    def _frame_of(self, run: RingGAN) -> Frame:
        samples = run.samples()
        return Frame(run.steps_done, samples[:SHOWN_SAMPLES], run.field(GRID),
                     modes_covered(samples, run.centers))

    @staticmethod
    def _key(state: dict[str, Any]) -> tuple:
        return state["loss"], state["lr_g"], state["lr_d"]

    def frame_for(self, state: dict[str, Any]) -> Frame:
        """The picture of ``state``'s run after ``state["steps"]`` rounds (trained if needed)."""
        key = self._key(state)
        run, frames = self._runs.get(key, (None, {}))
        target = state["steps"]
        if target in frames:
            self.run = run
            return frames[target]
        if run is None or run.steps_done > target:   # Adam cannot step back: a fresh run
            run = RingGAN(state["loss"], lr_g=state["lr_g"], lr_d=state["lr_d"], seed=self.seed, **RUN_OPTIONS)
            frames = {0: self._frame_of(run)}
            self._runs[key] = (run, frames)
        with torch_threads(1):
            while run.steps_done < target:   # keep every tick's frame on the way
                run.train(min(TICK_STEPS - run.steps_done % TICK_STEPS, target - run.steps_done))
                if run.steps_done % TICK_STEPS == 0 or run.steps_done == target:
                    frames[run.steps_done] = self._frame_of(run)
        self.run = run
        return frames[target]

    # ---- drawing -------------------------------------------------------------------------
    def draw_initial(self) -> None:
        self.ax, self.ax_loss = self.figure.subplots(2, 1, gridspec_kw={"height_ratios": [3, 1]})
        self.image = self.ax.imshow(np.full(GRID.shape[:2], 0.5), origin="lower", cmap="RdBu",
                                    vmin=0, vmax=1, alpha=0.55, extent=(-EXTENT, EXTENT, -EXTENT, EXTENT))
        self.figure.colorbar(self.image, ax=self.ax, label="D(x): 1 real, 0 fake", shrink=0.8)
        real = make_ring_gaussians(n=4096, seed=self.seed).X[:SHOWN_SAMPLES]   # RingGAN's pool
        self.ax.scatter(real[:, 0], real[:, 1], s=6, color="0.35", label="data")
        self.fakes = self.ax.scatter(np.zeros(SHOWN_SAMPLES), np.zeros(SHOWN_SAMPLES), s=6,
                                     color=PALETTE[1], label="G(z)")
        self.ax.set(xlim=(-EXTENT, EXTENT), ylim=(-EXTENT, EXTENT), aspect="equal")
        self.ax.legend(loc="upper right", fontsize=8)
        self.line_d, = self.ax_loss.plot([], [], color=PALETTE[0], label="D loss")
        self.line_g, = self.ax_loss.plot([], [], color=PALETTE[1], label="G loss")
        self.ax_loss.set(xlabel="round (one D step, one G step)", xlim=(0, MAX_STEPS))
        self.ax_loss.legend(loc="upper right", fontsize=8, ncols=2)

    def redraw(self) -> None:
        self.frame = frame = self.frame_for(self.state)
        self._fit_steps_slider()   # before the view shows the new value, which must fit the range
        s = self.state
        self.image.set_data(frame.field)
        self.fakes.set_offsets(frame.samples)
        self.ax.set_title(f"{s['loss']}, lr G {s['lr_g']:g}, lr D {s['lr_d']:g}\n"
                          f"step {frame.step}: {frame.covered} of 8 modes covered")
        rounds = np.arange(1, frame.step + 1)
        history = self.run.history
        self.line_d.set_data(rounds, history.get("d_loss", [])[:frame.step])
        self.line_g.set_data(rounds, history.get("g_loss", [])[:frame.step])
        # the saturating loss, E[log(1 - D(G(z)))], is negative
        self.ax_loss.set_ylim((-2.5, 1.5) if s["loss"] == "saturating" else (0, 3))
