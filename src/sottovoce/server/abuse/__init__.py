"""Safety controls that act on metadata only: minors, blocks, rate limits, moderation."""
