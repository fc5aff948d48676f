"""Rates as data: the ``Rate`` definition, Braze's dashboard rates (``RATES``) and how they print.

Each definition names the channels it applies to, its numerator and denominator as signed
metric terms (``(sent - bounces) / sent`` is data, not code), what day each term is
counted on (``attribution``), where it departs from Braze's glossary (``glossary``), and
two flags that tests of variations build on: ``proportion`` (the numerator counts a
subset of the denominator's units, so a two-proportion test applies) and
``lower_is_better`` (bounces, spam, unsubscribes...). ``RATES`` prints as a table.

Glossary: https://www.braze.com/docs/user_guide/data_and_analytics/report_metrics/
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from .._schema import IN_APP_CHANNELS, PUSH_CHANNELS

__all__ = [
    "RATES",
    "Rate",
    "RateTable",
    "Term",
    "conversion_rate",
    "conversion_rate_of",
    "parse_terms",
]

#: One signed term of a numerator or denominator: ``(+1, "sent")`` or ``(-1, "bounces")``.
Term = tuple[int, str]

_TERMS: Final = re.compile(r"\s*([+-])?\s*([A-Za-z_][A-Za-z0-9_]*)")
_CONVERSION_RATE: Final = re.compile(r"(cohort_)?conversion_rate(\d*)")


def parse_terms(text: str) -> tuple[Term, ...]:
    """Parse ``"sent - bounces"`` into ``((1, "sent"), (-1, "bounces"))``.

    Only metric names joined by ``+`` and ``-``; nothing is evaluated.

    Examples:
        >>> parse_terms("total_opens - direct_opens")
        ((1, 'total_opens'), (-1, 'direct_opens'))

    Raises:
        ValueError: For anything else (numbers, parentheses, other operators).
    """
    terms: list[Term] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TERMS.match(text, pos)
        if m is None or (terms and m.group(1) is None):
            msg = f"cannot parse {text!r}: write metric names joined by + and -"
            raise ValueError(msg)
        terms.append((-1 if m.group(1) == "-" else 1, m.group(2)))
        pos = m.end()
    if not terms:
        msg = "a numerator or denominator needs at least one metric"
        raise ValueError(msg)
    return tuple(terms)


def format_terms(terms: Sequence[Term]) -> str:
    """``((1, "sent"), (-1, "bounces"))`` as ``"(sent - bounces)"``."""
    text = ""
    for i, (sign, metric) in enumerate(terms):
        if i == 0:
            text = metric if sign > 0 else f"-{metric}"
        else:
            text += f" {'+' if sign > 0 else '-'} {metric}"
    return f"({text})" if len(terms) > 1 else text


@dataclass(frozen=True)
class Rate:
    """One rate definition: ``name = numerator / denominator`` on some channels.

    Attributes:
        name: The rate's name, as it appears in the ``metric`` column (Braze's spelling).
        channels: The channels it applies to; None means any row set, the day-level
            ``"all"`` rows included (conversion rates, revenue per recipient).
        numerator: Signed metric terms, e.g. ``((1, "total_opens"), (-1, "direct_opens"))``.
        denominator: Signed metric terms, e.g. ``((1, "sent"), (-1, "bounces"))``.
        control_denominator: The denominator on a control group's rows (``enrolled``);
            None when the rate has no such rule.
        description: One line for people.
        attribution: Which day each term is counted on, and what that means for
            comparing days, weeks and months.
        glossary: Where the definition departs from Braze's glossary ("" when it does not).
        proportion: The numerator counts a subset of the denominator's units (unique
            clicks among deliveries, conversions among recipients), so a
            two-proportion test applies; False for totals that can exceed their
            denominator (all clicks, all opens, revenue).
        lower_is_better: A smaller value is the better one (bounces, spam reports,
            unsubscribes, errors, failures, rejections, opt-outs, dismissals).

    A rate appears for a group of rows when the group's channel is one of ``channels``
    and the group has a numerator metric; over a period it sums over the days where
    every term is present (see ``rates``).

    Examples:
        >>> r = Rate.parse("ctr", {"email"}, "unique_clicks", "delivered - bounces", proportion=True)
        >>> r.formula, r.proportion, r.lower_is_better
        ('unique_clicks / (delivered - bounces)', True, False)
    """

    name: str
    channels: frozenset[str] | None
    numerator: tuple[Term, ...]
    denominator: tuple[Term, ...]
    control_denominator: tuple[Term, ...] | None = None
    description: str = ""
    attribution: str = ""
    glossary: str = ""
    proportion: bool = False
    lower_is_better: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            msg = f"a Rate needs a non-empty name, not {self.name!r}"
            raise ValueError(msg)
        channels: object = self.channels
        if channels is not None:
            if isinstance(channels, str):
                msg = f"Rate channels must be a set of channel names, not the string {self.channels!r}"
                raise TypeError(msg)
            object.__setattr__(self, "channels", frozenset(self.channels or ()))
        for field in ("numerator", "denominator", "control_denominator"):
            terms = getattr(self, field)
            if terms is None and field == "control_denominator":
                continue
            checked = tuple((int(s), str(m)) for s, m in terms)
            if not checked or any(s not in (1, -1) for s, _ in checked):
                msg = f"Rate {self.name!r}: {field} must be (sign, metric) pairs with sign +1 or -1"
                raise ValueError(msg)
            object.__setattr__(self, field, checked)
        for flag in ("proportion", "lower_is_better"):
            if not isinstance(getattr(self, flag), bool):
                msg = f"Rate {self.name!r}: {flag} must be True or False, not {getattr(self, flag)!r}"
                raise TypeError(msg)

    @classmethod
    def parse(
        cls,
        name: str,
        channels: Iterable[str] | None,
        numerator: str,
        denominator: str,
        *,
        control_denominator: str | None = None,
        description: str = "",
        attribution: str = "",
        glossary: str = "",
        proportion: bool = False,
        lower_is_better: bool = False,
    ) -> Rate:
        """Build a Rate from formulas such as ``"sent - bounces"`` (see ``parse_terms``)."""
        return cls(
            name,
            None if channels is None else frozenset(channels),
            parse_terms(numerator),
            parse_terms(denominator),
            None if control_denominator is None else parse_terms(control_denominator),
            description,
            attribution,
            glossary,
            proportion,
            lower_is_better,
        )

    @property
    def metrics(self) -> frozenset[str]:
        """Every metric the rate reads."""
        terms = (*self.numerator, *self.denominator, *(self.control_denominator or ()))
        return frozenset(m for _, m in terms)

    @property
    def formula(self) -> str:
        """The rate as text, e.g. ``"(total_opens - direct_opens) / (sent - bounces)"``."""
        return f"{format_terms(self.numerator)} / {format_terms(self.denominator)}"

    def applies_to(self, channel: str) -> bool:
        """Whether the rate is defined on a channel."""
        return self.channels is None or channel in self.channels


class RateTable(tuple[Rate, ...]):
    """A sequence of ``Rate`` that prints as a table (``RATES``).

    It is a plain tuple otherwise: ``rates(df, rates=[*RATES, my_rate])`` works, and so
    does filtering, e.g. ``[r for r in RATES if r.proportion]``. ``str()`` gives the
    table as text; notebooks show it as HTML.
    """

    __slots__ = ()

    def rows(self) -> list[dict[str, str]]:
        """One dict of display strings per rate (the table's rows)."""
        return [
            {
                "rate": r.name,
                "channels": channels_text(r.channels),
                "numerator / denominator": r.formula
                + (f" (control: / {format_terms(r.control_denominator)})" if r.control_denominator else ""),
                "proportion": "yes" if r.proportion else "no",
                "better": "lower" if r.lower_is_better else "higher",
                "attribution": r.attribution,
                "departs from Braze's glossary": r.glossary,
            }
            for r in self
        ]

    def __repr__(self) -> str:
        rows = self.rows()
        if not rows:
            return "RateTable(no rates)"
        short = ("rate", "channels", "numerator / denominator", "proportion", "better")
        widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in short}
        lines = ["  ".join(c.ljust(widths[c]) for c in short).rstrip()]
        notes: dict[str, int] = {}
        for r in rows:
            texts = (r["attribution"], r["departs from Braze's glossary"])
            marks = [notes.setdefault(text, len(notes) + 1) for text in texts if text]
            line = "  ".join(r[c].ljust(widths[c]) for c in short).rstrip()
            lines.append(line + ("  " + " ".join(f"[{m}]" for m in marks) if marks else ""))
        lines.append("")
        lines.extend(f"[{n}] {text}" for text, n in notes.items())
        return "\n".join(lines)

    __str__ = __repr__

    def _repr_html_(self) -> str:
        rows = self.rows()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0]) if rows else ""
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r.values()) + "</tr>" for r in rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def channels_text(channels: frozenset[str] | None) -> str:
    """How a rate's channels read in the table."""
    if channels is None:
        return "any (day totals and variations)"
    if channels == PUSH_CHANNELS:
        return "every push channel"
    if channels == IN_APP_CHANNELS:
        return "in-app messages"
    return ", ".join(sorted(channels))


