"""Money is an integer number of fen inside; yuan strings exist only at provider boundaries."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def yuan_to_fen(yuan: str) -> int:
    """Convert an exact yuan string such as "12.30" to fen; refuses more than two decimals."""
    try:
        amount = Decimal(yuan)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {yuan!r}") from exc
    fen = amount * 100
    if fen != fen.to_integral_value() or not amount.is_finite():
        raise ValueError(f"not a whole number of fen: {yuan!r}")
    return int(fen)


def fen_to_yuan(fen: int) -> str:
    """Format fen as the yuan string Alipay expects ("12.30")."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"
