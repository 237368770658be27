"""`dlkit doctor` reports the machine and fails with a reason when something is broken."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_doctor(*args, cwd=ROOT):
    dlkit = Path(sys.executable).with_name("dlkit")
    return subprocess.run([str(dlkit), "doctor", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_doctor_reports_versions_device_and_kernel():
    result = run_doctor()
    assert "torch" in result.stdout and "device" in result.stdout and "quick mode" in result.stdout
    assert "[ok ] kernel" in result.stdout, result.stdout + result.stderr
    assert result.returncode == 0, result.stdout + result.stderr


def test_doctor_fails_with_a_reason_without_an_nbgrader_config(tmp_path):
    result = run_doctor("--course", str(tmp_path))
    assert result.returncode == 1
    assert "[BAD] nbgrader config" in result.stdout
    assert f"not found at {tmp_path / 'nbgrader_config.py'}" in result.stderr
