package sync

// Mailbox statuses in a Report: one word per mailbox, so a script need not infer it from the counts.
const (
	MailboxOK      = "ok"       // everything planned was done
	MailboxFailed  = "failed"   // some changes failed; the next pass retries them
	MailboxNotRead = "not_read" // the calendar could not be read, so nothing was changed in it
)

func mailboxStatus(s *MailboxSummary) string {
	switch {
	case s.ReadError != "":
		return MailboxNotRead
	case s.Errors > 0:
		return MailboxFailed
	}
	return MailboxOK
}

// skippedOnPurpose drops the planner's note about each mailbox that could not be read: that mailbox is an error of
// the pass (its read_error and errors count), and "skipped" lists only what was left alone on purpose.
func skippedOnPurpose(skipped []Skip, in *PlanInput) []Skip {
	out := make([]Skip, 0, len(skipped))
	for _, s := range skipped {
		if s.Mailbox != "" && s.Resource == "" && s.BookingID == "" {
			if o := in.Observations[s.Mailbox]; o != nil && o.Err != nil {
				continue
			}
		}
		out = append(out, s)
	}
	return out
}
