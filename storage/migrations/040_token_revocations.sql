-- Tokens a user (or one device of theirs, `did`; '' for all of them) may no longer connect with: those issued
-- (`iat`) at or before `before_sec`. Written by the server API's sign-out with `revoke`; every gateway
-- keeps a copy in memory (read at start and after a NATS reconnect, new rows broadcast on im.cluster.revocations).
CREATE TABLE token_revocations (
  uid         text        NOT NULL,
  did         text        NOT NULL DEFAULT '',
  before_sec  bigint      NOT NULL,
  revoked_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (uid, did)
);
