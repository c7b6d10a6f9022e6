"""A paginator whose count stops early: a list over a million patients pays for the pages people
read, not for counting every row (BENCHMARKS.md, "National scale")."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property

# Counted exactly up to here (or to the page asked for and the next); beyond, "more than".
COUNT_AT_LEAST = 1000
# A page number beyond this is answered with the last page counted (a bound on hostile input).
PAGE_NUMBER_MAX = 100_000


def page_number(value) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 1
    return min(max(number, 1), PAGE_NUMBER_MAX)


class BoundedCountPaginator(Paginator):
    """Counts the rows only as far as it needs to: ``COUNT_AT_LEAST`` of them, or enough to show
    the requested page and the next. ``count_is_exact`` says whether ``count`` is the total or a
    lower bound (``count_bound`` rows were found and there are more)."""

    def __init__(self, object_list, per_page, *, number: int):
        super().__init__(object_list, per_page)
        self.number = number
        self.count_bound = max(COUNT_AT_LEAST, (number + 1) * per_page)

    @cached_property
    def count(self) -> int:
        # Unordered: the database may stop at the first rows it finds, in any order.
        found = self.object_list.order_by()[: self.count_bound + 1].count()
        return min(found, self.count_bound + 1)

    @property
    def count_is_exact(self) -> bool:
        return self.count <= self.count_bound

    def requested_page(self):
        return self.get_page(self.number)
