"""The deployment tests' helpers live in deploy_support.py (importable by the test modules under
pytest's importlib import mode); its fixtures are re-exported here."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from deploy_support import compose_config, rendered, service_environments  # noqa: E402

__all__ = ["compose_config", "rendered", "service_environments"]
