from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('memberhub', '0001_initial')]

    initial = False

    operations = [
        ops.AddField(
            model_name='AlipayApp',
            name='aes_key_enc',
            field=fields.TextField(null=True, unique=False),
        ),
    ]
