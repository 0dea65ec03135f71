"""The plan's spelling of phase 5, run from the repository root:
`python -c "from src.evaluation import run_ablation_study; run_ablation_study()"`.
A shim (not installed: the package is `nsca`); it forwards to `nsca.evaluation`."""

import sys
from pathlib import Path

try:
    import nsca  # noqa: F401  (installed: pip install -e .)
except ImportError:  # a plain checkout: the package sits beside this folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nsca.evaluation import run_ablation_study  # noqa: E402

__all__ = ["run_ablation_study"]
