"""The bearer token never leaves the process: not in settings' repr, errors, CLI output or log records;
a missing or malformed setting is a one-line error that names its variable."""

from __future__ import annotations

import logging

import pytest
import tweepy
import vcr

from connectors.x_api import XSearch, XSettings
from tests.conftest import SHARED_DATA

TOKEN = "AAAAAAAAAAAAAAAAAAAAAsecret%2Fbearer%3Dtoken"
LOGGERS = ("tweepy", "connectors", "urllib3", "requests", "sentitrade")


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    @property
    def text(self) -> str:
        return "\n".join(self.format(r) for r in self.records)


@pytest.fixture
def debug_log():
    """Every DEBUG record of the libraries on the request path, whatever the root logger's state."""
    collect = Collect()
    saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in LOGGERS]
    for logger, _ in saved:
        logger.setLevel(logging.DEBUG)
        logger.addHandler(collect)
    yield collect
    for logger, level in saved:
        logger.removeHandler(collect)
        logger.setLevel(level)


def test_settings_never_show_the_token():
    settings = XSettings(bearer_token=TOKEN, markets={"m": "q"})
    for shown in (repr(settings), str(settings), settings.model_dump_json(), repr(settings.model_dump())):
        assert TOKEN not in shown
    assert settings.token() == TOKEN


def test_tweepy_debug_logs_are_scrubbed_of_the_token(debug_log):
    tape = vcr.VCR(cassette_library_dir=str(SHARED_DATA / "twitter-fixtures" / "cassettes"), record_mode="none",
                   decode_compressed_response=True, match_on=["method", "path"])
    with tape.use_cassette("test_client_search_recent_tweets.yaml"):
        lines = list(XSearch(XSettings(bearer_token=TOKEN)).lines("m", "Tweepy", limit=10))
    assert len(lines) == 10
    assert "Authorization': 'Bearer ***'" in debug_log.text  # tweepy logged the header, redacted
    assert TOKEN not in debug_log.text and all(TOKEN not in str(r.args) for r in debug_log.records)


def test_a_refused_token_is_a_one_line_error_without_the_token(httpserver, debug_log, sentitrade, tmp_path):
    httpserver.expect_request("/2/tweets/search/recent").respond_with_json({"title": "Unauthorized", "status": 401}, status=401)
    url = httpserver.url_for("/").rstrip("/")
    with pytest.raises(tweepy.Unauthorized) as refused:
        list(XSearch(XSettings(bearer_token=TOKEN, api_url=url)).lines("m", "q"))
    assert TOKEN not in str(refused.value) and TOKEN not in repr(refused.value.response.request.url)
    env = {"SENTITRADE_X_BEARER_TOKEN": TOKEN, "SENTITRADE_X_API_URL": url, "SENTITRADE_X_MARKETS": '{"m": "q"}'}
    result = sentitrade("ingest", "tweets", "--data-dir", str(tmp_path), env=env)
    assert result.code == 2 and result.stderr == (
        "error: X refused the request (HTTP 401): check SENTITRADE_X_BEARER_TOKEN and the app's access level\n"
    )
    assert "Making API request" in debug_log.text and TOKEN not in result.stdout + result.stderr + debug_log.text


@pytest.mark.parametrize(
    "args, env, message",
    [
        (("ingest", "stream"), {"SENTITRADE_X_MARKETS": '{"m": "q"}'}, "SENTITRADE_X_BEARER_TOKEN is not set"),
        (("ingest", "tweets"), {"SENTITRADE_X_MARKETS": '{"m": "q"}'}, "SENTITRADE_X_BEARER_TOKEN is not set"),
        (("ingest", "stream"), {"SENTITRADE_X_BEARER_TOKEN": TOKEN}, "SENTITRADE_X_MARKETS is empty"),
        (("ingest", "tweets"), {"SENTITRADE_X_BEARER_TOKEN": TOKEN, "SENTITRADE_X_MARKETS": "{oops"}, "SENTITRADE_X_MARKETS is not valid JSON"),
        (("ingest", "stream"), {"SENTITRADE_X_BEARER_TOKEN": TOKEN, "SENTITRADE_X_PAGE_SIZE": "500"}, "SENTITRADE_X_PAGE_SIZE: Input should be less than or equal to 100"),
        (("ingest", "tweets", "--start-time", "last week"), {"SENTITRADE_X_BEARER_TOKEN": TOKEN}, "--start-time 'last week' is not a date or time"),
    ],
)
def test_missing_or_bad_settings_are_one_line_errors_naming_the_variable(sentitrade, tmp_path, args, env, message):
    result = sentitrade(*args, "--data-dir", str(tmp_path), env=env)
    assert result.code == 2 and result.stderr.startswith(f"error: {message}") and result.stderr.count("\n") == 1
    assert TOKEN not in result.stdout + result.stderr


def test_every_command_has_help(sentitrade):
    for command in (("ingest",), ("ingest", "tweets"), ("ingest", "stream")):
        result = sentitrade(*command, "--help")
        assert result.code == 0 and "Usage:" in result.stdout
    assert "--from" in sentitrade("ingest", "tweets", "--help").stdout


def test_a_token_that_holds_another_token_is_scrubbed_whole(debug_log):
    XSearch(XSettings(bearer_token="secret"))  # a second client whose token is part of the first's
    XSearch(XSettings(bearer_token=TOKEN))
    logging.getLogger("tweepy.client").debug("Headers: %s", {"Authorization": f"Bearer {TOKEN}"})
    assert debug_log.text.endswith("Headers: {'Authorization': 'Bearer ***'}")
