"""Serve one service of the HTTP benchmark with uvicorn (one worker); run.py starts this.

python benchmarks/http/serve.py deesse --port 8101 --url postgresql://... --schema s
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SERVICES = {
    "deesse": "services.deesse_app",
    "asyncpg": "services.asyncpg_app",
    "sqlalchemy": "services.sqlalchemy_app",
    "tortoise": "services.tortoise_app",
}


def load(name: str, url: str, schema: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(SERVICES[name]).make_app(url, schema)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("service", choices=sorted(SERVICES))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--http", default="auto")
    parser.add_argument("--loop", default="asyncio")
    args = parser.parse_args()
    import uvicorn

    app = load(args.service, args.url, args.schema)
    uvicorn.run(app, host="127.0.0.1", port=args.port, workers=1, http=args.http,
                loop=args.loop, log_level="warning", access_log=False)  # fmt: skip


if __name__ == "__main__":
    main()
