"""The generic signed-webhook adapter (channel `webhook`): each chunk is one POST to a configured endpoint, signed as
the Standard Webhooks specification says, so any receiver can verify it and drop a repeat by its `webhook-id`."""
