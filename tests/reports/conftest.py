import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_dashboard_cache():
    # The dashboard is cached for a few minutes; each test starts from its own data.
    cache.clear()
    yield
    cache.clear()
