-- When each user was last online: the time their last device left, written by their connector then. Shown as
-- "last seen" to the other member of a direct conversation. A node that crashes while the user is online writes
-- nothing: the user's last seen stays at the time before until their next time offline.
CREATE TABLE user_last_seen (
  uid        text        PRIMARY KEY,
  last_seen  timestamptz NOT NULL
);