# -- Braze's dashboard rates (SPEC section 5) ------------------------------------------------

_EVENT_DAY: Final = (
    "each term on the day it happened: sends on the send day, opens, clicks, bounces... on "
    "the day Braze recorded them, so a daily rate can pair one day's opens with another "
    "day's deliveries; weeks and months even this out"
)
_CONVERSION_DAY: Final = (
    "conversions on the day they happened over recipients on the day they were sent: over "
    "days and weeks this mixes two calendars (conversions of earlier sends count, those "
    "still to come do not); compare periods with cohort_conversion_rate{k}"
)
_SEND_DAY: Final = (
    "conversions credited to the send day of their message over that day's recipients: "
    "one calendar, the one to compare periods with; the latest days keep growing until "
    "the conversion window closes"
)
_REVENUE_DAY: Final = (
    "revenue on the day it happened over recipients on the day they were sent: two "
    "calendars, as conversion_rate"
)
_IN_APP_CONVERSIONS: Final = (
    "Braze's dashboard divides an in-app message's conversions by its unique impressions "
    "(conversion tracking starts at the impression); here every row set divides by "
    "unique_recipients (control groups: enrolled)"
)
_EMAIL_DELIVERY: Final = (
    "Braze's glossary defines the email delivery rate as (sent - bounces) / sent; here it "
    "is delivered / sent, which also leaves out emails neither delivered nor bounced"
)
_REVENUE: Final = (
    "not a Braze metric: revenue per recipient is this library's (Braze shows revenue and "
    "its own per-user figures)"
)

