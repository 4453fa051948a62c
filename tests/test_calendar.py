"""Business days in Japan time: weekends, public holidays, company days off, the 17:00 cutoff."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.domain.calendar import BusinessCalendar

JST = dt.timezone(dt.timedelta(hours=9))
CAL = BusinessCalendar(tz=JST)


def test_holiday_and_weekend_are_not_business_days() -> None:
    assert not CAL.is_business_day(dt.date(2026, 11, 23))  # 勤労感謝の日 (Mon)
    assert not CAL.is_business_day(dt.date(2026, 11, 22))  # Sunday
    assert CAL.is_business_day(dt.date(2026, 11, 24))


def test_withdrawal_deadline_worked_example_of_design() -> None:
    """解約日 Wed 2026-11-25 → deadline Thu 2026-11-19, because Mon 11-23 is a holiday."""
    assert CAL.withdrawal_deadline(dt.date(2026, 11, 25)) == dt.date(2026, 11, 19)


@pytest.mark.parametrize(
    ("received", "day"),
    [
        (dt.datetime(2026, 11, 24, 17, 0, tzinfo=JST), dt.date(2026, 11, 24)),  # cutoff itself counts as N
        (dt.datetime(2026, 11, 24, 17, 1, tzinfo=JST), dt.date(2026, 11, 25)),
        (dt.datetime(2026, 11, 20, 18, 0, tzinfo=JST), dt.date(2026, 11, 24)),  # Fri evening → Tue (Mon holiday)
        (dt.datetime(2026, 11, 24, 7, 30, tzinfo=dt.UTC), dt.date(2026, 11, 24)),  # 16:30 JST
        (dt.datetime(2026, 11, 24, 8, 30, tzinfo=dt.UTC), dt.date(2026, 11, 25)),  # 17:30 JST
    ],
)
def test_intake_day_follows_cutoff_in_japan_time(received: dt.datetime, day: dt.date) -> None:
    assert CAL.intake_day(received) == day


def test_delivery_window_n_plus_3_to_5() -> None:
    ship, first, last = CAL.delivery_window(dt.datetime(2026, 11, 20, 10, 0, tzinfo=JST))  # Fri
    assert ship == dt.date(2026, 11, 25)  # N+2 over the Monday holiday
    assert first == dt.date(2026, 11, 26)
    assert last == dt.date(2026, 11, 30)


def test_company_days_off_count_as_holidays() -> None:
    cal = BusinessCalendar(tz=JST, company_holidays=frozenset({dt.date(2026, 12, 29)}))
    assert not cal.is_business_day(dt.date(2026, 12, 29))
    assert cal.add_business_days(dt.date(2026, 12, 28), 1) == dt.date(2026, 12, 30)


def test_fifth_business_day_skips_new_year_holiday() -> None:
    # 2027-01: 1st holiday, 2-3 weekend, 11th 成人の日.
    assert CAL.nth_business_day_of_month(2027, 1, 5) == dt.date(2027, 1, 8)


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        CAL.intake_day(dt.datetime(2026, 11, 24, 10, 0))
