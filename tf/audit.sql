-- tfsync's record of every booking time it wrote back into TF from a calendar. tfsync creates it beside TF's
-- tables and only ever inserts into it. Booking times are copied exactly as stored in bookings.start/"end";
-- a NULL end stays NULL.
CREATE TABLE IF NOT EXISTS tfsync_audit (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  at          TEXT NOT NULL,     -- when tfsync wrote, RFC 3339 with offset (unambiguous across DST)
  run_id      TEXT NOT NULL,     -- the sync pass that wrote it
  booking_id  TEXT NOT NULL,     -- no foreign key: the audit outlives bookings TF deletes
  mailbox     TEXT NOT NULL,     -- whose calendar the move came from
  event_id    TEXT NOT NULL,
  old_start   TEXT NOT NULL,
  old_end     TEXT,
  new_start   TEXT NOT NULL,
  new_end     TEXT,
  old_version INTEGER NOT NULL,
  new_version INTEGER NOT NULL,
  source      TEXT NOT NULL      -- where the change came from: 'calendar'
);
CREATE INDEX IF NOT EXISTS tfsync_audit_booking ON tfsync_audit (booking_id, id);