_EMAIL: Final = frozenset({"email"})
_SMS: Final = frozenset({"sms"})
_WHATS_APP: Final = frozenset({"whats_app"})
_CARDS: Final = frozenset({"content_cards"})
_WEBHOOK: Final = frozenset({"webhook"})
# Influenced opens are an iOS/Android notion (Braze counts them on the mobile SDKs); Kindle
# (Fire OS) is Android and apple_push is the legacy iOS key. web_push and the Windows
# legacy channels have no influenced opens.
_INFLUENCED: Final = frozenset({"ios_push", "android_push", "kindle_push", "apple_push"})

#: name, channels, numerator, denominator, description, proportion, lower_is_better, glossary
_Row = tuple[str, frozenset[str], str, str, str, bool, bool, str]
_TABLE: Final[tuple[_Row, ...]] = (
    ("delivery_rate", _EMAIL, "delivered", "sent", "emails delivered per email sent", True, False,
     _EMAIL_DELIVERY),
    ("bounce_rate", _EMAIL, "bounces", "sent", "emails bounced per email sent", True, True, ""),
    ("open_rate", _EMAIL, "opens", "delivered", "opens (every open) per delivered email", False, False,
     ""),
    ("unique_open_rate", _EMAIL, "unique_opens", "delivered", "unique opens per delivered email", True,
     False, ""),
    ("click_rate", _EMAIL, "clicks", "delivered", "clicks (every click) per delivered email", False,
     False, ""),
    ("unique_click_rate", _EMAIL, "unique_clicks", "delivered", "unique clicks per delivered email",
     True, False, ""),
    ("click_to_open_rate", _EMAIL, "unique_clicks", "unique_opens", "unique clicks per unique open",
     True, False, ""),
    ("unsubscribe_rate", _EMAIL, "unsubscribes", "delivered", "unsubscribes per delivered email", True,
     True, ""),
    ("spam_rate", _EMAIL, "reported_spam", "sent", "spam reports per email sent", True, True, ""),
    ("bounce_rate", PUSH_CHANNELS, "bounces", "sent", "pushes bounced per push sent", True, True, ""),
    ("delivery_rate", PUSH_CHANNELS, "sent - bounces", "sent", "pushes delivered per push sent", True,
     False, ""),
    ("direct_open_rate", PUSH_CHANNELS, "direct_opens", "sent - bounces",
     "direct opens per delivered push", True, False, ""),
    ("total_open_rate", PUSH_CHANNELS, "total_opens", "sent - bounces",
     "direct and influenced opens per delivered push", True, False, ""),
    ("influenced_open_rate", _INFLUENCED, "total_opens - direct_opens", "sent - bounces",
     "influenced (indirect) opens per delivered push", True, False, ""),
    ("delivery_rate", _SMS, "delivered", "sent", "messages delivered per message sent", True, False, ""),
    ("failure_rate", _SMS, "delivery_failed", "sent", "failed deliveries per message sent", True, True,
     ""),
    ("rejection_rate", _SMS, "rejected", "sent", "rejections per message sent", True, True, ""),
    ("click_rate", _SMS, "clicks", "delivered", "link clicks (every click) per delivered message",
     False, False, ""),
    ("opt_out_rate", _SMS, "opt_out", "delivered", "opt-outs per delivered message", True, True, ""),
    ("delivery_rate", _WHATS_APP, "delivered", "sent", "messages delivered per message sent", True,
     False, ""),
    ("read_rate", _WHATS_APP, "read", "sent", "messages read per message sent", True, False, ""),
    ("failure_rate", _WHATS_APP, "failed", "sent", "failures per message sent", True, True, ""),
    ("click_rate", _CARDS, "total_clicks", "total_impressions", "clicks per impression (totals)", False,
     False, ""),
    ("unique_click_rate", _CARDS, "unique_clicks", "unique_impressions",
     "unique clicks per unique impression", True, False, ""),
    ("dismissal_rate", _CARDS, "total_dismissals", "total_impressions",
     "dismissals per impression (totals)", False, True, ""),
    ("unique_dismissal_rate", _CARDS, "unique_dismissals", "unique_impressions",
     "unique dismissals per unique impression", True, True, ""),
    ("click_rate", IN_APP_CHANNELS, "clicks", "impressions", "clicks per impression (totals)", False,
     False, ""),
    ("first_button_click_rate", IN_APP_CHANNELS, "first_button_clicks", "impressions",
     "first-button clicks per impression (totals)", False, False, ""),
    ("second_button_click_rate", IN_APP_CHANNELS, "second_button_clicks", "impressions",
     "second-button clicks per impression (totals)", False, False, ""),
    ("error_rate", _WEBHOOK, "errors", "sent", "errors per webhook sent", True, True, ""),
)


