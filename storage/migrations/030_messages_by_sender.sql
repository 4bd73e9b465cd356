-- A member's last own message in a conversation (conversation-store.ts, userConversations): a user has read
-- everything up to the last message they sent themselves, so unread counts only others' messages after it.
CREATE INDEX messages_by_sender ON messages (conv_id, sender_uid, seq);
