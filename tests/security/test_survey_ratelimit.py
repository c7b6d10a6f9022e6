# ruff: noqa: F811 (the survey fixtures are imported, then requested by name)
"""Attack: make guessing survey links lock real patients out (behind the TLS proxy, or next door).

Before: 20 unknown links from one address blocked every survey page and stop link from that
address for an hour, and behind the proxy every patient shares the proxy's address.
"""

import base64
import secrets

import pytest
from django.test import Client

from tests.surveys.conftest import clock, fresh_rate_limits, link, patient, survey_default_protocol  # noqa: F401

pytestmark = pytest.mark.django_db

PROXY = "172.18.0.2"


def invented_link() -> str:
    return "/s/" + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode() + "/"


def behind_proxy(client_address: str, spoofed: str = "") -> Client:
    chain = f"{spoofed}, {client_address}" if spoofed else client_address
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=chain)


@pytest.fixture
def one_guess_per_address(settings):
    settings.SURVEY_UNKNOWN_LINK_RATE_LIMIT = "2/h"


def test_a_valid_link_and_its_stop_page_open_from_an_address_blocked_for_guessing(one_guess_per_address, link):
    # Given an address that is over the guessing limit
    guesser = Client(REMOTE_ADDR="203.0.113.7")
    codes = [guesser.get(invented_link()).status_code for _ in range(3)]
    assert codes == [404, 404, 429]
    # When the patient opens their link (and its stop page) from that same address
    survey = guesser.get(link.url)
    stop = guesser.get(f"{link.url}stop/")
    # Then both work
    assert survey.status_code == 200 and 'name="step"' in survey.content.decode()
    assert stop.status_code == 200
    # While further guesses from that address stay refused
    assert guesser.get(invented_link()).status_code == 429


def test_behind_the_trusted_proxy_one_guesser_does_not_block_other_clients(one_guess_per_address, settings):
    # Given the compose deployment: one trusted proxy in front
    settings.TRUSTED_PROXY_COUNT = 1
    # When one client behind the proxy exhausts its guesses
    codes = [behind_proxy("203.0.113.7").get(invented_link()).status_code for _ in range(3)]
    assert codes == [404, 404, 429]
    # Then another client, reaching us through the same proxy address, is not limited
    assert behind_proxy("198.51.100.20").get(invented_link()).status_code == 404


def test_a_guesser_cannot_escape_the_limit_by_writing_its_own_forwarded_for(one_guess_per_address, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The proxy appends the real address; whatever the guesser wrote to its left is ignored
    codes = [behind_proxy("203.0.113.7", spoofed=f"10.0.0.{n}").get(invented_link()).status_code for n in range(3)]
    assert codes == [404, 404, 429]


def test_with_no_proxy_trusted_a_forwarded_for_header_is_ignored(one_guess_per_address):
    # Default: nothing trusted, so a client's own X-Forwarded-For does not give it fresh addresses
    codes = [
        Client(REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").get(invented_link()).status_code
        for n in range(3)
    ]
    assert codes == [404, 404, 429]


def test_with_trusted_proxy_addresses_only_those_peers_may_name_the_client(one_guess_per_address, settings):
    settings.TRUSTED_PROXY_ADDRESSES = ["172.18.0.0/16"]
    # A client reaching gunicorn directly cannot pretend to be many clients
    direct = [
        Client(REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").get(invented_link()).status_code
        for n in range(3)
    ]
    assert direct == [404, 404, 429]
    # Through the trusted proxy network, the client named by the proxy is counted on its own
    assert behind_proxy("198.51.100.20").get(invented_link()).status_code == 404


def test_expired_and_used_links_do_not_count_as_guesses(one_guess_per_address, link, clock):
    from tests.surveys.conftest import at

    # A patient who opens an old email three times (the link has expired) is not a guesser
    clock.set(at(60))
    patient_browser = Client(REMOTE_ADDR="203.0.113.30")
    assert [patient_browser.get(link.url).status_code for _ in range(3)] == [404, 404, 404]
    assert patient_browser.get(invented_link()).status_code == 404