def conversion_rate(event: int, *, cohort: bool = False) -> Rate:
    """The conversion rate of event ``k`` (``conversion_rate{k}``), or its send-date twin.

    ``conversion_rate{k}`` = ``conversions{k} / unique_recipients``;
    ``cohort_conversion_rate{k}`` = ``conversions{k}_by_send_time / unique_recipients``.
    Control groups divide by ``enrolled``.

    Examples:
        >>> conversion_rate(2, cohort=True).formula
        'conversions2_by_send_time / unique_recipients'
    """
    suffix = str(event) if event else ""
    metric = f"conversions{suffix}" + ("_by_send_time" if cohort else "")
    which = "primary conversion event" if not event else f"conversion event {event} (0 = primary)"
    return Rate(
        f"{'cohort_' if cohort else ''}conversion_rate{suffix}",
        None,
        ((1, metric),),
        ((1, "unique_recipients"),),
        ((1, "enrolled"),),
        (
            f"{which}: conversions credited to their send day per recipient"
            if cohort
            else f"{which}: conversions per recipient"
        )
        + " (control groups: per enrolled user)",
        _SEND_DAY if cohort else _CONVERSION_DAY,
        _IN_APP_CONVERSIONS,
        proportion=True,
        lower_is_better=False,
    )


def conversion_rate_of(name: str) -> Rate | None:
    """The Rate named ``conversion_rate{k}`` or ``cohort_conversion_rate{k}``, else None."""
    m = _CONVERSION_RATE.fullmatch(name)
    if m is None or m.group(2).startswith("0"):
        return None
    return conversion_rate(int(m.group(2) or 0), cohort=m.group(1) is not None)


