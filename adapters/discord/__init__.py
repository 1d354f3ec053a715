"""The Discord adapter: REST API v10 over httpx, rate limits shared through Redis, webhooks into bound threads.

Modules: `routes` (endpoints), `client` (the request loop), `ratelimit` (buckets, global limit, invalid-request
ceiling), `tokens`, `errors` (classification), `webhooks`, `reconcile`, `activity`, `threads` (state and sweeper
checks), `adapter` (`DiscordAdapter`, `make_adapter`), `provision` (`DiscordProvisioner`, `make_provisioner`),
`runtime` (settings and shared parts), `keys` (every Redis key).
"""
