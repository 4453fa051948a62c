"""Business days (営業日), the 17:00 cutoff, and the dates derived from them, in Japan time.

A business day is Monday to Friday, minus Japanese public holidays (jpholiday, which follows
the 祝日法 including 振替休日 and 国民の休日) and the company's own days off from config.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import jpholiday


@dataclass(frozen=True)
class BusinessCalendar:
    tz: dt.tzinfo
    cutoff: dt.time = dt.time(17, 0)
    company_holidays: frozenset[dt.date] = field(default_factory=frozenset)

    def is_business_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and not jpholiday.is_holiday(day) and day not in self.company_holidays

    def add_business_days(self, day: dt.date, n: int) -> dt.date:
        """The n-th business day after `day` (n > 0) or before it (n < 0); n=0 gives `day` back."""
        step = 1 if n >= 0 else -1
        remaining = abs(n)
        while remaining:
            day += dt.timedelta(days=step)
            if self.is_business_day(day):
                remaining -= 1
        return day

    def next_business_day(self, day: dt.date) -> dt.date:
        """`day` itself when it is a business day, else the next one."""
        while not self.is_business_day(day):
            day += dt.timedelta(days=1)
        return day

    def local(self, moment: dt.datetime) -> dt.datetime:
        if moment.tzinfo is None:
            raise ValueError(f"naive datetime {moment!r}: the bot only handles aware times")
        return moment.astimezone(self.tz)

    def intake_day(self, received: dt.datetime) -> dt.date:
        """Day N of manual §III: the business day whose vendor batch takes a request.

        Received on a business day up to the cutoff (17:00 inclusive) → that day; later, or on a
        holiday or weekend → the next business day.
        """
        local = self.local(received)
        day = local.date()
        if self.is_business_day(day) and local.time() <= self.cutoff:
            return day
        return self.next_business_day(day + dt.timedelta(days=1))

    def delivery_window(self, received: dt.datetime) -> tuple[dt.date, dt.date, dt.date]:
        """(ship date N+2, earliest arrival N+3, latest arrival N+5) per manual §III."""
        n = self.intake_day(received)
        return self.add_business_days(n, 2), self.add_business_days(n, 3), self.add_business_days(n, 5)

    def withdrawal_deadline(self, termination_day: dt.date) -> dt.date:
        """Last day a 解約キャンセル may arrive: 3 business days before the 解約日, counted back."""
        return self.add_business_days(termination_day, -3)

    def nth_business_day_of_month(self, year: int, month: int, n: int) -> dt.date:
        """E.g. the 5th business day, when UNIS forced terminations (強制解約) go out (manual §VI)."""
        day = self.next_business_day(dt.date(year, month, 1))
        return self.add_business_days(day, n - 1)
