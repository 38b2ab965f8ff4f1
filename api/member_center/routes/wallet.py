from sanic import Blueprint

bp = Blueprint("member_center_wallet", url_prefix="/api/v1")
