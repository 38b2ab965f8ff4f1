"""Members and everything that hangs off one: identities, levels, points, wallet, relations, tags."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from api.org.models import Brand, Staff, Store


class MemberStatus(StrEnum):
    VISITOR = "visitor"  # seen through an OpenID only
    MEMBER = "member"  # phone bound, or paid
    MERGED = "merged"  # folded into another member; `merged_into` points at the survivor
    ERASED = "erased"  # personal data removed on request; ledgers kept for accounting


class IdentityKind(StrEnum):
    WECHAT_OPENID = "wechat_openid"  # per app: `app_id` holds the appid
    WECHAT_UNIONID = "wechat_unionid"
    ALIPAY_USER = "alipay_user"
    PHONE = "phone"  # `value` holds the phone's lookup hash, never the number
    EXTERNAL = "external"  # an external CRM id; `app_id` names the CRM


class Gender(StrEnum):
    UNKNOWN = "unknown"
    MALE = "male"
    FEMALE = "female"


class Level(Model):
    """A member tier of the brand, reached by growth (paid amounts and configured actions)."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    name = fields.CharField(max_length=32)
    rank = fields.IntField()  # 0 is the entry level
    growth_threshold = fields.IntField(default=0)
    points_rate_pct = fields.IntField(default=100)  # 150 → points earned ×1.5
    discount_pct = fields.IntField(default=100)  # 95 → pays 95 % of the price
    free_delivery = fields.BooleanField(default=False)
    birthday_coupon = fields.BooleanField(default=False)
    benefits: list[Any] = fields.JSONField(default=list)  # display lines for the member center  # type: ignore[assignment]
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "mc_level"
        unique_together = (("brand", "rank"),)


class Member(Model):
    """One person inside one brand, with one points balance, one wallet and one level."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    member_no = fields.CharField(max_length=20)
    status = fields.CharEnumField(MemberStatus, max_length=16, default=MemberStatus.VISITOR)
    merged_into: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "memberhub.Member", null=True, related_name=False
    )
    merged_into_id: int | None

    nickname = fields.CharField(max_length=64, default="")
    avatar_url = fields.CharField(max_length=512, default="")
    gender = fields.CharEnumField(Gender, max_length=8, default=Gender.UNKNOWN)
    birthday = fields.DateField(null=True)
    phone_enc = fields.TextField(null=True)  # api.core.crypto.encrypt
    phone_masked = fields.CharField(max_length=16, default="")

    level: fields.ForeignKeyNullableRelation[Level] = fields.ForeignKeyField(
        "memberhub.Level", null=True, related_name=False
    )
    level_id: int | None
    growth = fields.IntField(default=0)
    year_growth = fields.IntField(default=0)  # growth since the last requalification
    points_balance = fields.IntField(default=0)
    wallet_principal_fen = fields.BigIntField(default=0)
    wallet_bonus_fen = fields.BigIntField(default=0)

    home_store: fields.ForeignKeyNullableRelation[Store] = fields.ForeignKeyField(
        "memberhub.Store", null=True, related_name=False
    )
    home_store_id: int | None
    guide: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "memberhub.Staff", null=True, related_name=False
    )
    guide_id: int | None

    registered_at = fields.DatetimeField(null=True)  # became a member (phone bound or paid)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "mc_member"
        unique_together = (("brand", "member_no"),)
        indexes = (("brand_id", "registered_at"),)


class MemberIdentity(Model):
    """A key that points at a member: an OpenID of one app, a UnionID, an Alipay id, a phone."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "memberhub.Member", related_name="identities"
    )
    member_id: int
    kind = fields.CharEnumField(IdentityKind, max_length=16)
    app_id = fields.CharField(max_length=64, default="")
    value = fields.CharField(max_length=128)
    created_at = fields.DatetimeField(auto_now_add=True)
    # An official-account OpenID whose user unfollowed: when (cleared when they follow again).
    unsubscribed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "mc_identity"
        unique_together = (("brand", "kind", "app_id", "value"),)


class PointsEntryKind(StrEnum):
    EARN = "earn"
    SPEND = "spend"
    EXPIRE = "expire"
    ADJUST = "adjust"
    REVERSE = "reverse"  # an earn taken back (refund) or a spend given back
    MERGE_IN = "merge_in"
    MERGE_OUT = "merge_out"


class PointsEntry(Model):
    """The append-only points ledger: one row per change, unique by its business key."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "memberhub.Member", related_name=False
    )
    member_id: int
    key = fields.CharField(max_length=128)  # e.g. "order:123:earn"
    kind = fields.CharEnumField(PointsEntryKind, max_length=16)
    delta = fields.IntField()
    balance_after = fields.IntField()
    reason = fields.CharField(max_length=255, default="")
    actor = fields.CharField(max_length=64, default="")  # "staff:12", "system", "member:3"
    created_at = fields.DatetimeField()

    class Meta:
        table = "mc_points_entry"
        unique_together = (("brand", "key"),)
        indexes = (("member_id", "id"),)


class PointsLot(Model):
    """Earned points that expire together. Spending drains the oldest lots first."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "memberhub.Member", related_name=False
    )
    member_id: int
    entry: fields.ForeignKeyRelation[PointsEntry] = fields.ForeignKeyField(
        "memberhub.PointsEntry", related_name=False
    )
    entry_id: int
    amount = fields.IntField()
    remaining = fields.IntField()
    available_at = fields.DatetimeField()  # frozen until then (purchase points, refund window)
    expires_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "mc_points_lot"
        indexes = (("member_id", "expires_at"), ("expires_at", "remaining"))


