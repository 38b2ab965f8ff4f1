"""Merging two members into one: every balance, coupon, relation and tag moves to the survivor."""
