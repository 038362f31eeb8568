"""Ingest: wire payloads (X API v2, Gamma, CLOB) into lake rows, bad records into dead letters."""

from models.ingest.errors import BadRecord
from models.ingest.markets import markets_table, parse_gamma_market, prices_table
from models.ingest.tweets import TweetBatch, parse_tweet, tweets_table

__all__ = ["BadRecord", "TweetBatch", "markets_table", "parse_gamma_market", "parse_tweet", "prices_table", "tweets_table"]
