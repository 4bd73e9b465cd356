-- A user's privacy settings. Read receipts off (as in WhatsApp): nobody sees when the user read, and the user sees
-- nobody's reads in direct conversations.
CREATE TABLE user_settings (
  uid            text        PRIMARY KEY,
  read_receipts  boolean     NOT NULL DEFAULT true,
  updated_at     timestamptz NOT NULL DEFAULT now()
);
