"""Layering: the ``rcc`` package runs without torch and never imports ``diffusion``.

The diffusion demo and the diffusion fuzzer live in ``rcc-diffusion`` (``demo``, ``fuzz``).
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import rcc

_BLOCKED_RUN = """
import json, sys


class Block:  # `import torch`, `import diffusion` (and their submodules) raise ImportError
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "diffusion"):
            raise ImportError(f"{name} is blocked")


sys.meta_path.insert(0, Block())
from rcc.cli import main
codes = []
for argv in (["--help"], ["bench", "--quick"], ["fuzz", "--cases", "20", "-q"]):
    try:
        codes.append(main(argv))
    except SystemExit as exc:
        codes.append(exc.code)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "diffusion"))
print("RESULT", json.dumps({"codes": codes, "loaded": loaded}))
"""


def test_rcc_cli_runs_with_torch_and_diffusion_blocked():
    """`rcc --help`, `rcc bench --quick` and `rcc fuzz --cases 20` run in a process where torch
    and diffusion cannot be imported, and import neither."""
    out = subprocess.run([sys.executable, "-c", _BLOCKED_RUN], capture_output=True, text=True, timeout=300,
                         cwd=Path(rcc.__file__).parent.parent)
    assert out.returncode == 0, out.stderr[-2000:]
    line = [s for s in out.stdout.splitlines() if s.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT "):])
    assert result == {"codes": [0, 0, 0], "loaded": []}
    assert "usage: rcc" in out.stdout and "{bench,fuzz}" in out.stdout


def _imported_top_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(Path(rcc.__file__).parent.glob("*.py")), ids=lambda p: p.name)
def test_no_rcc_module_imports_diffusion_or_torch(path):
    assert not _imported_top_names(path) & {"diffusion", "torch"}


def test_rcc_cli_has_no_demo(capsys):
    """`rcc demo` is gone (it needs torch): it is `rcc-diffusion demo` now."""
    from rcc.cli import main

    assert main(["demo"]) == 2
    assert "invalid choice: 'demo'" in capsys.readouterr().err
