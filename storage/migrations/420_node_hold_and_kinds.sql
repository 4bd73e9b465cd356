-- `held_out`: `imctl drain` took the node out of placement, and only `imctl undrain` puts it back. A restart of the
-- node (a crash, its supervisor, an upgrade) registers it as draining again instead of alive, as a cordon outlives a
-- reboot: the operator's drain is not undone behind their back. A shutdown's own drain (SIGTERM) does not set it.
-- `kinds`: the actor kinds the node hosts (`--kinds`), so that placement gives it shards of those only; NULL for a
-- row its process has not written yet, read as "every kind".
ALTER TABLE nodes ADD COLUMN IF NOT EXISTS held_out boolean NOT NULL DEFAULT false;
ALTER TABLE nodes ADD COLUMN IF NOT EXISTS kinds text[];
