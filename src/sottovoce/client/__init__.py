"""The SDK a person's device runs: keys, encrypted local store, sessions, transport."""
