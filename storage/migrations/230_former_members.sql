-- Groups a user left or was removed from: an account's erasure blanks what they wrote there too (their messages
-- stay in the conversation when they leave). Written in the statement that removes the member.
CREATE TABLE former_members (
  uid text NOT NULL,
  conv_id text NOT NULL,
  left_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (uid, conv_id)
);
