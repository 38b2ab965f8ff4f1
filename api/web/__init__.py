"""The HTTP layer: what routes use to parse and answer, the OpenAPI document, /docs, callbacks.

Sanic stays here, in the routes modules and in `api.app`; services, models and workers never
import it, so a worker or a callback can call any service without a request.
"""
