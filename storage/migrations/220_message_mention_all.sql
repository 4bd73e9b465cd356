-- A message that mentions every member (an owner's or admin's "@all"): clients highlight it for everyone, and each
-- member then has an unread-mention row of it, written with it.
ALTER TABLE messages ADD COLUMN mentions_all boolean;
