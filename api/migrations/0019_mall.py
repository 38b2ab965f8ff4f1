from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from api.mall.models import Fulfilment, OrderState
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('memberhub', '0016_wechat_callbacks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Category',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=64)),
                ('sort', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'mall_category', 'app': 'memberhub', 'unique_together': (('brand', 'name'),), 'pk_attr': 'id', 'table_description': 'A shelf of the catalogue.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MallOrder',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('member_id', fields.IntField()),
                ('key', fields.CharField(max_length=160)),
                ('request_hash', fields.CharField(max_length=64)),
                ('state', fields.CharEnumField(default=OrderState.PENDING_PAYMENT, description='PENDING_PAYMENT: pending_payment\nPAID: paid\nSHIPPED: shipped\nDELIVERED: delivered\nREADY_FOR_PICKUP: ready_for_pickup\nPICKED_UP: picked_up\nCOMPLETED: completed\nCANCELLED: cancelled\nCLOSED: closed', enum_type=OrderState, max_length=20)),
                ('fulfilment', fields.CharEnumField(description='DELIVERY: delivery\nPICKUP: pickup', enum_type=Fulfilment, max_length=16)),
                ('store_id', fields.IntField(null=True)),
                ('address', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('guide_code', fields.CharField(default='', max_length=32)),
                ('level_id', fields.IntField(null=True)),
                ('discount_pct', fields.IntField(default=100)),
                ('list_fen', fields.BigIntField()),
                ('member_price_discount_fen', fields.BigIntField(default=0)),
                ('level_discount_fen', fields.BigIntField(default=0)),
                ('coupon_discount_fen', fields.BigIntField(default=0)),
                ('points_used', fields.IntField(default=0)),
                ('points_discount_fen', fields.BigIntField(default=0)),
                ('delivery_fee_fen', fields.BigIntField(default=0)),
                ('payable_fen', fields.BigIntField()),
                ('payment_id', fields.IntField(null=True)),
                ('pickup_code', fields.CharField(null=True, max_length=6)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('paid_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cancelled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('picked_up_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('picked_up_staff_id', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'mall_order', 'app': 'memberhub', 'unique_together': (('brand', 'key'),), 'indexes': [Index(fields=['member_id', 'state']), Index(fields=['state', 'expires_at']), Index(fields=['brand_id', 'pickup_code'])], 'pk_attr': 'id', 'table_description': "A member's order: priced by the server when created, stock, coupons and points held."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MallOrderLine',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.ForeignKeyField('memberhub.MallOrder', source_field='order_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('sku_id', fields.IntField()),
                ('product_id', fields.IntField()),
                ('name', fields.CharField(max_length=64)),
                ('spec', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('quantity', fields.IntField()),
                ('unit_list_fen', fields.IntField()),
                ('list_fen', fields.BigIntField()),
                ('member_price_fen', fields.BigIntField()),
                ('level_discount_fen', fields.BigIntField(default=0)),
                ('coupon_fen', fields.BigIntField(default=0)),
                ('points_fen', fields.BigIntField(default=0)),
                ('points', fields.IntField(default=0)),
                ('payable_fen', fields.BigIntField()),
            ],
            options={'table': 'mall_order_line', 'app': 'memberhub', 'pk_attr': 'id', 'table_description': 'One SKU of an order and its share of every discount, in whole fen.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Product',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('category', fields.ForeignKeyField('memberhub.Category', source_field='category_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('name', fields.CharField(max_length=64)),
                ('description', fields.CharField(default='', max_length=1024)),
                ('images', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('on_shelf', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'mall_product', 'app': 'memberhub', 'indexes': [Index(fields=['brand_id', 'on_shelf'])], 'pk_attr': 'id', 'table_description': 'A product (SPU): what the shelf shows, sold as its SKUs.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Sku',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('product', fields.ForeignKeyField('memberhub.Product', source_field='product_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(max_length=32)),
                ('spec', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('list_price_fen', fields.IntField()),
                ('member_prices', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('stock', fields.IntField(default=0)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'mall_sku', 'app': 'memberhub', 'unique_together': (('brand', 'code'),), 'pk_attr': 'id', 'table_description': 'One sellable variant of a product: its spec, prices and central (delivery) stock.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CartItem',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand_id', fields.IntField()),
                ('member_id', fields.IntField()),
                ('sku', fields.ForeignKeyField('memberhub.Sku', source_field='sku_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('quantity', fields.IntField()),
                ('selected', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'mall_cart_item', 'app': 'memberhub', 'unique_together': (('member_id', 'sku'),), 'pk_attr': 'id', 'table_description': "A SKU in a member's cart."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StoreStock',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand_id', fields.IntField()),
                ('sku', fields.ForeignKeyField('memberhub.Sku', source_field='sku_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('store', fields.ForeignKeyField('memberhub.Store', source_field='store_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('stock', fields.IntField(default=0)),
            ],
            options={'table': 'mall_store_stock', 'app': 'memberhub', 'unique_together': (('sku', 'store'),), 'pk_attr': 'id', 'table_description': "A store's units of a SKU, for pickup there."},
            bases=['Model'],
        ),
    ]
