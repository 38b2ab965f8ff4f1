from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('memberhub', '0011_coupons')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Coupon',
            name='discount_fen',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='Coupon',
            name='reminded_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Coupon',
            name='used_channel',
            field=fields.CharField(null=True, max_length=8),
        ),
        ops.AddField(
            model_name='Coupon',
            name='used_staff_id',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Coupon',
            name='used_store_id',
            field=fields.IntField(null=True),
        ),
        ops.AddIndex(
            model_name='Coupon',
            index=Index(fields=['brand_id', 'used_at']),
        ),
        ops.AddField(
            model_name='CouponTemplate',
            name='category_ids',
            field=fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='CouponTemplate',
            name='gift_name',
            field=fields.CharField(default='', max_length=64),
        ),
        ops.AddField(
            model_name='CouponTemplate',
            name='product_ids',
            field=fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='CouponTemplate',
            name='stacks_with_coupons',
            field=fields.BooleanField(default=False),
        ),
    ]
