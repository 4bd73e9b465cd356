-- The users a message mentions, as its sender named them (clients highlight them).
ALTER TABLE messages ADD COLUMN mentions text[];
-- One row per member a message mentions (not its sender), written in the statement that stores the message: a
-- member's unread mentions are their rows after what they have seen, found by key. Members only: a user added
-- later is not counted mentions from before, and a member who leaves loses theirs.
CREATE TABLE mentions (
  uid text NOT NULL,
  conv_id text NOT NULL,
  seq bigint NOT NULL,
  PRIMARY KEY (uid, conv_id, seq)
);
