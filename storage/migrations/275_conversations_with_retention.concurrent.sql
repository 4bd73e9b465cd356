-- The retention sweep walks only the conversations with a retention of their own while the cluster keeps messages for good.
CREATE INDEX CONCURRENTLY IF NOT EXISTS conversations_with_retention ON conversations (conv_id) WHERE retention_sec > 0