class WalletEntryKind(StrEnum):
    RECHARGE = "recharge"
    SPEND = "spend"
    REFUND = "refund"  # money given back to the wallet (an order refunded)
    WITHDRAW = "withdraw"  # principal paid back to the member (a recharge refunded)
    ADJUST = "adjust"
    MERGE_IN = "merge_in"
    MERGE_OUT = "merge_out"


class WalletEntry(Model):
    """The stored-value ledger. Principal (money paid) and bonus (given) are kept apart."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "memberhub.Member", related_name=False
    )
    member_id: int
    key = fields.CharField(max_length=128)
    kind = fields.CharEnumField(WalletEntryKind, max_length=16)
    principal_delta_fen = fields.BigIntField()
    bonus_delta_fen = fields.BigIntField()
    principal_after_fen = fields.BigIntField()
    bonus_after_fen = fields.BigIntField()
    reason = fields.CharField(max_length=255, default="")
    actor = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField()

    class Meta:
        table = "mc_wallet_entry"
        unique_together = (("brand", "key"),)
        indexes = (("member_id", "id"),)


class WalletPackage(Model):
    """A recharge offer configured by head office: pay 500, get 550."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    name = fields.CharField(max_length=64)
    pay_fen = fields.BigIntField()
    bonus_fen = fields.BigIntField(default=0)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "mc_wallet_package"


class RelationSource(StrEnum):
    STORE_QR = "store_qr"
    GUIDE_QR = "guide_qr"
    PAYMENT = "payment"
    ADMIN = "admin"  # head office reassigned it


class MemberRelation(Model):
    """The store and guide a member belongs to, with history (ended rows keep `ended_at`)."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "memberhub.Member", related_name=False
    )
    member_id: int
    store: fields.ForeignKeyNullableRelation[Store] = fields.ForeignKeyField(
        "memberhub.Store", null=True, related_name=False
    )
    store_id: int | None
    guide: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "memberhub.Staff", null=True, related_name=False
    )
    guide_id: int | None
    source = fields.CharEnumField(RelationSource, max_length=16)
    scene = fields.CharField(max_length=64, default="")
    started_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)

    class Meta:
        table = "mc_relation"
        indexes = (("member_id", "ended_at"), ("guide_id", "ended_at"))


class TagGroup(Model):
    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    name = fields.CharField(max_length=32)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "mc_tag_group"
        unique_together = (("brand", "name"),)


class TagKind(StrEnum):
    MANUAL = "manual"  # set by head office
    GUIDE = "guide"  # set by a shopping guide face to face
    AUTO = "auto"  # computed by the marketing workers


class Tag(Model):
    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    group: fields.ForeignKeyNullableRelation[TagGroup] = fields.ForeignKeyField(
        "memberhub.TagGroup", null=True, related_name=False
    )
    group_id: int | None
    name = fields.CharField(max_length=32)
    kind = fields.CharEnumField(TagKind, max_length=8, default=TagKind.MANUAL)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "mc_tag"
        unique_together = (("brand", "name"),)


class MemberTag(Model):
    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "memberhub.Member", related_name=False
    )
    member_id: int
    tag: fields.ForeignKeyRelation[Tag] = fields.ForeignKeyField(
        "memberhub.Tag", related_name=False
    )
    tag_id: int
    tagged_by = fields.CharField(max_length=64, default="")  # "staff:12"
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "mc_member_tag"
        unique_together = (("member", "tag"),)


class WalletRefund(Model):
    """Links a wallet REFUND entry to the spend it gives back, so refunds never exceed the spend."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    spend_entry: fields.ForeignKeyRelation[WalletEntry] = fields.ForeignKeyField(
        "memberhub.WalletEntry", related_name=False
    )
    spend_entry_id: int
    refund_entry: fields.OneToOneRelation[WalletEntry] = fields.OneToOneField(
        "memberhub.WalletEntry", related_name=False
    )
    refund_entry_id: int
    principal_fen = fields.BigIntField()
    bonus_fen = fields.BigIntField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "mc_wallet_refund"


class GrowthEntryKind(StrEnum):
    EARN = "earn"
    REQUALIFY = "requalify"  # the yearly check: level kept or lowered, year_growth reset
    MERGE_IN = "merge_in"
    MERGE_OUT = "merge_out"
    REVERSE = "reverse"  # growth taken back (a payment refunded)


class GrowthEntry(Model):
    """The growth ledger: one row per growth credit, requalification or merge, unique by its key."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "memberhub.Member", related_name=False
    )
    member_id: int
    key = fields.CharField(max_length=128)  # "order:123:growth", "requalify:2025:member:7"
    kind = fields.CharEnumField(GrowthEntryKind, max_length=16)
    delta = fields.IntField()
    growth_after = fields.IntField()
    year_growth_after = fields.IntField()
    level: fields.ForeignKeyNullableRelation[Level] = fields.ForeignKeyField(
        "memberhub.Level", null=True, related_name=False
    )
    level_id: int | None
    created_at = fields.DatetimeField()

    class Meta:
        table = "mc_growth_entry"
        unique_together = (("brand", "key"),)
        indexes = (("member_id", "id"),)
