"""The interpreter the interop checkers run under.

The checkers (check_outputs.py, check_track_outputs.py, check_exports.py) need pycocotools, numpy
and pillow. `ensure(__file__)`, called before they import them, returns at once when this
interpreter has them; otherwise it creates `.venv-interop/` at the repository root when missing
(`python3 -m venv .venv-interop && .venv-interop/bin/pip install pycocotools numpy pillow`) and
runs the calling script again with that interpreter and the same arguments. It exits with status
2 when the environment cannot be set up. Standard library only.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
VENV = os.path.join(REPO_ROOT, ".venv-interop")
VENV_PYTHON = os.path.join(VENV, "bin", "python")
PACKAGES = ["pycocotools", "numpy", "pillow"]
# Set when a script runs itself again under VENV_PYTHON, so that a venv without the packages
# fails instead of looping.
BOOTSTRAP_FLAG = "SAMTRACK_INTEROP_BOOTSTRAPPED"


def have_dependencies():
    try:
        import numpy  # noqa: F401
        import PIL  # noqa: F401
        import pycocotools.mask  # noqa: F401
        return True
    except ImportError:
        return False


def ensure(script):
    """Returns when the readers import; else re-runs `script` under .venv-interop (see above)."""
    if have_dependencies():
        return
    name = os.path.basename(script)
    if os.environ.get(BOOTSTRAP_FLAG) == "1":
        print(f"{name}: pycocotools, numpy or pillow still missing inside {VENV}", file=sys.stderr)
        sys.exit(2)
    try:
        if not os.path.exists(VENV_PYTHON):
            print(f"{name}: creating {VENV} ({', '.join(PACKAGES)})", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        probe = subprocess.run([VENV_PYTHON, "-c", "import numpy, PIL, pycocotools.mask"], capture_output=True)
        if probe.returncode != 0:
            subprocess.run([VENV_PYTHON, "-m", "pip", "install", "--quiet"] + PACKAGES, check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"{name}: cannot set up {VENV}: {error}", file=sys.stderr)
        sys.exit(2)
    os.environ[BOOTSTRAP_FLAG] = "1"
    os.execv(VENV_PYTHON, [VENV_PYTHON, os.path.abspath(script)] + sys.argv[1:])
