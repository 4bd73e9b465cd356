-- Messages past the cluster's retention (`message-retention`): nothing at or below a conversation's expired_seq is
-- served to anyone. The sweep deletes those rows but the conversation's last one, which it keeps with an empty body
-- as the anchor of its seqs (the list's lastSeq, the next message's prev, exact unread counts).
ALTER TABLE conversations ADD COLUMN expired_seq bigint NOT NULL DEFAULT 0;
