"""`python -m sandbox --host 127.0.0.1 --port 8001`: the WeChat/Alipay sandbox on its own."""

from __future__ import annotations

import argparse

from .app import create_sandbox_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument(
        "--app-url", default=None, help="memberhub's public base URL, where message pushes go"
    )
    args = parser.parse_args(argv)
    app = create_sandbox_app(app_url=args.app_url)
    app.run(host=args.host, port=args.port, single_process=True, access_log=False, motd=False)


if __name__ == "__main__":
    main()
