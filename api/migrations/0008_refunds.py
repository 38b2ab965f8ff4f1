from tortoise import migrations
from tortoise.migrations import operations as ops
from api.member_center.models import GrowthEntryKind
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('memberhub', '0007_pos_orders')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='GrowthEntry',
            name='kind',
            field=fields.CharEnumField(description='EARN: earn\nREQUALIFY: requalify\nMERGE_IN: merge_in\nMERGE_OUT: merge_out\nREVERSE: reverse', enum_type=GrowthEntryKind, max_length=16),
        ),
        ops.AlterField(
            model_name='PaymentRefund',
            name='payment',
            field=fields.ForeignKeyField('memberhub.Payment', source_field='payment_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE),
        ),
        ops.AddField(
            model_name='PaymentRefund',
            name='actor',
            field=fields.CharField(default='', max_length=64),
        ),
        ops.AddField(
            model_name='PaymentRefund',
            name='checked_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='PaymentRefund',
            name='failure',
            field=fields.CharField(default='', max_length=64),
        ),
        ops.AddField(
            model_name='PaymentRefund',
            name='growth_clawed_back',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='PaymentRefund',
            name='points_clawed_back',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='PaymentRefund',
            name='points_unrecovered',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='PaymentRefund',
            name='wallet_bonus_fen',
            field=fields.BigIntField(default=0),
        ),
        ops.AddField(
            model_name='PaymentRefund',
            name='wallet_principal_fen',
            field=fields.BigIntField(default=0),
        ),
    ]
