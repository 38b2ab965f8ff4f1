"""Every day each merchant account's bill is downloaded from the platform (the sandbox, over real
HTTP) and compared with our payments and refunds: every difference is reported, per account and
day, a rerun replaces the day's result, and head office gets one e-mail.

Payments here are made today by the wall clock, so the tests reconcile today (the job takes
yesterday)."""

from __future__ import annotations

import asyncio
import gzip
import io
import zipfile
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from api.core.errors import InvalidInput
from api.core.mail import MAIL_TOPIC
from api.core.models import OutboxMessage
from api.core.queue import REGISTRY
from api.org import accounts
from api.org.models import PaymentProvider, StaffRole, Status, Store
from api.payments import payments, reconciliation
from api.payments.models import (
    DifferenceKind,
    Payment,
    ReconciliationDifference,
    ReconciliationRun,
    ReconciliationState,
)
from api.payments.providers.alipay import _bill_text as alipay_bill_text
from api.payments.providers.alipay import parse_business_bill
from api.payments.providers.base import BillLineKind, Trade, TradeState
from api.payments.providers.wechatpay import _bill_text as wechat_bill_text
from api.payments.providers.wechatpay import parse_tradebill
from sandbox import keys
from tests.factories import (
    make_brand,
    make_staff,
    make_wechat_app,
    make_wechatpay_account,
    staff_token,
)
from tests.support.api import Api
from tests.support.player import Player

from .chain import Chain, make_chain
from .recon_support import (
    paid_here_only,
    paid_on,
    paid_there_only,
    payment_on,
    refund_both,
    refund_here,
    refund_there,
)

pytestmark = pytest.mark.usefixtures("live_url")


REPORT = "/admin/reports/reconciliation"


def _differences(rows: list[ReconciliationDifference]) -> set[tuple[str, str, str, str]]:
    return {(d.kind.value, d.line_kind, d.out_trade_no, d.out_refund_no) for d in rows}


async def _run_of(account_id: int) -> ReconciliationRun:
    return await ReconciliationRun.get(account_id=account_id, day=reconciliation.today())


async def _injected(chain: Chain, player: Player, account_name: str) -> dict[str, Any]:
    """On one account: a clean payment, each kind of difference, a refund on each side only."""
    account = getattr(chain, account_name)
    clean = await paid_on(account, player, appid=chain.appid, amount_fen=10_000)
    not_notified = await payment_on(account, appid=chain.appid, amount_fen=2_000)
    await player.pay(not_notified.out_trade_no, deliveries=0)
    changed = await paid_on(account, player, appid=chain.appid, amount_fen=3_000)
    await Payment.filter(id=changed.id).update(amount_fen=3_001)
    ours_only = await paid_here_only(account, amount_fen=4_000)
    theirs_only = await paid_there_only(account, player, appid=chain.appid, amount_fen=500)
    await refund_there(clean, amount_fen=1_000, out_refund_no="RTHERE1")
    await refund_here(clean, amount_fen=700, out_refund_no="RHERE1")
    return {
        "account": account,
        "expected": {
            ("status_mismatch", "payment", not_notified.out_trade_no, ""),
            ("amount_mismatch", "payment", changed.out_trade_no, ""),
            ("missing_there", "payment", ours_only.out_trade_no, ""),
            ("missing_here", "payment", theirs_only, ""),
            ("missing_here", "refund", clean.out_trade_no, "RTHERE1"),
            ("missing_there", "refund", clean.out_trade_no, "RHERE1"),
        },
        "not_notified": not_notified,
        "changed": changed,
    }


@pytest.mark.parametrize("account_name", ["hq_wechat", "franchise_wechat"])
async def test_every_injected_difference_on_a_wechat_pay_v3_account_is_reported(
    player: Player, account_name: str
) -> None:
    chain = await make_chain()
    given = await _injected(chain, player, account_name)

    runs = await reconciliation.reconcile_day(brand_id=chain.brand.id, day=reconciliation.today())

    assert len(runs) == 4  # every active account of the brand
    run = await _run_of(given["account"].id)
    rows = await ReconciliationDifference.filter(run_id=run.id)
    assert _differences(rows) == given["expected"]
    assert run.state is ReconciliationState.DIFFERENCES and run.differences == 6
    assert (run.payments_ours, run.payments_theirs) == (3, 4)
    assert (run.paid_ours_fen, run.paid_theirs_fen) == (10_000 + 3_001 + 4_000, 15_500)
    assert (run.refunds_ours, run.refunds_theirs) == (1, 1)
    assert (run.refunded_ours_fen, run.refunded_theirs_fen) == (700, 1_000)
    by_kind = {(d.kind, d.line_kind): d for d in rows}
    status = by_kind[DifferenceKind.STATUS_MISMATCH, "payment"]
    assert (status.ours_state, status.theirs_state) == ("created", "paid")
    assert status.payment_id == given["not_notified"].id
    amount = by_kind[DifferenceKind.AMOUNT_MISMATCH, "payment"]
    assert (amount.ours_amount_fen, amount.theirs_amount_fen) == (3_001, 3_000)
    others = [r for r in runs if r.account_id != given["account"].id]
    assert all(r.state is ReconciliationState.MATCHED and r.differences == 0 for r in others)


