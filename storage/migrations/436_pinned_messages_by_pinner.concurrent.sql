-- An account's erasure takes its name off the pins it made: without this, a scan of every pin.
CREATE INDEX CONCURRENTLY IF NOT EXISTS pinned_messages_by_pinner ON pinned_messages (pinned_by) WHERE pinned_by IS NOT NULL
