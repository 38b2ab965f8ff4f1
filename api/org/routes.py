from sanic import Blueprint

bp = Blueprint("org", url_prefix="/api/v1")
