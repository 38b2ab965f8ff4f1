from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('memberhub', '0019_mall')]

    initial = False

    operations = [
        ops.AddField(
            model_name='MallOrder',
            name='shipping_uploaded_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
