"""What the CLI and the HTTP API both answer, computed once: an event's explanation, dead letters and their
replay, the system's status, events read from a batch. Each module returns msgspec Structs (camelCase on the
wire); `tether … --json` and `tether api` encode the same values."""