@pytest.mark.parametrize("account_name", ["hq_alipay", "franchise_alipay"])
async def test_every_injected_difference_on_an_alipay_account_is_reported(
    player: Player, account_name: str
) -> None:
    chain = await make_chain()
    given = await _injected(chain, player, account_name)

    await reconciliation.reconcile_day(brand_id=chain.brand.id, day=reconciliation.today())

    run = await _run_of(given["account"].id)
    rows = await ReconciliationDifference.filter(run_id=run.id)
    assert _differences(rows) == given["expected"]
    assert (run.payments_ours, run.payments_theirs) == (3, 4)
    assert (run.refunded_ours_fen, run.refunded_theirs_fen) == (700, 1_000)
    refund = next(d for d in rows if d.out_refund_no == "RTHERE1")
    assert (refund.theirs_state, refund.theirs_amount_fen) == ("success", 1_000)


async def test_a_v2_account_s_bill_is_downloaded_and_compared(player: Player) -> None:
    brand = await make_brand()
    app = await make_wechat_app(brand=brand)
    v2 = await make_wechatpay_account(
        brand=brand, app_id=app.appid, provider=PaymentProvider.WECHATPAY_V2
    )
    idle = await make_wechatpay_account(
        brand=brand, app_id=app.appid, provider=PaymentProvider.WECHATPAY_V2
    )
    paid = await paid_on(v2, player, appid=app.appid, amount_fen=8_800)
    ours_only = await paid_here_only(v2, amount_fen=100)

    await reconciliation.reconcile_day(brand_id=brand.id, day=reconciliation.today())

    run = await _run_of(v2.id)
    rows = await ReconciliationDifference.filter(run_id=run.id)
    assert _differences(rows) == {("missing_there", "payment", ours_only.out_trade_no, "")}
    assert (run.payments_theirs, run.paid_theirs_fen) == (1, paid.amount_fen)
    empty = await _run_of(idle.id)  # "No Bill Exist": a day without trades
    assert (empty.state, empty.payments_theirs, empty.error) == (ReconciliationState.MATCHED, 0, "")


async def test_a_clean_day_reports_no_difference(player: Player) -> None:
    chain = await make_chain()
    for account in (chain.hq_wechat, chain.franchise_wechat, chain.hq_alipay):
        first = await paid_on(account, player, appid=chain.appid, amount_fen=5_000)
        await paid_on(account, player, appid=chain.appid, amount_fen=1_234)
        await refund_both(first, player, amount_fen=1_500, out_refund_no=f"R{first.id}")

    runs = await reconciliation.reconcile_day(brand_id=chain.brand.id, day=reconciliation.today())

    assert [r.state for r in runs] == [ReconciliationState.MATCHED] * 4
    assert await ReconciliationDifference.all().count() == 0
    for run in runs:
        assert run.paid_ours_fen == run.paid_theirs_fen
        assert run.refunded_ours_fen == run.refunded_theirs_fen
    busy = [r for r in runs if r.payments_theirs]
    assert len(busy) == 3
    assert all((r.payments_ours, r.refunds_ours, r.paid_ours_fen) == (2, 1, 6_234) for r in busy)


