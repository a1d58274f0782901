"""The framework's own ceiling on this machine: a minimal FastAPI app whose one POST route
answers a constant JSON, served by the same `serve_forever` as `ledger serve`.

Usage: python -m bench.ceiling PORT"""

from __future__ import annotations

import sys

from fastapi import FastAPI

from ledger.api.server import serve_forever

ANSWER = {"allowed": True, "reason": "ok", "message": "the feature is available",
          "license_id": "lic-1", "limit": None, "used": None, "remaining": None}


def app() -> FastAPI:
    made = FastAPI()

    @made.post("/v1/check")
    async def check() -> dict[str, object]:
        return ANSWER

    return made


if __name__ == "__main__":
    serve_forever(app(), "127.0.0.1", int(sys.argv[1]), log_level="warning")
