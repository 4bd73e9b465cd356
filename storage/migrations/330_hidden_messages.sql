-- "Delete for me": messages a member hid from their own history (on all their devices). Nobody else's history
-- changes. A hidden message is served to that member as a stub (its seq and place in the chain, no content), so no
-- gap opens. Looked up by (uid, conv_id, seq) with every page a member pulls; the retention sweep deletes by
-- conversation and seq.
CREATE TABLE hidden_messages (
  uid text NOT NULL,
  conv_id text NOT NULL,
  seq bigint NOT NULL,
  PRIMARY KEY (uid, conv_id, seq)
);
CREATE INDEX hidden_messages_conv_seq ON hidden_messages (conv_id, seq);
