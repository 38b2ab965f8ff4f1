from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('memberhub', '0004_growth_merge_kinds')]

    initial = False

    operations = [
        ops.AddField(
            model_name='AuditLog',
            name='request_id',
            field=fields.CharField(default='', max_length=64),
        ),
    ]
