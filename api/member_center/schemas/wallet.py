"""What crosses the wire for stored value: balances, ledger entries, recharge packages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from api.core.fields import Change, Len, Line, Omittable
from api.core.pagination import Page
from api.member_center.models import WalletEntry, WalletPackage
from api.member_center.wallet import WalletBalance

Name = Annotated[str, Line, Len(1, 64)]
MAX_FEN = 100_000_000  # ¥1,000,000: far above any sane recharge
PayFen = Annotated[int, Field(gt=0, le=MAX_FEN)]
BonusFen = Annotated[int, Field(ge=0, le=MAX_FEN)]


class WalletPackageOut(BaseModel):
    id: int
    name: str
    pay_fen: int
    bonus_fen: int
    receive_fen: int
    active: bool

    @classmethod
    def of(cls, package: WalletPackage) -> WalletPackageOut:
        return cls(
            id=package.id,
            name=package.name,
            pay_fen=package.pay_fen,
            bonus_fen=package.bonus_fen,
            receive_fen=package.pay_fen + package.bonus_fen,
            active=package.active,
        )


class WalletPackageList(BaseModel):
    items: list[WalletPackageOut]


class WalletOut(BaseModel):
    principal_fen: int
    bonus_fen: int
    total_fen: int
    packages: list[WalletPackageOut]

    @classmethod
    def of(cls, balance: WalletBalance, packages: list[WalletPackage]) -> WalletOut:
        return cls(
            principal_fen=balance.principal_fen,
            bonus_fen=balance.bonus_fen,
            total_fen=balance.total_fen,
            packages=[WalletPackageOut.of(package) for package in packages],
        )


class WalletEntryOut(BaseModel):
    id: int
    kind: str
    amount_fen: int  # principal + bonus change, negative for money leaving the wallet
    principal_delta_fen: int
    bonus_delta_fen: int
    principal_after_fen: int
    bonus_after_fen: int
    reason: str
    created_at: datetime

    @classmethod
    def of(cls, entry: WalletEntry) -> WalletEntryOut:
        return cls(
            id=entry.id,
            kind=entry.kind.value,
            amount_fen=entry.principal_delta_fen + entry.bonus_delta_fen,
            principal_delta_fen=entry.principal_delta_fen,
            bonus_delta_fen=entry.bonus_delta_fen,
            principal_after_fen=entry.principal_after_fen,
            bonus_after_fen=entry.bonus_after_fen,
            reason=entry.reason,
            created_at=entry.created_at,
        )


class WalletEntryPage(Page[WalletEntryOut]):
    pass


class WalletPackageIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name
    pay_fen: PayFen
    bonus_fen: BonusFen = 0
    active: bool = True


class WalletPackagePatch(Change):
    model_config = ConfigDict(strict=True)

    name: Omittable[Name] = None
    pay_fen: Omittable[PayFen] = None
    bonus_fen: Omittable[BonusFen] = None
    active: Omittable[bool] = None
