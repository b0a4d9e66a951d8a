-- Event identity (issue 10).
--
-- copies remembers the second events of one booking in one mailbox that a technician changed (moved or retitled a
-- copy): they are theirs now, never planned on again, and reported once, on the pass that found them.
CREATE TABLE copies (
	mailbox     TEXT NOT NULL CHECK (mailbox <> ''),
	event_id    TEXT NOT NULL CHECK (event_id <> ''),
	booking_id  TEXT NOT NULL,
	reported_at TEXT NOT NULL,
	PRIMARY KEY (mailbox, event_id)
) WITHOUT ROWID;
