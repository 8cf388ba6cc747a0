-- A tablet message's own idempotency key (uid), made once when the crew enters it. A tablet that cannot know
-- whether a seq it used is its own stored message or another device's (a tablet switch, cleared storage) resends
-- under a fresh seq with the same uid; this index keeps it stored once.
ALTER TABLE events ADD COLUMN uid text GENERATED ALWAYS AS (body ->> 'uid') STORED;
CREATE UNIQUE INDEX events_unit_uid ON events (unit, uid) WHERE uid IS NOT NULL;
