"""The shipping information of a WeChat Pay order, uploaded to WeChat: the platform holds a
mini-program payment's money until the merchant says how the goods left (发货信息录入).

`queue_upload` writes one outbox message per order and kind (`shipped`: by express with its
carrier and tracking number; `picked_up`: handed over at the store), inside the transaction
that moves the order; an order paid by Alipay or the stored value queues nothing.
`upload_shipping` is the outbox handler: it sends the upload and records on the order when
WeChat accepted it, so a message handed over twice uploads once; any failure (WeChat refusing
or unreachable) is left to the outbox to retry.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from api.core import outbox, wechat
from api.core.clock import to_shanghai
from api.core.ports import clock
from api.org.apps import wechat_credentials
from api.org.models import WechatApp, WechatAppKind
from api.payments.models import Payment, PaymentMethod

from .models import Fulfilment, MallOrder, MallOrderLine

log = logging.getLogger(__name__)

UPLOAD_TOPIC = "mall.upload_shipping"
WECHAT_METHODS = (PaymentMethod.WECHATPAY_V3, PaymentMethod.WECHATPAY_V2)
# WeChat's logistics_type: 1 express, 2 local courier, 3 virtual goods, 4 picked up by the user.
EXPRESS, SELF_PICKUP = 1, 4
UNIFIED_DELIVERY = 1  # delivery_mode: one parcel, one tracking number
ITEM_DESC_CHARS = 120


async def queue_upload(db: BaseDBAsyncClient, *, order: MallOrder, kind: str) -> bool:
    """Queue the upload of the order's shipping (`kind`: shipped or picked_up) when it was paid
    by WeChat Pay, inside the caller's transaction; whether a message was queued."""
    if order.payment_id is None:
        return False
    payment = await Payment.filter(id=order.payment_id).using_db(db).first()
    if payment is None or payment.method not in WECHAT_METHODS:
        return False
    await outbox.enqueue(
        topic=UPLOAD_TOPIC,
        brand_id=order.brand_id,
        dedupe_key=f"{UPLOAD_TOPIC}:{order.id}:{kind}",
        payload={"brand_id": order.brand_id, "order_id": order.id, "kind": kind},
        connection=db,
    )
    return True


def shipping_info(
    *, order: MallOrder, payment: Payment, lines: list[MallOrderLine], at: datetime
) -> dict[str, Any]:
    """The body of WeChat's upload_shipping_info for the order (one parcel, or the pickup)."""
    parcel: dict[str, Any] = {
        "item_desc": "，".join(f"{line.name}*{line.quantity}" for line in lines)[:ITEM_DESC_CHARS]
    }
    pickup = order.fulfilment is Fulfilment.PICKUP
    if not pickup:
        parcel["tracking_no"] = order.shipping.get("tracking_no", "")
        parcel["express_company"] = order.shipping.get("carrier", "")
        phone = str(order.address.get("phone") or "")
        if len(phone) >= 7:
            # SF Express requires a contact; WeChat takes it masked but for the last 4 digits.
            parcel["contact"] = {"receiver_contact": f"{phone[:3]}****{phone[-4:]}"}
    return {
        "order_key": {"order_number_type": 2, "transaction_id": payment.transaction_id},
        "logistics_type": SELF_PICKUP if pickup else EXPRESS,
        "delivery_mode": UNIFIED_DELIVERY,
        "shipping_list": [parcel],
        "upload_time": to_shanghai(at).isoformat(timespec="milliseconds"),
        "payer": {"openid": payment.payer_id},
    }


async def upload_shipping(payload: dict[str, Any]) -> None:
    """Outbox handler for `mall.upload_shipping`: upload once, record when WeChat accepted it."""
    order = await MallOrder.get_or_none(id=int(payload["order_id"]))
    if order is None or order.shipping_uploaded_at is not None or order.payment_id is None:
        return
    payment = await Payment.get(id=order.payment_id)
    app = await WechatApp.get_or_none(
        brand_id=order.brand_id, appid=payment.payer_app_id, kind=WechatAppKind.MINIPROGRAM
    )
    if app is None or not payment.transaction_id:
        # Paid outside the brand's mini-programs: WeChat holds no settlement for it here.
        log.warning("mall order %s: no mini-program payment to upload shipping for", order.id)
        return
    lines = await MallOrderLine.filter(order_id=order.id).order_by("id")
    info = shipping_info(order=order, payment=payment, lines=lines, at=clock().now())
    creds = wechat_credentials(app)
    await wechat.upload_shipping_info(creds, info)
    await MallOrder.filter(id=order.id, shipping_uploaded_at=None).update(
        shipping_uploaded_at=clock().now()
    )
