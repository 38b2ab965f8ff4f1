"""The error codes the mall answers with, one enum per prefix (part of the HTTP contract)."""

from __future__ import annotations

from enum import StrEnum


class CatalogueErrorCode(StrEnum):
    CATEGORY_NOT_FOUND = "category.not_found"
    CATEGORY_EXISTS = "category.exists"
    PRODUCT_NOT_FOUND = "product.not_found"
    SKU_NOT_FOUND = "sku.not_found"
    SKU_CODE_TAKEN = "sku.code_taken"
    STOCK_BELOW_ZERO = "sku.stock_below_zero"
    STORE_NOT_FOUND = "sku.store_not_found"
    IMPORT_INVALID = "product_import.invalid"
    IMPORT_BAD_HEADER = "product_import.bad_header"


class CartErrorCode(StrEnum):
    ITEM_NOT_FOUND = "cart.item_not_found"
    SKU_UNAVAILABLE = "cart.sku_unavailable"
    TOO_MANY = "cart.too_many"


class MallOrderErrorCode(StrEnum):
    NOT_FOUND = "mall_order.not_found"
    EMPTY = "mall_order.empty"
    ITEMS_INVALID = "mall_order.items_invalid"  # neither or both of items and from_cart
    SKU_UNAVAILABLE = "mall_order.sku_unavailable"
    OUT_OF_STOCK = "mall_order.out_of_stock"
    ADDRESS_REQUIRED = "mall_order.address_required"
    STORE_REQUIRED = "mall_order.store_required"
    STORE_NOT_FOUND = "mall_order.store_not_found"
    KEY_REUSED = "mall_order.key_reused"
    NOT_CANCELLABLE = "mall_order.not_cancellable"
    NOT_PAYABLE = "mall_order.not_payable"
    POINTS_NOT_ALLOWED = "mall_order.points_not_allowed"
    INVALID_TRANSITION = "mall_order.invalid_transition"


class PickupErrorCode(StrEnum):
    NOT_FOUND = "pickup.not_found"
    WRONG_STORE = "pickup.wrong_store"
    ALREADY_PICKED_UP = "pickup.already_picked_up"
    NOT_READY = "pickup.not_ready"


class MallRefundErrorCode(StrEnum):
    NOT_FOUND = "mall_refund.not_found"
    NOT_REFUNDABLE = "mall_refund.not_refundable"  # the order is not paid
    TOO_MANY = "mall_refund.too_many"  # more units than are left to refund
    LINE_NOT_FOUND = "mall_refund.line_not_found"
    NOT_REQUESTED = "mall_refund.not_requested"  # decided already
