-- When a member hid each message (epoch ms; 0 for hides made before this column). A member's list row carries the
-- latest (`hiddenAt`), so a device that was away when a hide was made learns it has hides to catch up on and asks for
-- them; without it, "delete for me" reached only the devices online at the time.
ALTER TABLE hidden_messages ADD COLUMN hidden_at bigint NOT NULL DEFAULT 0;
