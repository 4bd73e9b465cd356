-- A group the business server dissolved: it has no members and takes no sends, members or re-creation any more;
-- its messages stay for the server API's reads (and the retention sweep) until something deletes them.
ALTER TABLE conversations ADD COLUMN dissolved_at timestamptz;
