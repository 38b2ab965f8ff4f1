from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from api.coupons.models import IssueState
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('memberhub', '0012_coupon_use')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CouponIssue',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('template', fields.ForeignKeyField('memberhub.CouponTemplate', source_field='template_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('actor', fields.CharField(max_length=64)),
                ('tag_id', fields.IntField(null=True)),
                ('member_ids', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('state', fields.CharEnumField(default=IssueState.QUEUED, description='QUEUED: queued\nRUNNING: running\nDONE: done', enum_type=IssueState, max_length=16)),
                ('total', fields.IntField(default=0)),
                ('issued', fields.IntField(default=0)),
                ('skipped', fields.IntField(default=0)),
                ('skipped_reasons', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'cp_issue', 'app': 'memberhub', 'indexes': [Index(fields=['brand_id', 'id'])], 'pk_attr': 'id', 'table_description': 'Head office issuing one template to a list of members or to a tag, run as a job.'},
            bases=['Model'],
        ),
    ]
