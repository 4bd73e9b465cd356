-- Last seen off (as in WhatsApp): nobody is told when the user was last online, and the user is told nobody's.
-- The time is still recorded, for the business server (server API), and shows again once the setting is back on.
ALTER TABLE user_settings ADD COLUMN last_seen boolean NOT NULL DEFAULT true;
