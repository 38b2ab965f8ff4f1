from tortoise import migrations
from tortoise.migrations import operations as ops
from api.payments.models import DifferenceKind, ReconciliationState
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('memberhub', '0009_onboarding')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ReconciliationRun',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand_id', fields.IntField()),
                ('account', fields.ForeignKeyField('memberhub.MerchantAccount', source_field='account_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('day', fields.DateField()),
                ('state', fields.CharEnumField(description='MATCHED: matched\nDIFFERENCES: differences\nFAILED: failed', enum_type=ReconciliationState, max_length=16)),
                ('error', fields.CharField(default='', max_length=255)),
                ('payments_ours', fields.IntField(default=0)),
                ('payments_theirs', fields.IntField(default=0)),
                ('refunds_ours', fields.IntField(default=0)),
                ('refunds_theirs', fields.IntField(default=0)),
                ('paid_ours_fen', fields.BigIntField(default=0)),
                ('paid_theirs_fen', fields.BigIntField(default=0)),
                ('refunded_ours_fen', fields.BigIntField(default=0)),
                ('refunded_theirs_fen', fields.BigIntField(default=0)),
                ('differences', fields.IntField(default=0)),
                ('reconciled_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'pay_reconciliation_run', 'app': 'memberhub', 'unique_together': (('account', 'day'),), 'indexes': [Index(fields=['brand_id', 'day'])], 'pk_attr': 'id', 'table_description': "One merchant account's bill of one day compared with our payments and refunds."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReconciliationDifference',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('run', fields.ForeignKeyField('memberhub.ReconciliationRun', source_field='run_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='MISSING_HERE: missing_here\nMISSING_THERE: missing_there\nAMOUNT_MISMATCH: amount_mismatch\nSTATUS_MISMATCH: status_mismatch', enum_type=DifferenceKind, max_length=16)),
                ('line_kind', fields.CharField(max_length=8)),
                ('out_trade_no', fields.CharField(max_length=64)),
                ('out_refund_no', fields.CharField(default='', max_length=64)),
                ('transaction_id', fields.CharField(default='', max_length=64)),
                ('payment_id', fields.IntField(null=True)),
                ('ours_amount_fen', fields.BigIntField(null=True)),
                ('theirs_amount_fen', fields.BigIntField(null=True)),
                ('ours_state', fields.CharField(default='', max_length=20)),
                ('theirs_state', fields.CharField(default='', max_length=20)),
            ],
            options={'table': 'pay_reconciliation_difference', 'app': 'memberhub', 'indexes': [Index(fields=['run_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One line on which a bill and our books disagree, with what each side says.'},
            bases=['Model'],
        ),
    ]
