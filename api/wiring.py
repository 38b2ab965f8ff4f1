"""What every entry point registers before it serves: token resolvers and merge steps.

The app (`create_app`), the worker (`workers.main.run_worker`) and the CLI (`memberhub …`) all
call `wire()` first. Registering here, explicitly, rather than as a side effect of importing
some route module, means a worker that merges members runs every domain's merge step even
though it never imports a route, and a process that forgot to wire refuses tokens loudly
(`api.core.auth.resolve`) instead of letting them through.
"""

from __future__ import annotations

import importlib
from typing import Any

from api.core.auth import TokenKind, register_resolver, registered_resolvers
from api.coupons.merging import move_coupons_for_merge
from api.mall.merging import move_mall_for_merge
from api.member_center import members
from api.member_center.merge import MergeStep, merge_steps, register_merge_step
from api.org import staff_auth

# Each domain that keeps rows per member adds the step that moves them to the survivor of a
# merge here (coupons, orders …). The member center's own rows move inside merge_members.
MERGE_STEPS: tuple[MergeStep, ...] = (move_coupons_for_merge, move_mall_for_merge)
# Job modules whose jobs the API queues: with the in-process queue (no Redis) the API process
# runs them itself, so it must know them; a worker knows them all anyway.
QUEUED_JOB_MODULES = (
    "workers.payments",
    "workers.coupons",
    "workers.wechat_callbacks",
    "workers.mall",
)


def wire() -> None:
    """Register every domain's token resolvers and merge steps; calling it again changes nothing."""
    register_resolver(TokenKind.MEMBER, members.resolve_member)
    register_resolver(TokenKind.STAFF, staff_auth.resolve_staff)
    for step in MERGE_STEPS:
        register_merge_step(step)
    for module in QUEUED_JOB_MODULES:
        importlib.import_module(module)


def registrations() -> dict[str, Any]:
    """What is registered in this process, by name: for tests and for a look from a shell."""

    def name(function: Any) -> str:
        return f"{function.__module__}.{function.__qualname__}"

    return {
        "resolvers": {kind.value: name(r) for kind, r in sorted(registered_resolvers().items())},
        "merge_steps": [name(step) for step in merge_steps()],
    }
