//! redis-manager: a Redis client written from scratch.
