"""The whole apps the docs show (a ```python block starting ``# app.py``), loaded as
modules so that tests run exactly the code a reader copies."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

DOCS = Path(__file__).parent.parent / "docs"


def example(doc: str) -> str:
    """The one ```python block of ``docs/<doc>`` that starts with ``# app.py``."""
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / doc).read_text(), flags=re.S)
    found = [b for b in blocks if b.startswith("# app.py\n")]
    assert len(found) == 1, f"docs/{doc} has no (or several) ```python blocks starting # app.py"
    return found[0]


def load(doc: str, folder: Path, name: str) -> ModuleType:
    """``docs/<doc>``'s app written to ``folder/app.py`` and imported as module ``name``."""
    path = folder / "app.py"
    path.write_text(example(doc))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic/FastAPI resolve annotations through it
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module
