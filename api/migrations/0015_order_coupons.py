from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('memberhub', '0014_points_mall')]

    initial = False

    operations = [
        ops.CreateModel(
            name='OrderCoupon',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand_id', fields.IntField()),
                ('order_ref', fields.CharField(max_length=64)),
                ('coupon_id', fields.IntField()),
                ('discount_fen', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'cp_order_coupon', 'app': 'memberhub', 'unique_together': (('order_ref', 'coupon_id'),), 'pk_attr': 'id', 'table_description': 'A coupon an order was priced with, and what it takes off that order.'},
            bases=['Model'],
        ),
    ]
