"""The sandbox's HTTP client towards memberhub: notifications and pushes, as the platforms send them."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def _tls() -> ssl.SSLContext:
    # Reading the CA bundle costs about a tenth of a second of CPU: once per process, not per call.
    return ssl.create_default_context()


def client(*, timeout: float) -> httpx.AsyncClient:
    """A fresh client (its own connections) sharing the process's one TLS context."""
    return httpx.AsyncClient(timeout=timeout, verify=_tls())
