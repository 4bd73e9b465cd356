-- Messages pinned in a conversation, for every member (at most MAX_PINNED_MESSAGES that are still served). Read with
-- each conversation of a user's list (by conv_id, the key's prefix); a recalled or expired message is left out when
-- read, and the retention sweep deletes the rows below what it expired. `pinned_by` is null for the business server
-- (and once an erased user's id is taken out).
CREATE TABLE pinned_messages (
  conv_id text NOT NULL,
  seq bigint NOT NULL,
  pinned_by text,
  pinned_at bigint NOT NULL,
  PRIMARY KEY (conv_id, seq)
);
