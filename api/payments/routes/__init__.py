"""The payments domain's HTTP routes, one module per concern."""

from sanic import Blueprint

from . import admin, callbacks, onboarding, recharge, refunds, reports, till

bp = Blueprint.group(
    callbacks.wechatpay_bp,
    callbacks.alipay_bp,
    recharge.bp,
    admin.bp,
    refunds.bp,
    reports.bp,
    onboarding.bp,
    till.bp,
)
