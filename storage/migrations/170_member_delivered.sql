-- A member's delivery mark: the highest seq one of their devices acknowledged (cumulatively) holding. The sender of
-- a direct conversation sees it as "delivered" (double ticks); a group's members list carries it. Written in
-- batches, never moved back.
ALTER TABLE members ADD COLUMN delivered_seq bigint NOT NULL DEFAULT 0;
