from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from api.coupons.models import CostBearer, CouponKind, CouponSource, CouponState, TemplateState
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('memberhub', '0010_reconciliation')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CouponTemplate',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=64)),
                ('kind', fields.CharEnumField(description='CASH_OFF: cash_off\nPERCENT_OFF: percent_off\nFREE_DELIVERY: free_delivery\nGIFT: gift', enum_type=CouponKind, max_length=16)),
                ('value_fen', fields.IntField(null=True)),
                ('percent_off', fields.IntField(null=True)),
                ('cap_fen', fields.IntField(null=True)),
                ('threshold_fen', fields.IntField(default=0)),
                ('total_stock', fields.IntField()),
                ('issued', fields.IntField(default=0)),
                ('per_member_limit', fields.IntField(default=1)),
                ('per_member_daily_limit', fields.IntField(null=True)),
                ('valid_days', fields.IntField(null=True)),
                ('valid_from', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('valid_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('store_ids', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('channels', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('stacks_with_level_discount', fields.BooleanField(default=False)),
                ('cost_bearer', fields.CharEnumField(default=CostBearer.BRAND, description='BRAND: brand\nFRANCHISEE: franchisee', enum_type=CostBearer, max_length=16)),
                ('state', fields.CharEnumField(default=TemplateState.DRAFT, description='DRAFT: draft\nACTIVE: active\nPAUSED: paused\nENDED: ended', enum_type=TemplateState, max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'cp_template', 'app': 'memberhub', 'indexes': [Index(fields=['brand_id', 'state'])], 'pk_attr': 'id', 'table_description': 'A kind of coupon a brand offers, its stock and its limits.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Coupon',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('template', fields.ForeignKeyField('memberhub.CouponTemplate', source_field='template_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('memberhub.Member', source_field='member_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(unique=True, max_length=12)),
                ('key', fields.CharField(max_length=128)),
                ('source', fields.CharEnumField(description='CLAIM: claim\nADMIN: admin\nNEW_MEMBER: new_member\nPAYMENT_REWARD: payment_reward\nPOINTS_EXCHANGE: points_exchange\nCOMPENSATION: compensation', enum_type=CouponSource, max_length=16)),
                ('state', fields.CharEnumField(default=CouponState.AVAILABLE, description='AVAILABLE: available\nLOCKED: locked\nUSED: used\nEXPIRED: expired\nREVOKED: revoked', enum_type=CouponState, max_length=16)),
                ('issued_on', fields.DateField()),
                ('valid_from', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('valid_until', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('order_ref', fields.CharField(null=True, max_length=64)),
                ('locked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'cp_coupon', 'app': 'memberhub', 'unique_together': (('template', 'key'),), 'indexes': [Index(fields=['member_id', 'state']), Index(fields=['template_id', 'member_id']), Index(fields=['state', 'valid_until'])], 'pk_attr': 'id', 'table_description': 'One coupon of one member, from one template, issued once per (template, key).'},
            bases=['Model'],
        ),
    ]
