-- An account's erasure deletes its rows here by sender: without this, a scan of the whole table (a row per
-- conversation, sender and device once retention runs) in the erasure's last statement.
CREATE INDEX CONCURRENTLY IF NOT EXISTS expired_client_ids_by_sender ON expired_client_ids (sender_uid)
