-- The latest hide of a member in a conversation, by key, for every row of their list.
CREATE INDEX CONCURRENTLY IF NOT EXISTS hidden_messages_by_time ON hidden_messages (uid, conv_id, hidden_at)
