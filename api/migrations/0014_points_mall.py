from tortoise import migrations
from tortoise.migrations import operations as ops
from api.coupons.models import ExchangeState, MallItemKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('memberhub', '0013_coupon_issue')]

    initial = False

    operations = [
        ops.CreateModel(
            name='MallItem',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='COUPON: coupon\nGIFT: gift', enum_type=MallItemKind, max_length=16)),
                ('name', fields.CharField(max_length=64)),
                ('description', fields.CharField(default='', max_length=255)),
                ('image_url', fields.CharField(default='', max_length=512)),
                ('points_price', fields.IntField()),
                ('template', fields.ForeignKeyField('memberhub.CouponTemplate', source_field='template_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('stock_left', fields.IntField(default=0)),
                ('per_member_limit', fields.IntField(null=True)),
                ('on_shelf', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'pm_item', 'app': 'memberhub', 'indexes': [Index(fields=['brand_id', 'on_shelf'])], 'pk_attr': 'id', 'table_description': 'Something a member can get for points: a coupon of a template, or a gift with stock.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MallExchange',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('memberhub.Member', source_field='member_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('item', fields.ForeignKeyField('memberhub.MallItem', source_field='item_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='COUPON: coupon\nGIFT: gift', enum_type=MallItemKind, max_length=16)),
                ('key', fields.CharField(max_length=128)),
                ('points', fields.IntField()),
                ('state', fields.CharEnumField(description='ISSUING: issuing\nISSUED: issued\nFAILED: failed\nAWAITING_PICKUP: awaiting_pickup\nCOLLECTED: collected\nCANCELLED: cancelled', enum_type=ExchangeState, max_length=16)),
                ('coupon_id', fields.IntField(null=True)),
                ('failure_code', fields.CharField(null=True, max_length=64)),
                ('store_id', fields.IntField(null=True)),
                ('pickup_code', fields.CharField(null=True, unique=True, max_length=12)),
                ('collected_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('collected_staff_id', fields.IntField(null=True)),
                ('cancelled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'pm_exchange', 'app': 'memberhub', 'unique_together': (('brand', 'key'),), 'indexes': [Index(fields=['member_id', 'item_id']), Index(fields=['state', 'updated_at'])], 'pk_attr': 'id', 'table_description': 'One exchange of points for a mall item, once per (brand, key).'},
            bases=['Model'],
        ),
    ]
