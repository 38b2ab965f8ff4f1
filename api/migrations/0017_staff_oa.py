from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from api.wechat_callbacks.models import MenuKind
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('memberhub', '0016_wechat_callbacks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='StaffInvite',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('staff', fields.ForeignKeyField('memberhub.Staff', source_field='staff_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('appid', fields.CharField(max_length=32)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('used_openid', fields.CharField(null=True, max_length=64)),
                ('created_by', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'wx_staff_invite', 'app': 'memberhub', 'pk_attr': 'id', 'table_description': 'A one-time invite for a staff member to bind their WeChat, behind a temporary QR code.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StaffWechatBinding',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('staff', fields.ForeignKeyField('memberhub.Staff', source_field='staff_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('appid', fields.CharField(max_length=32)),
                ('openid', fields.CharField(max_length=64)),
                ('bound_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'wx_staff_binding', 'app': 'memberhub', 'unique_together': (('staff', 'appid'), ('appid', 'openid')), 'pk_attr': 'id', 'table_description': "A staff member's WeChat (their OpenID on one official account): one per staff per app,"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WechatMenu',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('appid', fields.CharField(max_length=32)),
                ('kind', fields.CharEnumField(description='CONSUMER: consumer\nSTAFF: staff', enum_type=MenuKind, max_length=8)),
                ('buttons', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('conditional_menuid', fields.CharField(null=True, max_length=32)),
                ('published_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'wx_menu', 'app': 'memberhub', 'unique_together': (('appid', 'kind'),), 'pk_attr': 'id', 'table_description': "Head office's consumer or staff menu of an official account, in WeChat's `button` form."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WechatStaffTag',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('memberhub.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('appid', fields.CharField(unique=True, max_length=32)),
                ('tag_id', fields.IntField()),
                ('name', fields.CharField(max_length=30)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'wx_staff_tag', 'app': 'memberhub', 'pk_attr': 'id', 'table_description': "The user tag that marks staff on an official account (WeChat's id, created once)."},
            bases=['Model'],
        ),
    ]
