"""The test session's throwaway redis-server is the one `tether run` uses, started in a temp dir."""

from workers.redis_server import RedisServer

__all__ = ["RedisServer"]
