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
PACKAGES = ["pycocotools", "numpy", "pillow"]
# What a checker imports; the interpreter that runs this has them or a venv is made.
PROBE = "import numpy, PIL, pycocotools.mask"


def ensure(script, venv_name=".venv-interop", packages=PACKAGES, probe=PROBE):
    """Returns when `probe` runs in this interpreter; else re-runs `script` under the venv
    REPO_ROOT/`venv_name`, created with `packages` when missing (see above). Tools/browser uses it
    with selenium added, in `.venv-browser`."""
    try:
        exec(probe, {})
        return
    except ImportError:
        pass
    venv = os.path.join(REPO_ROOT, venv_name)
    venv_python = os.path.join(venv, "bin", "python")
    # Set when a script runs itself again under the venv, so that a venv without the packages
    # fails instead of looping.
    flag = "SAMTRACK_BOOTSTRAPPED_" + venv_name.strip(".").replace("-", "_").upper()
    name = os.path.basename(script)
    if os.environ.get(flag) == "1":
        print(f"{name}: {', '.join(packages)} still missing inside {venv}", file=sys.stderr)
        sys.exit(2)
    try:
        if not os.path.exists(venv_python):
            print(f"{name}: creating {venv} ({', '.join(packages)})", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        if subprocess.run([venv_python, "-c", probe], capture_output=True).returncode != 0:
            subprocess.run([venv_python, "-m", "pip", "install", "--quiet"] + list(packages), check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"{name}: cannot set up {venv}: {error}", file=sys.stderr)
        sys.exit(2)
    os.environ[flag] = "1"
    os.execv(venv_python, [venv_python, os.path.abspath(script)] + sys.argv[1:])