def _with_pooling_notes(rows: Sequence[Rate]) -> list[Rate]:
    """Add the cross-channel pooling caveat to every rate whose formula differs by channel."""
    formulas: dict[str, dict[str, list[str]]] = {}
    for r in rows:
        if r.channels is not None:
            formulas.setdefault(r.name, {}).setdefault(r.formula, []).append(channels_text(r.channels))
    out = []
    for r in rows:
        variants = formulas.get(r.name, {})
        if len(variants) < 2:
            out.append(r)
            continue
        mixed = "; ".join(f"{' and '.join(chs)}: {f}" for f, chs in variants.items())
        note = f"Pooled over channels (by without channel) this rate adds up different quantities ({mixed})"
        glossary = f"{r.glossary}. {note}" if r.glossary else note
        out.append(Rate(r.name, r.channels, r.numerator, r.denominator, r.control_denominator,
                        r.description, r.attribution, glossary, r.proportion, r.lower_is_better))
    return out


def _table() -> RateTable:
    channel_rates = [
        Rate.parse(name, ch, num, den, description=d, attribution=_EVENT_DAY, glossary=g,
                   proportion=prop, lower_is_better=low)
        for name, ch, num, den, d, prop, low, g in _TABLE
    ]
    revenue = Rate(
        "revenue_per_recipient",
        None,
        ((1, "revenue"),),
        ((1, "unique_recipients"),),
        ((1, "enrolled"),),
        "revenue (USD) per recipient (control groups: per enrolled user)",
        _REVENUE_DAY,
        _REVENUE,
        proportion=False,
        lower_is_better=False,
    )
    return RateTable((
        *_with_pooling_notes(channel_rates),
        *(conversion_rate(k) for k in range(4)),
        *(conversion_rate(k, cohort=True) for k in range(4)),
        revenue,
    ))


#: Braze's dashboard rates (SPEC section 5), as data. Conversion events past the fourth
#: (``conversions4``...) get ``conversion_rate4`` and ``cohort_conversion_rate4``... by the
#: same pattern, automatically. Print it to read the definitions.
RATES: Final[RateTable] = _table()


def by_name(name: str) -> list[Rate]:
    """Every definition of a rate name in ``RATES`` (one per channel family), or the pattern's.

    Raises:
        ValueError: No rate has that name.
    """
    found = [r for r in RATES if r.name == name]
    if found:
        return found
    pattern = conversion_rate_of(name)
    if pattern is not None:
        return [pattern]
    msg = (
        f"unknown rate {name!r}; known rates: {sorted({r.name for r in RATES})}, plus "
        "conversion_rate4, cohort_conversion_rate4... (pass a Rate object for your own)"
    )
    raise ValueError(msg)


def rates_by_name(rates: Iterable[Rate]) -> Mapping[str, list[Rate]]:
    """Group definitions by name, in order."""
    grouped: dict[str, list[Rate]] = {}
    for r in rates:
        grouped.setdefault(r.name, []).append(r)
    return grouped
