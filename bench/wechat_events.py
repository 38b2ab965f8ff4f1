"""Official-account follows through a store's QR code under load: `python -m
bench.wechat_events [--runs 3] [--duration S] [--connections 50]`, on PostgreSQL + Redis.

A brand with a store and an official account in safe mode is seeded once. Before each run,
one `subscribe` event with EventKey `qrscene_s=<store>` per request is built, encrypted and
signed exactly as the sandbox (WeChat) does it, each from an OpenID of its own, so every request
is decrypted, claims its de-duplication key in Redis, creates a visitor, binds them to the
store, queues the UnionID lookup and answers an encrypted welcome naming the store. wrk sends
them with `connections` connections (`wrk_notifications.lua`). `bare_json` is measured right
before and after each run, as `python -m bench` does, for the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from .__main__ import (
    PAUSE_S,
    PYTHON,
    ROOT,
    WARMUP_S,
    Result,
    _free_port,
    report,
    served,
    services_env,
)
from .scenarios import Scenario
from .wrk import Figures, require_wrk, run_wrk

SCENARIO = Scenario(
    "wechat_subscribe_safe",
    "POST",
    "/callbacks/wechat/{appid}",
    goal="50 connections: ≥ 5 % of bare_json, p99 < 300 ms, 0 errors",
)
STORE_CODE = "WXQR01"
# Pushes prepared per second of a run: well above what one API process handles here (wrk
# sends a file's requests again once it runs out, and a repeat is a cheaper duplicate).
REQUESTS_PER_S = 600


async def _seed(out: Path) -> None:
    from api.core.crypto import encrypt
    from api.core.db import close_db, init_db
    from api.org.models import Brand, MessageMode, Store, WechatApp, WechatAppKind
    from config.settings import get_settings
    from sandbox.keys import wechat_app_secret
    from sandbox.wechat_push import push_aes_key, push_token

    await init_db(get_settings())
    brand = await Brand.create(code=f"wx{secrets.token_hex(4)}", name="关注压测", settings={})
    await Store.create(brand_id=brand.id, code=STORE_CODE, name="压测门店")
    appid = "wx" + secrets.token_hex(8)
    await WechatApp.create(
        brand_id=brand.id,
        kind=WechatAppKind.OFFICIAL_ACCOUNT,
        appid=appid,
        name="bench official account",
        secret_enc=encrypt(wechat_app_secret(appid)),
        token_enc=encrypt(push_token(appid)),
        aes_key_enc=encrypt(push_aes_key(appid)),
        message_mode=MessageMode.SAFE,
    )
    out.write_text(json.dumps({"appid": appid}))
    await close_db()


def write_pushes(appid: str, count: int, path: Path) -> int:
    """`count` signed safe-mode subscribe pushes, each from a new OpenID, in the file format of
    `wrk_notifications.lua`; the number written."""
    from sandbox.wechat_push import build_xml, sign_push

    run = secrets.token_hex(3)
    now = int(time.time())
    with path.open("wb") as out:
        for n in range(count):
            openid = f"o-bench-{run}-{n:06d}"
            message = {
                "MsgType": "event",
                "Event": "subscribe",
                "EventKey": f"qrscene_s={STORE_CODE}",
                "FromUserName": openid,
                "CreateTime": now,
            }
            params, body = sign_push(appid, build_xml(appid, message), openid, "safe")
            target = f"/callbacks/wechat/{appid}?{urlencode(params)}"
            out.write(f"{target} 1 {len(body)}\n".encode())
            out.write(b"Content-Type: text/xml\n")
            out.write(body)
    return count


def run_stack(env: dict[str, str], *, runs: int, duration_s: int, connections: int) -> list[Result]:
    """Seed, serve and measure the follows `runs` times."""
    work = Path(tempfile.mkdtemp(prefix="memberhub-bench-wechat-"))
    env = os.environ | env | {"MEMBERHUB_ENV": "development", "MEMBERHUB_LOG_LEVEL": "WARNING"}
    subprocess.run(
        [PYTHON, "-m", "api.cli", "migrate"], env=env, cwd=ROOT, check=True, capture_output=True
    )
    seeded = work / "wechat.json"
    subprocess.run(
        [PYTHON, "-m", "bench.wechat_events", "--seed-out", str(seeded)],
        env=env,
        cwd=ROOT,
        check=True,
    )
    appid = json.loads(seeded.read_text())["appid"]
    port = _free_port()
    try:
        with served(env, work, port) as base:
            bare_s = max(1, duration_s // 2)

            def bare(seconds: int) -> Figures:
                time.sleep(PAUSE_S)
                return run_wrk(f"{base}/healthz", connections=64, duration_s=seconds)

            def follows(seconds: int) -> Figures:
                requests = work / "pushes.txt"
                write_pushes(appid, REQUESTS_PER_S * seconds, requests)
                time.sleep(PAUSE_S)
                return run_wrk(
                    base,
                    requests_file=requests,
                    connections=connections,
                    duration_s=seconds,
                    timeout_s=10,
                )

            bare(WARMUP_S)
            results = []
            for _ in range(runs):
                before = bare(bare_s)
                follows(WARMUP_S)
                figures = follows(duration_s)
                if figures.requests > REQUESTS_PER_S * duration_s:
                    print("warning: the run outgrew its prepared pushes; repeats were duplicates")
                after = bare(bare_s)
                results.append(Result(SCENARIO, figures, Figures.merged([before, after])))
            return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.wechat_events")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seed-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_out:
        asyncio.run(_seed(args.seed_out))
        return
    require_wrk()
    env = services_env("bench.wechat_events")
    print(
        f"memberhub bench: official-account follows through a store QR code (safe mode), "
        f"{os.cpu_count()} cores, {args.connections} connections, one API process, "
        f"{args.runs} runs of {args.duration}s"
    )
    results = run_stack(env, runs=args.runs, duration_s=args.duration, connections=args.connections)
    report("postgresql + redis", results)


if __name__ == "__main__":
    main()
