"""What crosses the wire for the bulk onboarding of franchise stores."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from .models import OnboardingJob, OnboardingState

CSV_DESCRIPTION = (
    "UTF-8 CSV, first line the header `store_code,name,city,kind,wechat_sub_mchid,"
    "wechat_sub_appid,alipay_app_auth_token` (store_code and name required, the others may be "
    "left out, any order), then one store per line, at most 5,000. kind: franchise (default) or "
    "direct. A franchise store names its franchisee's WeChat Pay sub_mchid (10 digits, optional "
    "sub_appid) and/or the app_auth_token of its authorisation of the brand's Alipay app; a "
    "direct store names neither."
)


class OnboardingAcceptedOut(BaseModel):
    """The onboarding is queued: follow it at GET /admin/payment-onboarding/{id}."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    state: OnboardingState
    total: int = Field(description="stores in the file")


class OnboardingLineError(BaseModel):
    line: int = Field(description="the file's line number (1 is the header; 0: the whole file)")
    message: str


class OnboardingOut(BaseModel):
    """An onboarding: its state (queued → checking → writing → done | failed), its progress and
    its outcome. Nothing is written unless it is done."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    state: OnboardingState
    total: int = Field(description="stores in the file")
    checked: int = Field(description="lines validated and checked with the platforms")
    written: int = Field(description="lines written: 0 until done, then all of them")
    errors: list[OnboardingLineError] = Field(description="why it failed, line by line")
    result: dict[str, int] = Field(
        description="when done: stores_created/_updated/_unchanged, wechat_accounts_created/"
        "_updated, alipay_accounts_created/_updated, routes_created/_repointed/_unchanged/_disabled, "
        "and check_ms / write_ms: how long the platform checks and the writing took"
    )
    actor: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: OnboardingJob) -> OnboardingOut:
        return cls.model_validate(job)
