from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from api.payments.models import DeliveryOutcome, PaymentMethod, PaymentPurpose, PaymentState, RefundState
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('memberhub', '0005_audit_request_id')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Payment',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('account', fields.ForeignKeyField('memberhub.MerchantAccount', source_field='account_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('store', fields.ForeignKeyField('memberhub.Store', source_field='store_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('member_id', fields.IntField(null=True)),
                ('method', fields.CharEnumField(description='WECHATPAY_V3: wechatpay_v3\nWECHATPAY_V2: wechatpay_v2\nALIPAY: alipay\nWALLET: wallet', enum_type=PaymentMethod, max_length=16)),
                ('purpose', fields.CharEnumField(description='RECHARGE: recharge\nPOS: pos\nMALL: mall', enum_type=PaymentPurpose, max_length=16)),
                ('details', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('out_trade_no', fields.CharField(max_length=32)),
                ('amount_fen', fields.BigIntField()),
                ('refunded_fen', fields.BigIntField(default=0)),
                ('description', fields.CharField(max_length=127)),
                ('state', fields.CharEnumField(default=PaymentState.CREATED, description='CREATED: created\nPAID: paid\nPARTIALLY_REFUNDED: partially_refunded\nREFUNDED: refunded\nCLOSED: closed', enum_type=PaymentState, max_length=20)),
                ('transaction_id', fields.CharField(null=True, max_length=64)),
                ('payer_kind', fields.CharField(default='', max_length=16)),
                ('payer_app_id', fields.CharField(default='', max_length=32)),
                ('payer_id', fields.CharField(default='', max_length=64)),
                ('points_earned', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('paid_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('checked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'pay_payment', 'app': 'memberhub', 'unique_together': (('account', 'out_trade_no'), ('method', 'transaction_id')), 'indexes': [Index(fields=['state', 'created_at']), Index(fields=['brand_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One payment on one merchant account, moved only by guarded updates on `state`.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PaymentDelivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand_id', fields.IntField(null=True)),
                ('account_key', fields.CharField(max_length=32)),
                ('channel', fields.CharField(max_length=16)),
                ('payment_id', fields.IntField(null=True)),
                ('out_trade_no', fields.CharField(default='', max_length=64)),
                ('notification_id', fields.CharField(default='', max_length=64)),
                ('kind', fields.CharField(default='', max_length=16)),
                ('verified', fields.BooleanField(default=False)),
                ('outcome', fields.CharEnumField(description='APPLIED: applied\nDUPLICATE: duplicate\nREFUSED: refused\nFAILED: failed', enum_type=DeliveryOutcome, max_length=16)),
                ('reason', fields.CharField(default='', max_length=255)),
                ('body_sha256', fields.CharField(max_length=64)),
                ('request_id', fields.CharField(default='', max_length=64)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'pay_delivery', 'app': 'memberhub', 'indexes': [Index(fields=['payment_id']), Index(fields=['account_key', 'id'])], 'pk_attr': 'id', 'table_description': 'Every notification delivery received, verified or not: the log head office reads.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PaymentRefund',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand_id', fields.IntField()),
                ('payment', fields.ForeignKeyField('memberhub.Payment', source_field='payment_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('out_refund_no', fields.CharField(max_length=64)),
                ('amount_fen', fields.BigIntField()),
                ('reason', fields.CharField(default='', max_length=80)),
                ('state', fields.CharEnumField(default=RefundState.PROCESSING, description='PROCESSING: processing\nSUCCEEDED: succeeded\nFAILED: failed', enum_type=RefundState, max_length=16)),
                ('refund_id', fields.CharField(null=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('succeeded_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'pay_refund', 'app': 'memberhub', 'unique_together': (('payment', 'out_refund_no'),), 'pk_attr': 'id', 'table_description': 'A refund of (part of) a payment, unique by its refund number on the payment.'},
            bases=['Model'],
        ),
    ]
