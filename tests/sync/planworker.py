"""A long-lived planner process: one JSON line in (``{"spec", "url"}``), one plan out.

Started by ``PlanWorkers`` with a chosen ``PYTHONHASHSEED``, so tests can check that
plans do not depend on the hash seed without paying an interpreter start per plan.
The answer is ``{"plan": plan.to_dict()}`` or ``{"error": "<Type>: message"}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deesse_async import define_config
from tests.sync.specs import Spec, collections

ROOT = Path(__file__).resolve().parents[2]


async def _plan(spec: Spec, url: str) -> dict[str, Any]:
    db = define_config(provider=url, collections=collections(spec))
    try:
        return {"plan": (await db.plan()).to_dict()}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        await db.close()


def main() -> None:
    """Answer every request line of stdin until it closes."""
    for line in sys.stdin:
        request = json.loads(line)
        answer = asyncio.run(_plan(request["spec"], request["url"]))
        sys.stdout.write(json.dumps(answer, sort_keys=True) + "\n")
        sys.stdout.flush()


class PlanWorkers:
    """Worker processes, one per hash seed; ``plans(spec, url)`` asks each of them."""

    def __init__(self, seeds: Sequence[int] = (1, 2)) -> None:
        self.processes = [self._start(seed) for seed in seeds]

    @staticmethod
    def _start(seed: int) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONHASHSEED": str(seed)}
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]
        )
        return subprocess.Popen(
            [sys.executable, "-m", "tests.sync.planworker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=env,
            text=True,
        )

    def plans(self, spec: Spec, url: str) -> list[str]:
        """Each worker's answer, as the exact JSON text it printed."""
        request = json.dumps({"spec": spec, "url": url}) + "\n"
        for p in self.processes:
            assert p.stdin is not None
            p.stdin.write(request)
            p.stdin.flush()
        answers = []
        for p in self.processes:
            assert p.stdout is not None
            line = p.stdout.readline()
            if not line:
                raise RuntimeError(f"plan worker {p.pid} died (exit {p.wait()})")
            answers.append(line)
        return answers

    def close(self) -> None:
        """Stop every worker (closing stdin ends its loop)."""
        for p in self.processes:
            if p.stdin is not None:
                p.stdin.close()
        for p in self.processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stdout is not None:
                p.stdout.close()


if __name__ == "__main__":
    main()
