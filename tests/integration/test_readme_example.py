"""The README's PyTorch-style example must run as printed and learn its XOR-like problem."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_readme_example_runs_and_fits():
    text = open(os.path.join(ROOT, "README.md")).read()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    acc = float(re.search(r"accuracy ([0-9.]+)", out.stdout).group(1))
    assert acc >= 0.95, out.stdout
