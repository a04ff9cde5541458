"""The interpreter the browser test runs under.

webapp_test.py needs selenium (it drives Debian's chromium through chromium-driver), pycocotools,
numpy and pillow. `ensure(__file__)`, called before they are imported, returns at once when this
interpreter has them; otherwise it creates `.venv-browser/` at the repository root when missing
(`python3 -m venv .venv-browser && .venv-browser/bin/pip install selenium pycocotools numpy pillow`)
and runs the calling script again with that interpreter and the same arguments. It exits with
status 2 when the environment cannot be set up. Standard library only (the pattern of
Tools/interop/interop_venv.py).
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
VENV = os.path.join(REPO_ROOT, ".venv-browser")
VENV_PYTHON = os.path.join(VENV, "bin", "python")
PACKAGES = ["selenium", "pycocotools", "numpy", "pillow"]
PROBE = "import selenium, numpy, PIL, pycocotools.mask"
BOOTSTRAP_FLAG = "SAMTRACK_BROWSER_BOOTSTRAPPED"


def have_dependencies():
    try:
        import numpy  # noqa: F401
        import PIL  # noqa: F401
        import pycocotools.mask  # noqa: F401
        import selenium  # noqa: F401
        return True
    except ImportError:
        return False


def ensure(script):
    """Returns when the packages import; else re-runs `script` under .venv-browser (see above)."""
    if have_dependencies():
        return
    name = os.path.basename(script)
    if os.environ.get(BOOTSTRAP_FLAG) == "1":
        print(f"{name}: {', '.join(PACKAGES)} still missing inside {VENV}", file=sys.stderr)
        sys.exit(2)
    try:
        if not os.path.exists(VENV_PYTHON):
            print(f"{name}: creating {VENV} ({', '.join(PACKAGES)})", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        probe = subprocess.run([VENV_PYTHON, "-c", PROBE], capture_output=True)
        if probe.returncode != 0:
            subprocess.run([VENV_PYTHON, "-m", "pip", "install", "--quiet"] + PACKAGES, check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"{name}: cannot set up {VENV}: {error}", file=sys.stderr)
        sys.exit(2)
    os.environ[BOOTSTRAP_FLAG] = "1"
    os.execv(VENV_PYTHON, [VENV_PYTHON, os.path.abspath(script)] + sys.argv[1:])
