"""The Slack adapter: completions into Slack threads through the Web API, exactly once by message metadata."""
