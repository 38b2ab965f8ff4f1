"""Brands, stores, staff, WeChat/Alipay apps, merchant accounts and payment routes."""
