"""The SDK a person's device runs: keys, encrypted local store, sessions, transport."""

from sottovoce.client.client import Client
from sottovoce.client.messages import Conversation, HistoryEntry, ReceivedMessage, SentMessage

__all__ = ["Client", "Conversation", "HistoryEntry", "ReceivedMessage", "SentMessage"]
