package sync

// bookingMailbox keys what is known of one booking in one mailbox: its unconfirmed create, and whether this pass
// creates it there.
type bookingMailbox struct{ Booking, Mailbox string }

// mailboxEvent keys one event in one mailbox: event ids are unique only within a mailbox.
type mailboxEvent struct{ Mailbox, Event string }
