-- Recalls and edits change a message already there: they are nothing new to read. Exact unread counts subtract
-- them from (seen, last seq] as they do holes (conversation-store.ts, userConversations); they are few, so the
-- index stays small.
CREATE INDEX messages_amendments ON messages (conv_id, seq) WHERE recalls IS NOT NULL OR edits IS NOT NULL;
