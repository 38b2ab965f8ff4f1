from tortoise import migrations
from tortoise.migrations import operations as ops
from api.wechat_callbacks.models import DeliveryStatus, QrTarget
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('memberhub', '0017_staff_oa')]

    initial = False

    operations = [
        ops.CreateModel(
            name='WechatMessageDelivery',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('key', fields.CharField(unique=True, max_length=191)),
                ('member_id', fields.IntField()),
                ('event', fields.CharField(max_length=32)),
                ('status', fields.CharEnumField(default=DeliveryStatus.SENDING, description='SENDING: sending\nSENT: sent\nREFUSED: refused\nNO_RECIPIENT: no_recipient', enum_type=DeliveryStatus, max_length=16)),
                ('channel', fields.CharField(default='', max_length=24)),
                ('appid', fields.CharField(default='', max_length=32)),
                ('errcode', fields.IntField(null=True)),
                ('msgid', fields.BigIntField(null=True)),
                ('claimed_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'wx_message_delivery', 'app': 'memberhub', 'indexes': [Index(fields=['brand_id', 'member_id'])], 'pk_attr': 'id', 'table_description': "What became of one member message: the channel it took and WeChat's answer."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WechatQrCode',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=24)),
                ('target', fields.CharEnumField(description='STORE: store\nGUIDE: guide', enum_type=QrTarget, max_length=8)),
                ('store', fields.ForeignKeyField('memberhub.Store', source_field='store_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('staff', fields.ForeignKeyField('memberhub.Staff', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('appid', fields.CharField(max_length=32)),
                ('scene', fields.CharField(max_length=64)),
                ('ticket', fields.CharField(default='', max_length=255)),
                ('url', fields.CharField(default='', max_length=255)),
                ('page', fields.CharField(default='', max_length=128)),
                ('png', fields.BinaryField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'wx_qrcode', 'app': 'memberhub', 'unique_together': (('appid', 'scene', 'page'),), 'pk_attr': 'id', 'table_description': "A store's or a guide's QR code in one app: what WeChat answered, and the image."},
            bases=['Model'],
        ),
    ]
