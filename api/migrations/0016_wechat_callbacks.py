from tortoise import migrations
from tortoise.migrations import operations as ops
from api.wechat_callbacks.models import MatchKind, MenuEventKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('memberhub', '0015_order_coupons')]

    initial = False

    operations = [
        ops.CreateModel(
            name='WechatAutoReply',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('keyword', fields.CharField(max_length=32)),
                ('match', fields.CharEnumField(default=MatchKind.EXACT, description='EXACT: exact\nCONTAINS: contains', enum_type=MatchKind, max_length=8)),
                ('reply_text', fields.TextField(unique=False)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'wx_auto_reply', 'app': 'memberhub', 'unique_together': (('brand', 'keyword', 'match'),), 'pk_attr': 'id', 'table_description': 'A keyword and the text the official account answers a message matching it with.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WechatMenuEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('appid', fields.CharField(max_length=32)),
                ('openid', fields.CharField(max_length=64)),
                ('kind', fields.CharEnumField(description='CLICK: click\nVIEW: view', enum_type=MenuEventKind, max_length=8)),
                ('key', fields.CharField(default='', max_length=255)),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'wx_menu_event', 'app': 'memberhub', 'indexes': [Index(fields=['brand_id', 'occurred_at'])], 'pk_attr': 'id', 'table_description': 'One press of an official-account menu button, as WeChat reported it.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='MemberIdentity',
            name='unsubscribed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
