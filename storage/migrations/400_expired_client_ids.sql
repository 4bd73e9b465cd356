-- The highest client msg id of each device whose messages the retention sweep deleted, per conversation. A device
-- resumes its sender order (`send.after`) from its last stored cid; once its last messages have expired that would
-- go back, and its next send, `after` the expired one, would be refused `out_of_order` for good.
CREATE TABLE IF NOT EXISTS expired_client_ids (
  conv_id text NOT NULL,
  sender_uid text NOT NULL,
  sender_did text NOT NULL,
  client_msg_id bigint NOT NULL,
  PRIMARY KEY (conv_id, sender_uid, sender_did)
);
