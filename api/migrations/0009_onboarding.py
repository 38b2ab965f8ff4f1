from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from api.payments.models import OnboardingState
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('memberhub', '0008_refunds')]

    initial = False

    operations = [
        ops.CreateModel(
            name='OnboardingJob',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('actor', fields.CharField(max_length=64)),
                ('state', fields.CharEnumField(default=OnboardingState.QUEUED, description='QUEUED: queued\nCHECKING: checking\nWRITING: writing\nDONE: done\nFAILED: failed', enum_type=OnboardingState, max_length=16)),
                ('csv_enc', fields.TextField(null=True, unique=False)),
                ('wechat_account_id', fields.IntField(null=True)),
                ('alipay_account_id', fields.IntField(null=True)),
                ('total', fields.IntField(default=0)),
                ('checked', fields.IntField(default=0)),
                ('written', fields.IntField(default=0)),
                ('errors', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('result', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'pay_onboarding_job', 'app': 'memberhub', 'indexes': [Index(fields=['brand_id', 'id'])], 'pk_attr': 'id', 'table_description': 'A bulk onboarding of franchise stores from one CSV file, all or nothing.'},
            bases=['Model'],
        ),
    ]