async def test_a_rerun_replaces_the_day_and_the_summary_is_mailed_once(player: Player) -> None:
    chain = await make_chain(settings={"report_emails": ["finance@example.com", "cfo@example.com"]})
    given = await _injected(chain, player, "hq_wechat")
    day = reconciliation.today()
    await reconciliation.reconcile_day(brand_id=chain.brand.id, day=day)
    # The lost notification is caught up with; the amount is put right.
    await payments.refresh_from_platform(given["not_notified"])
    await Payment.filter(id=given["changed"].id).update(amount_fen=3_000)

    await asyncio.gather(
        *(reconciliation.reconcile_day(brand_id=chain.brand.id, day=day) for _ in range(5))
    )

    assert await ReconciliationRun.filter(day=day).count() == 4
    run = await _run_of(chain.hq_wechat.id)
    rows = await ReconciliationDifference.filter(run_id=run.id)
    assert _differences(rows) == {
        d for d in given["expected"] if d[0] not in ("status_mismatch", "amount_mismatch")
    }
    assert run.differences == 4 == await ReconciliationDifference.all().count()
    mails = await OutboxMessage.filter(topic=MAIL_TOPIC)
    assert len(mails) == 1
    mail = mails[0].payload
    assert mail["to"] == ["finance@example.com", "cfo@example.com"]
    assert mails[0].dedupe_key == reconciliation.mail_key(chain.brand.id, day)
    assert day.isoformat() in mail["subject"]
    assert mail["html"].count("<table") == 2 and "<th>Differences</th>" in mail["html"]
    assert chain.hq_wechat.key in mail["html"] and "status_mismatch" in mail["html"]
    assert chain.hq_wechat.key in mail["text"] and "| differences |" in mail["text"]


async def test_a_brand_without_report_addresses_gets_no_mail(player: Player) -> None:
    chain = await make_chain()
    await paid_on(chain.hq_wechat, player, appid=chain.appid)

    await reconciliation.reconcile_day(brand_id=chain.brand.id, day=reconciliation.today())

    assert await OutboxMessage.filter(topic=MAIL_TOPIC).count() == 0


async def test_a_bill_that_cannot_be_had_is_a_failed_run(player: Player) -> None:
    chain = await make_chain(settings={"report_emails": ["finance@example.com"]})
    await paid_on(chain.hq_wechat, player, appid=chain.appid)
    # Answers are now checked against a key the platform does not sign with.
    await accounts.update_account(
        brand_id=chain.brand.id,
        actor="system",
        account_id=chain.hq_wechat.id,
        secrets={"platform_public_key": keys.wechatpay_merchant_public_pem()},
    )

    await reconciliation.reconcile_day(brand_id=chain.brand.id, day=reconciliation.today())

    run = await _run_of(chain.hq_wechat.id)
    assert run.state is ReconciliationState.FAILED
    assert run.error.startswith("payment.upstream") and run.payments_ours == 0
    mail = (await OutboxMessage.get(topic=MAIL_TOPIC)).payload
    assert "1 bill(s) not read" in mail["subject"] and "failed" in mail["html"]


async def test_a_day_after_today_is_refused() -> None:
    chain = await make_chain()

    with pytest.raises(InvalidInput) as refused:
        await reconciliation.reconcile_day(
            brand_id=chain.brand.id, day=reconciliation.today() + timedelta(days=1)
        )

    assert refused.value.code == "reconciliation.future_day"
    assert await ReconciliationRun.all().count() == 0


async def test_the_daily_job_reconciles_yesterday_for_every_brand(player: Player) -> None:
    import workers.payments as jobs
    from config.settings import get_settings

    chain = await make_chain()
    await paid_on(chain.hq_alipay, player, appid=chain.appid)  # today: not yesterday's bill
    jobs.register(get_settings())

    result = await jobs.reconcile_payments()

    assert REGISTRY.schedules[jobs.PAYMENTS_RECONCILE].cron == "0 10 * * *"
    assert result[chain.brand.code] == {"matched": 4, "differences": 0, "failed": 0}
    yesterday = reconciliation.today() - timedelta(days=1)
    assert await ReconciliationRun.filter(day=yesterday).count() == 4


# The report route ---------------------------------------------------------------------------


