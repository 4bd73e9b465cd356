-- A member's mute of a conversation (epoch ms; 0: not muted): shown on all the user's devices, and the app's push
-- service is told a muted member's notifications are muted. Per member row, so leaving a conversation ends it.
ALTER TABLE members ADD COLUMN muted_until bigint NOT NULL DEFAULT 0;
