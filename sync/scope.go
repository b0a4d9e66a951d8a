package sync

// inScope reports whether a pass may touch a mailbox: every mailbox when Engine.Mailboxes is nil, else those it
// accepts (a scoped pass, `tfsync sync --resource`).
func (e *Engine) inScope(mailbox string) bool {
	return e.Mailboxes == nil || e.Mailboxes(mailbox)
}

// scopePlan keeps only the actions and held deletes of mailboxes in scope. The planner already plans nothing in a
// mailbox that was not read; this also drops the store-only actions (retiring links) it plans for other
// mailboxes, so a scoped pass changes nothing about them.
func (e *Engine) scopePlan(p *Plan) *Plan {
	if e.Mailboxes == nil {
		return p
	}
	actions := p.Actions[:0:0]
	for _, a := range p.Actions {
		if e.inScope(a.Mailbox) {
			actions = append(actions, a)
		}
	}
	p.Actions = actions
	for mb := range p.Held {
		if !e.inScope(mb) {
			delete(p.Held, mb)
		}
	}
	skipped := p.Skipped[:0:0]
	for _, s := range p.Skipped {
		if s.Mailbox == "" || e.inScope(s.Mailbox) {
			skipped = append(skipped, s)
		}
	}
	p.Skipped = skipped
	return p
}
