"""Coupons: templates, issuing without over-issue, the member's wallet, expiry."""
