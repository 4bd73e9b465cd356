-- A group's slow mode: a plain member may post one message of their own per this many seconds (0: off). Owners and
-- admins are not slowed. Kept by the chatter in memory as it counts; the rule itself lives here.
ALTER TABLE conversations ADD COLUMN slow_mode_sec int NOT NULL DEFAULT 0;