async def test_head_office_reads_the_day_per_account(api: Api, player: Player) -> None:
    chain = await make_chain()
    admin = staff_token(await make_staff(brand=chain.brand, role=StaffRole.HQ_ADMIN))
    given = await _injected(chain, player, "franchise_alipay")
    day = reconciliation.today()
    await reconciliation.reconcile_day(brand_id=chain.brand.id, day=day)

    everything = await api.get(f"{REPORT}?date={day}", token=admin)
    one = await api.get(f"{REPORT}?date={day}&account_id={chain.franchise_alipay.id}", token=admin)
    other_day = await api.get(f"{REPORT}?date={day - timedelta(days=3)}", token=admin)

    assert everything.status == 200, everything
    assert everything.json["date"] == day.isoformat()
    assert [i["account_id"] for i in everything.json["items"]] == sorted(
        a.id
        for a in (chain.hq_wechat, chain.hq_alipay, chain.franchise_wechat, chain.franchise_alipay)
    )
    [item] = one.json["items"]
    assert item["account_key"] == chain.franchise_alipay.key and item["provider"] == "alipay"
    assert item["state"] == "differences" and item["difference_count"] == 6
    assert {
        (d["kind"], d["line_kind"], d["out_trade_no"], d["out_refund_no"])
        for d in item["differences"]
    } == given["expected"]
    assert (item["payments_ours"], item["payments_theirs"]) == (3, 4)
    assert other_day.json["items"] == []


async def test_the_report_is_for_head_office_only_and_refuses_bad_input(api: Api) -> None:
    chain = await make_chain()
    other = await make_chain()
    admin = staff_token(await make_staff(brand=chain.brand, role=StaffRole.HQ_ADMIN))
    store = await Store.get(id=chain.direct_store_id)
    manager = staff_token(
        await make_staff(brand=chain.brand, role=StaffRole.STORE_MANAGER, store=store)
    )
    day = reconciliation.today()

    anonymous = await api.get(f"{REPORT}?date={day}")
    as_manager = await api.get(f"{REPORT}?date={day}", token=manager)
    no_date = await api.get(REPORT, token=admin)
    bad_date = await api.get(f"{REPORT}?date=2026-13-01", token=admin)
    far_date = await api.get(f"{REPORT}?date=9999-01-01", token=admin)
    huge_id = await api.get(f"{REPORT}?date={day}&account_id={2**31}", token=admin)
    foreign = await api.get(f"{REPORT}?date={day}&account_id={other.hq_wechat.id}", token=admin)

    assert anonymous.status == 401
    assert (as_manager.status, as_manager.error_code) == (403, "auth.role_forbidden")
    for refused, field in ((no_date, "date"), (bad_date, "date"), (far_date, "date")):
        assert (refused.status, refused.error_code) == (422, "request.invalid")
        assert [d["field"] for d in refused.json["error"]["details"]] == [field]
    assert (huge_id.status, huge_id.error_code) == (422, "request.invalid")
    assert (foreign.status, foreign.error_code) == (404, "merchant_account.not_found")
    assert await ReconciliationRun.all().count() == 0


async def test_report_addresses_are_a_brand_setting(api: Api) -> None:
    chain = await make_chain()
    admin = staff_token(await make_staff(brand=chain.brand, role=StaffRole.HQ_ADMIN))

    good = await api.patch(
        "/admin/brand", {"settings": {"report_emails": ["finance@example.com"]}}, token=admin
    )
    bad = await api.patch(
        "/admin/brand", {"settings": {"report_emails": ["not an address"]}}, token=admin
    )

    assert good.status == 200 and good.json["settings"]["report_emails"] == ["finance@example.com"]
    assert (bad.status, bad.error_code) == (422, "request.invalid")


# Reading bills exactly ----------------------------------------------------------------------

WECHAT_BILL = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
    "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\r\n"
    "`2026-05-01 10:00:00,`wx1,`1600000001,`0,`,`4200001,`MH1,`o1,`JSAPI,`SUCCESS,`OTHERS,`CNY,"
    "`12.30,`0.00,`0,`0,`0.00,`0.00,`,`,`面包, 大,`,`0.07,`0.60%,`12.30,`0.00,`\r\n"
    "`2026-05-01 11:00:00,`wx1,`1600000001,`0,`,`4200001,`MH1,`o1,`JSAPI,`REFUND,`OTHERS,`CNY,"
    "`0.00,`0.00,`5000001,`R1,`0.30,`0.00,`ORIGINAL,`SUCCESS,`面包,`,`-0.00,`0.60%,`0.00,`0.30,`\r\n"
    "`2026-05-01 12:00:00,`wx1,`1600000002,`1600000003,`,`4200002,`MH2,`o2,`JSAPI,`SUCCESS,`OTHERS,"
    "`CNY,`1.00,`0.00,`0,`0,`0.00,`0.00,`,`,`x,`,`0.01,`0.60%,`1.00,`0.00,`\r\n"
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n"
    "`3,`13.30,`0.30,`0.00,`0.08,`13.30,`0.30\r\n"
)


