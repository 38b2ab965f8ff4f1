from tortoise import migrations
from tortoise.migrations import operations as ops
from api.member_center.models import GrowthEntryKind
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('memberhub', '0003_staff_token_version')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='GrowthEntry',
            options={'table': 'mc_growth_entry', 'app': 'memberhub', 'unique_together': (('brand', 'key'),), 'indexes': [Index(fields=['member_id', 'id'])], 'pk_attr': 'id', 'table_description': 'The growth ledger: one row per growth credit, requalification or merge, unique by its key.'},
        ),
        ops.AlterField(
            model_name='GrowthEntry',
            name='kind',
            field=fields.CharEnumField(description='EARN: earn\nREQUALIFY: requalify\nMERGE_IN: merge_in\nMERGE_OUT: merge_out', enum_type=GrowthEntryKind, max_length=16),
        ),
    ]
