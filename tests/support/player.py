"""Plays the platform's side in tests: one-time codes from the sandbox's player routes."""

from __future__ import annotations

from typing import Any

import httpx


class Player:
    """What a person with a phone and a WeChat/Alipay account would produce for the app."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        answer = await self.http.post(path, json=payload)
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def login_code(
        self, appid: str, *, openid: str | None = None, unionid: str | None = None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"appid": appid}
        if openid:
            payload["openid"] = openid
        if unionid:
            payload["unionid"] = unionid
        return await self._post("/wechat/login-codes", payload)

    async def phone_code(self, appid: str, phone: str) -> str:
        return (await self._post("/wechat/phone-codes", {"appid": appid, "phone": phone}))["code"]

    async def alipay_code(self, app_id: str, *, user_id: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"app_id": app_id}
        if user_id:
            payload["user_id"] = user_id
        return await self._post("/alipay/auth-codes", payload)

    async def alipay_phone(self, app_id: str, phone: str) -> dict[str, Any]:
        """my.getPhoneNumber()'s answer: {response, sign}, as the mini-program posts it on."""
        answer = await self._post("/alipay/phone-responses", {"app_id": app_id, "phone": phone})
        return {"response": answer["response"], "sign": answer["sign"]}

    async def sent(self, appid: str | None = None) -> list[dict[str, Any]]:
        answer = await self.http.get("/wechat/sent", params={"appid": appid} if appid else None)
        return answer.json()["items"]

    async def pay(self, out_trade_no: str, **options: Any) -> dict[str, Any]:
        """The consumer pays the trade; the sandbox delivers its notification (`deliveries` times
        at once). Options: payer, deliveries, delay_s, retry_scale."""
        return await self._post(f"/payments/{out_trade_no}/pay", options)

    async def forge(self, out_trade_no: str, kind: str, url: str | None = None) -> dict[str, Any]:
        """A bad actor's notification about the trade, posted once → memberhub's {status, body}."""
        payload: dict[str, Any] = {"kind": kind}
        if url:
            payload["url"] = url
        return await self._post(f"/payments/{out_trade_no}/forge", payload)

    async def trade(self, out_trade_no: str) -> dict[str, Any]:
        answer = await self.http.get(f"/payments/{out_trade_no}")
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def payment_code(self, provider: str, **options: Any) -> str:
        answer = await self._post("/payment-codes", {"provider": provider, **options})
        return str(answer["auth_code"])