def test_a_wechat_bill_is_read_exactly_for_its_merchant() -> None:
    direct = parse_tradebill(WECHAT_BILL, mch_id="1600000001")
    partner = parse_tradebill(WECHAT_BILL, mch_id="1600000002", sub_mchid="1600000003")

    assert [(b.kind, b.out_trade_no, b.out_refund_no, b.amount_fen, b.state) for b in direct] == [
        (BillLineKind.PAYMENT, "MH1", "", 1_230, "paid"),
        (BillLineKind.REFUND, "MH1", "R1", 30, "success"),
    ]
    assert direct[0].time.isoformat() == "2026-05-01T10:00:00+08:00"
    assert [(b.out_trade_no, b.amount_fen) for b in partner] == [("MH2", 100)]
    with pytest.raises(ValueError, match="summary"):
        parse_tradebill(WECHAT_BILL.replace("`3,`13.30", "`4,`13.30"), mch_id="1600000001")
    with pytest.raises(ValueError):
        parse_tradebill(
            WECHAT_BILL.replace("`0.60%,`12.30,", "`0.60%,`12.305,"), mch_id="1600000001"
        )
    gzipped = wechat_bill_text(gzip.compress(WECHAT_BILL.encode()))
    assert parse_tradebill(gzipped, mch_id="1600000001") == direct


def test_an_alipay_bill_in_its_zip_of_gbk_csvs_is_read() -> None:
    detail = (
        "#支付宝业务明细查询\r\n#账号：[2088000000000001]\r\n"
        "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,"
        "终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,"
        "支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,"
        "卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\r\n"
        "2026050122001 ,MH1 ,交易 ,面包 ,2026-05-01 09:59:00,2026-05-01 10:00:00,,,,,a***@x.com,"
        "12.30,12.30,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,0.00,0.00,\r\n"
        "2026050122001,MH1,退款,面包,2026-05-01 09:59:00,2026-05-01 11:00:00,,,,,a***@x.com,"
        "12.30,-0.30,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,R1,0.00,0.00,\r\n"
        "#交易合计：1笔，商家实收：12.30元\r\n#退款合计：1笔，商家实收：-0.30元\r\n"
    )
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("20880001_20260501_业务明细.csv", detail.encode("gbk"))
        bundle.writestr("20880001_20260501_业务明细(汇总).csv", "#汇总".encode("gbk"))

    lines = parse_business_bill(alipay_bill_text(archive.getvalue()))

    assert [(b.kind, b.out_trade_no, b.out_refund_no, b.amount_fen) for b in lines] == [
        (BillLineKind.PAYMENT, "MH1", "", 1_230),
        (BillLineKind.REFUND, "MH1", "R1", 30),
    ]
    with pytest.raises(ValueError, match="footer"):
        parse_business_bill(detail.replace("交易合计：1笔", "交易合计：2笔"))


async def test_a_disabled_account_is_not_reconciled(player: Player) -> None:
    chain = await make_chain()
    await accounts.update_account(
        brand_id=chain.brand.id,
        actor="system",
        account_id=chain.hq_alipay.id,
        status=Status.DISABLED,
    )

    runs = await reconciliation.reconcile_day(brand_id=chain.brand.id, day=reconciliation.today())

    assert chain.hq_alipay.id not in {r.account_id for r in runs} and len(runs) == 3


@pytest.mark.parametrize("china_time", ["00:30", "23:30"])
async def test_a_payment_paid_near_midnight_china_time_belongs_to_that_china_day(
    player: Player, china_time: str
) -> None:
    # Given a payment whose platform says it was paid on 2 Dec, China time (17:30 or 15:30 UTC)
    chain = await make_chain()
    payment = await payment_on(chain.hq_wechat, appid=chain.appid, amount_fen=1_200)
    paid_at = datetime.fromisoformat(f"2026-12-02T{china_time}:00+08:00")
    trade = Trade(payment.out_trade_no, TradeState.PAID, 1_200, "4200001", paid_at=paid_at)

    # When it is applied and the day is compared with a bill that has no lines
    await payments.apply_trade(payment, trade)
    result = await reconciliation.compare(account=chain.hq_wechat, day=date(2026, 12, 2), lines=[])

    # Then it is ours on 2 Dec, whatever the hour of the machine that runs this
    assert result.payments_ours == 1
    assert [d["kind"] for d in result.differences] == [DifferenceKind.MISSING_THERE]
    assert (await Payment.get(id=payment.id)).paid_at == paid_at
