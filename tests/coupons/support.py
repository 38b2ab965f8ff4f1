"""Templates for the coupon tests, made through the service as head office would."""

from __future__ import annotations

from typing import Any

from api.coupons import templates
from api.coupons.models import CouponKind, CouponTemplate
from api.coupons.templates import TemplateSpec
from api.org.models import Brand


async def active_template(brand: Brand, **fields: Any) -> CouponTemplate:
    """An active cash-off template: 10 yuan off 100, valid 7 days, as `fields` override."""
    values: dict[str, Any] = {
        "name": "10 off 100",
        "kind": CouponKind.CASH_OFF,
        "value_fen": 1_000,
        "threshold_fen": 10_000,
        "total_stock": 100,
        "valid_days": 7,
    }
    values.update(fields)
    template = await templates.create_template(
        brand_id=brand.id, actor="staff:test", spec=TemplateSpec(**values)
    )
    return await templates.change_state(
        brand_id=brand.id, actor="staff:test", template_id=template.id, action="activate"
    )
