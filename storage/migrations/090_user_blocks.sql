-- Users a user blocks. Between two users either of whom blocks the other, their direct conversation takes no
-- sends and passes on no typing, presence or read receipts. The second index answers "who blocks me".
CREATE TABLE user_blocks (
  uid          text        NOT NULL,
  blocked_uid  text        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (uid, blocked_uid),
  CHECK (uid <> blocked_uid)
);
CREATE INDEX user_blocks_blocked ON user_blocks (blocked_uid);
