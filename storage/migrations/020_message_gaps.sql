-- Messages that follow a hole in their conversation's seqs (a segment left unused by a crash, move or
-- restart). Exact unread counts subtract these holes from (read mark, last seq] instead of counting every
-- unread message (conversation-store.ts, userConversations). Holes are rare, so the index stays small.
CREATE INDEX messages_after_gap ON messages (conv_id, seq) WHERE seq - prev_seq > 1;
