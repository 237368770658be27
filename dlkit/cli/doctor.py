"""``dlkit doctor``: is this machine ready for the course? (chapter 00)

Prints versions, the device, quick mode, whether the course kernel is installed and whether
an nbgrader config is found; exits non-zero with a reason for each thing that is broken.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

KERNEL_NAME = "dlkit"
REQUIRED = ("numpy", "torch", "matplotlib", "ipywidgets", "nbgrader", "nbval", "jupyterlab", "sklearn",
            "optuna", "tensorboard", "opacus", "captum")   # the last four: chapters 11-12


@dataclass
class Finding:
    name: str
    value: str
    ok: bool
    fix: str = ""


def _package(name: str) -> Finding:
    try:
        module = importlib.import_module(name)
    except Exception as error:  # a broken install raises more than ImportError
        return Finding(name, f"missing ({type(error).__name__}: {error})", False,
                       "run `make setup` (or `pip install -e .`) in the project root")
    return Finding(name, getattr(module, "__version__", "installed"), True)


def _device() -> Finding:
    try:
        import torch

        from dlkit.runtime import device
        dev = device()
    except Exception as error:
        return Finding("device", f"unavailable ({error})", False, "check the torch install")
    if dev.type == "cuda":
        detail = f"cuda: {torch.cuda.get_device_name(dev)} (torch CUDA {torch.version.cuda})"
    elif dev.type == "mps":
        detail = "mps: Apple GPU"
    else:
        detail = f"cpu: {os.cpu_count()} cores (no GPU found; everything runs, only slower)"
    return Finding("device", detail, True)


def _kernel() -> Finding:
    jupyter = Path(sys.executable).with_name("jupyter")
    command = [str(jupyter) if jupyter.exists() else "jupyter", "kernelspec", "list", "--json"]
    try:
        listing = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
        kernels = json.loads(listing.stdout)["kernelspecs"]
    except Exception as error:
        return Finding("kernel", f"cannot list kernels ({error})", False, "run `make setup`")
    if KERNEL_NAME not in kernels:
        return Finding("kernel", f"no kernel named {KERNEL_NAME!r} (found: {', '.join(sorted(kernels))})",
                       False, "run `make setup`, which registers it")
    return Finding("kernel", f"{KERNEL_NAME} at {kernels[KERNEL_NAME]['resource_dir']}", True)


def _nbgrader_config(course: Path) -> Finding:
    config = course / "nbgrader_config.py"
    if not config.is_file():
        return Finding("nbgrader config", f"not found at {config}", False,
                       "run dlkit from the course root, or pass --course DIR")
    return Finding("nbgrader config", str(config), True)


def diagnose(course: Path) -> list[Finding]:
    """Every check ``dlkit doctor`` makes, in the order it prints them."""
    from dlkit.runtime import quick

    findings = [
        Finding("python", f"{platform.python_version()} at {sys.executable}", sys.version_info >= (3, 10),
                "dlkit needs Python 3.10 or newer"),
        Finding("dlkit", importlib.import_module("dlkit").__version__, True),
    ]
    findings += [_package(name) for name in REQUIRED]
    findings.append(_device())
    findings.append(Finding("quick mode", "on (DLKIT_QUICK=1: small data, few epochs)" if quick()
                            else "off (full size; set DLKIT_QUICK=1 for a fast smoke run)", True))
    findings.append(_kernel())
    findings.append(_nbgrader_config(course))
    # nbgrader runs `alembic` when it opens a gradebook; dlkit puts this bin dir on its PATH.
    beside = Path(sys.executable).with_name("alembic")
    alembic = str(beside) if beside.exists() else shutil.which("alembic")
    findings.append(Finding("alembic", alembic or "not found", alembic is not None,
                            "run `make setup` (nbgrader needs alembic to open a gradebook)"))
    return findings


def run(args: argparse.Namespace) -> int:
    findings = diagnose(Path(args.course).resolve())
    width = max(len(f.name) for f in findings)
    for finding in findings:
        mark = "ok " if finding.ok else "BAD"
        print(f"[{mark}] {finding.name:<{width}}  {finding.value}")
    broken = [f for f in findings if not f.ok]
    if broken:
        print(f"\n{len(broken)} problem(s):", file=sys.stderr)
        for finding in broken:
            print(f"  - {finding.name}: {finding.value}. Fix: {finding.fix}", file=sys.stderr)
        return 1
    print("\nAll good: `make lab` opens the course.")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("doctor", help="check that this machine is ready for the course",
                                   description=__doc__)
    parser.add_argument("--course", default=".", help="the course root (holds nbgrader_config.py); default: .")
    parser.set_defaults(func=run)
