from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from api.payments.models import PosOrderState
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('memberhub', '0006_payments')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PosOrder',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('store', fields.ForeignKeyField('memberhub.Store', source_field='store_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('staff_id', fields.IntField()),
                ('member_id', fields.IntField(null=True)),
                ('items', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('amount_fen', fields.BigIntField()),
                ('discount_pct', fields.IntField(default=100)),
                ('discount_fen', fields.BigIntField(default=0)),
                ('payable_fen', fields.BigIntField()),
                ('state', fields.CharEnumField(default=PosOrderState.OPEN, description='OPEN: open\nPAYING: paying\nPENDING_CONFIRMATION: pending_confirmation\nPAID: paid\nCANCELLED: cancelled', enum_type=PosOrderState, max_length=24)),
                ('method', fields.CharField(default='', max_length=16)),
                ('attempt', fields.IntField(default=0)),
                ('attempt_key', fields.CharField(default='', max_length=100)),
                ('attempt_started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('payment_id', fields.IntField(null=True)),
                ('last_error', fields.CharField(default='', max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('paid_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'pos_order', 'app': 'memberhub', 'indexes': [Index(fields=['brand_id', 'id']), Index(fields=['payment_id']), Index(fields=['state', 'attempt_started_at'])], 'pk_attr': 'id', 'table_description': "A sale rung up at a store's till, priced once and paid by one attempt at a time."},
            bases=['Model'],
        ),
    ]
