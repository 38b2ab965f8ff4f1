"""The API server as the benchmark runs it: the real app, seeded with fixtures, on one process.

Seeding happens inside the server process so that the in-process cache of the embedded stack
holds the member codes the load tool will resolve.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
from pathlib import Path

from sanic import Sanic

from api.app import create_app
from config.logging import configure_logging
from config.settings import get_settings

from .seed import seed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seed-out", type=Path, required=True)
    parser.add_argument("--codes", type=int, default=0)
    parser.add_argument("--notifications", type=int, default=0, help="unpaid payments per platform")
    parser.add_argument("--platforms", default="", help="comma-separated payment platforms")
    args = parser.parse_args()

    # One cashier token scans every code of the run: lift its per-minute limit far above what
    # wrk can reach, so the limiter is still counted (its cost is measured) but never answers 429.
    os.environ.setdefault("MEMBERHUB_MEMBER_CODE_RESOLVE_PER_MINUTE", str(10**9))
    get_settings.cache_clear()

    configure_logging("WARNING")
    app = create_app()

    @app.before_server_start
    async def _seed(app: Sanic) -> None:
        fixtures = await seed(
            codes=args.codes,
            codes_file=args.seed_out.with_suffix(".codes"),
            notifications=args.notifications,
            platforms=[p for p in args.platforms.split(",") if p],
        )
        args.seed_out.write_text(json.dumps(fixtures))
        # As a production server would after start-up: what exists now lives for the whole
        # run, so the collector need not walk it again and again (gunicorn and uWSGI do this).
        gc.collect()
        gc.freeze()

    app.run(host="127.0.0.1", port=args.port, single_process=True, access_log=False, motd=False)


if __name__ == "__main__":
    main()
