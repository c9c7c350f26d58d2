"""The buyer's guarantees (消费者保障) on one order line: what the buyer may have and why not,
each rule answering with its numbers (docs/guarantees.md; the thresholds are settings).

- ``no_reason_return`` (七天无理由退货): delivered within the window, in a category not
  excluded;
- ``refund_without_return`` (仅退款): the line is cheap enough or the buyer's history is
  clean, and the buyer is under the cap;
- ``fast_refund`` (极速退款): the buyer is trusted and the line is under the cap;
- ``return_shipping`` (退货运费险): a return for no reason or for the merchant's fault;
- ``authenticity`` (假一赔十): an inspection found the goods fake: the multiple of what was
  paid;
- ``used_phone_warranty`` (二手手机180天质保): a used phone, within 180 days of delivery.

The rules are pure (:func:`answers` over :class:`LineFacts`); :func:`line_facts` gathers the
facts from the store in a few aggregate queries. The guarantees protect buyers without handing
abusers a lever: a refund without a return is capped per buyer, and the cheap-line exception
is the only way in for a buyer whose history is not clean.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trustflow.accounts.models import Buyer
from trustflow.aftersales.models import (
    AfterSalesKind,
    AfterSalesReason,
    AfterSalesRequest,
    AfterSalesStatus,
    ResponsibleParty,
)
from trustflow.aftersales.rules import PRESUMED_RESPONSIBLE
from trustflow.catalog.models import Category, Product
from trustflow.config import Settings, get_settings
from trustflow.db import get_or_raise
from trustflow.errors import NotFound
from trustflow.orders.models import Order, OrderLine, OrderStatus
from trustflow.units import yuan

__all__ = ["Answer", "LineFacts", "answers", "line_facts"]

_RECEIVED = (OrderStatus.DELIVERED, OrderStatus.RECEIVED)


@dataclass(frozen=True)
class LineFacts:
    """What the guarantee rules read of one line, its order and its buyer."""

    at: datetime
    line_paid_fen: int
    #: the line's product's category and the codes of its ancestors (the category first)
    category_codes: tuple[str, ...]
    delivered_at: datetime | None
    #: the buyer's account age, received orders and how many of them were refunded
    account_days: int
    orders_received: int
    orders_refunded: int
    #: refunds without a return the buyer had in the last 30 days, and in the clean-history
    #: window
    refund_only_30d: int
    refund_only_history: int
    #: an inspection's verdict on the goods: True fake, False genuine, None none yet
    inspection_fake: bool | None = None
    #: the request's kind and reason, when the question is about one
    kind: AfterSalesKind | None = None
    reason: AfterSalesReason | None = None


@dataclass(frozen=True)
class Answer:
    """One guarantee's answer: eligible or not, because …, in English and Chinese, with what
    it pays when it pays something (fen)."""

    rule: str
    eligible: bool
    reason: str
    reason_zh: str
    amount_fen: int | None = None


def _refunds(n: int) -> str:
    return f"{n} refund{'' if n == 1 else 's'} without a return"


def _no_reason_return(f: LineFacts, s: Settings) -> Answer:
    rule = "no_reason_return"
    excluded = [c for c in f.category_codes if c in s.guarantee_no_reason_excluded_categories]
    if excluded:
        return Answer(
            rule,
            False,
            f"category {excluded[0]} is excluded from no-reason returns",
            f"类目 {excluded[0]} 不支持七天无理由退货",
        )
    if f.delivered_at is None:
        return Answer(rule, False, "the order has not been delivered", "订单尚未签收")
    days = s.guarantee_no_reason_days
    if f.at - f.delivered_at > timedelta(days=days):
        since = (f.at - f.delivered_at).days
        return Answer(
            rule,
            False,
            f"delivered {since} days ago: no-reason returns close {days} days after delivery",
            f"签收已 {since} 天：七天无理由退货在签收后 {days} 天内",
        )
    return Answer(
        rule,
        True,
        f"delivered within {days} days, in a category that allows it",
        f"签收 {days} 天内，且类目支持",
    )


def _refund_without_return(f: LineFacts, s: Settings) -> Answer:
    rule = "refund_without_return"
    cap = s.guarantee_refund_only_per_30_days
    if f.refund_only_30d >= cap:
        return Answer(
            rule,
            False,
            f"{_refunds(f.refund_only_30d)} in the last 30 days: the cap is {cap}",
            f"近30天已仅退款 {f.refund_only_30d} 次，上限 {cap} 次",
        )
    threshold = s.guarantee_refund_only_max_fen
    if f.line_paid_fen <= threshold:
        return Answer(
            rule,
            True,
            f"line {yuan(f.line_paid_fen)} <= {yuan(threshold)}",
            f"商品金额 {yuan(f.line_paid_fen)} 不超过 {yuan(threshold)}",
        )
    window = s.guarantee_clean_history_days
    if f.refund_only_history == 0:
        return Answer(
            rule,
            True,
            f"line {yuan(f.line_paid_fen)} > {yuan(threshold)}, but no refund without a return"
            f" in {window} days",
            f"商品金额超过 {yuan(threshold)}，但近{window}天无仅退款记录",
        )
    return Answer(
        rule,
        False,
        f"line {yuan(f.line_paid_fen)} > {yuan(threshold)}, and {_refunds(f.refund_only_history)}"
        f" in {window} days",
        f"商品金额 {yuan(f.line_paid_fen)} 超过 {yuan(threshold)}，且近{window}天仅退款"
        f" {f.refund_only_history} 次",
    )


def _trusted(f: LineFacts, s: Settings) -> tuple[bool, str, str]:
    """Whether the buyer is trusted, and why (not), in English and Chinese."""
    refund_bps = f.orders_refunded * 10_000 // f.orders_received if f.orders_received else 0
    problems = []
    if f.account_days < s.guarantee_trusted_min_account_days:
        problems.append(
            (
                f"account {f.account_days} days old < {s.guarantee_trusted_min_account_days}",
                f"账号 {f.account_days} 天，不足 {s.guarantee_trusted_min_account_days} 天",
            )
        )
    if f.orders_received < s.guarantee_trusted_min_orders:
        problems.append(
            (
                f"{f.orders_received} orders received < {s.guarantee_trusted_min_orders}",
                f"签收订单 {f.orders_received} 单，不足 {s.guarantee_trusted_min_orders} 单",
            )
        )
    elif refund_bps > s.guarantee_trusted_max_refund_bps:
        problems.append(
            (
                f"{f.orders_refunded} of {f.orders_received} orders refunded"
                f" ({refund_bps / 100:.2f}% > {s.guarantee_trusted_max_refund_bps / 100:.2f}%)",
                f"退款 {f.orders_refunded}/{f.orders_received} 单，"
                f"超过 {s.guarantee_trusted_max_refund_bps / 100:.2f}%",
            )
        )
    if problems:
        return False, "; ".join(p[0] for p in problems), "；".join(p[1] for p in problems)
    return (
        True,
        f"a trusted buyer ({f.account_days} days, {f.orders_received} orders received,"
        f" {f.orders_refunded} refunded)",
        f"信用买家（{f.account_days} 天，签收 {f.orders_received} 单，"
        f"退款 {f.orders_refunded} 单）",
    )


def _fast_refund(f: LineFacts, s: Settings) -> Answer:
    rule = "fast_refund"
    trusted, why, why_zh = _trusted(f, s)
    if not trusted:
        return Answer(rule, False, why, why_zh)
    cap = s.guarantee_fast_refund_max_fen
    if f.line_paid_fen > cap:
        return Answer(
            rule,
            False,
            f"line {yuan(f.line_paid_fen)} > the fast-refund cap {yuan(cap)}",
            f"商品金额 {yuan(f.line_paid_fen)} 超过极速退款上限 {yuan(cap)}",
        )
    return Answer(rule, True, why, why_zh, amount_fen=f.line_paid_fen)


def _return_shipping(f: LineFacts, s: Settings) -> Answer:
    rule = "return_shipping"
    if f.kind is None or f.reason is None:
        return Answer(rule, False, "no return requested", "未申请退货")
    if f.kind is not AfterSalesKind.RETURN_REFUND:
        return Answer(rule, False, f"a {f.kind.value} request sends nothing back", "该申请无需寄回")
    merchant = PRESUMED_RESPONSIBLE.get(f.reason) is ResponsibleParty.MERCHANT
    if f.reason is AfterSalesReason.NO_REASON_7DAY or merchant:
        amount = s.guarantee_return_shipping_fen
        return Answer(
            rule,
            True,
            f"a return for {f.reason.value}: {yuan(amount)} toward its shipping",
            f"因{f.reason.value}退货：补贴运费 {yuan(amount)}",
            amount_fen=amount,
        )
    return Answer(
        rule,
        False,
        f"a return for {f.reason.value} is the buyer's to ship",
        f"因{f.reason.value}退货，运费由买家承担",
    )


def _authenticity(f: LineFacts, s: Settings) -> Answer:
    rule = "authenticity"
    multiple = s.guarantee_fake_multiple
    if f.inspection_fake is None:
        return Answer(
            rule,
            False,
            "no inspection verdict yet: a claim pays once an inspection finds the goods fake",
            "尚无鉴定结论：鉴定为假货后赔付",
        )
    if not f.inspection_fake:
        return Answer(rule, False, "the inspection found the goods genuine", "鉴定为正品")
    amount = f.line_paid_fen * multiple
    return Answer(
        rule,
        True,
        f"the inspection found the goods fake: {multiple} x {yuan(f.line_paid_fen)} ="
        f" {yuan(amount)}",
        f"鉴定为假货：假一赔{multiple}，{multiple} × {yuan(f.line_paid_fen)} = {yuan(amount)}",
        amount_fen=amount,
    )


def _used_phone_warranty(f: LineFacts, s: Settings) -> Answer:
    rule = "used_phone_warranty"
    if s.guarantee_used_phone_category not in f.category_codes:
        return Answer(rule, False, "not a used phone", "非二手手机")
    if f.delivered_at is None:
        return Answer(rule, False, "the order has not been delivered", "订单尚未签收")
    days = s.guarantee_used_phone_warranty_days
    since = (f.at - f.delivered_at).days
    if f.at - f.delivered_at > timedelta(days=days):
        return Answer(
            rule,
            False,
            f"delivered {since} days ago: the warranty lasts {days} days",
            f"签收已 {since} 天：质保期 {days} 天",
        )
    return Answer(
        rule,
        True,
        f"a used phone delivered {since} days ago, within the {days}-day warranty",
        f"二手手机签收 {since} 天，在 {days} 天质保期内",
    )


_RULES = (
    _no_reason_return,
    _refund_without_return,
    _fast_refund,
    _return_shipping,
    _authenticity,
    _used_phone_warranty,
)


def answers(facts: LineFacts, settings: Settings | None = None) -> list[Answer]:
    """Every guarantee's answer for the line, in the table's order."""
    s = settings or get_settings()
    return [rule(facts, s) for rule in _RULES]


def line_facts(
    session: Session,
    *,
    order_id: int,
    line_id: int,
    at: datetime,
    kind: AfterSalesKind | None = None,
    reason: AfterSalesReason | None = None,
    inspection_fake: bool | None = None,
    settings: Settings | None = None,
) -> LineFacts:
    """The facts of ``line_id`` of ``order_id`` as of ``at`` (one query each, aggregates)."""
    s = settings or get_settings()
    order = get_or_raise(session, Order, order_id, "order")
    line = session.get(OrderLine, line_id)
    if line is None or line.order_id != order_id:
        raise NotFound(f"line {line_id} of order {order_id} not found")
    buyer = session.get_one(Buyer, order.buyer_id)
    codes: list[str] = []
    category = session.get(Category, session.get_one(Product, line.product_id).category_id)
    while category is not None and len(codes) < 10:
        codes.append(category.code)
        category = session.get(Category, category.parent_id) if category.parent_id else None
    received, refunded = session.execute(
        select(
            func.count(func.distinct(Order.id)),
            func.count(func.distinct(AfterSalesRequest.order_id)),
        )
        .select_from(Order)
        .outerjoin(
            AfterSalesRequest,
            (AfterSalesRequest.order_id == Order.id)
            & (AfterSalesRequest.status == AfterSalesStatus.REFUNDED),
        )
        .where(Order.buyer_id == order.buyer_id, Order.status.in_(_RECEIVED))
    ).one()

    def refund_only_since(days: int) -> int:
        return int(
            session.scalar(
                select(func.count()).where(
                    AfterSalesRequest.buyer_id == order.buyer_id,
                    AfterSalesRequest.kind == AfterSalesKind.REFUND_ONLY,
                    AfterSalesRequest.status == AfterSalesStatus.REFUNDED,
                    AfterSalesRequest.resolved_at >= at - timedelta(days=days),
                    AfterSalesRequest.resolved_at <= at,
                )
            )
            or 0
        )

    return LineFacts(
        at=at,
        line_paid_fen=line.paid_amount_fen,
        category_codes=tuple(codes),
        delivered_at=order.delivered_at,
        account_days=max((at - buyer.created_at).days, 0),
        orders_received=int(received),
        orders_refunded=int(refunded),
        refund_only_30d=refund_only_since(30),
        refund_only_history=refund_only_since(s.guarantee_clean_history_days),
        inspection_fake=inspection_fake,
        kind=kind,
        reason=reason,
    )
