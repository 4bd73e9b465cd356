-- The retention sweep drops an expired message's mention rows by conversation (the key starts with the member).
-- Built concurrently: mention rows are written in the node-wide group commit, which a plain CREATE INDEX would hold
-- for as long as the build of a big table takes.
CREATE INDEX CONCURRENTLY IF NOT EXISTS mentions_by_conv ON mentions (conv_id, seq)
