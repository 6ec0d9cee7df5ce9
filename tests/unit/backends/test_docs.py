"""The examples in docs/backends.md run as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

DOC = Path(__file__).parents[3] / "docs" / "backends.md"


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


async def test_the_memory_backend_example_runs() -> None:
    namespace: dict[str, Any] = {}
    exec(examples()[0], namespace)

    await namespace["main"]()
