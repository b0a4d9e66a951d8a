package cmd

import (
	"context"
	"fmt"
	"strings"
)

// resolveScope turns --resource values (TF resource ids or e-mail addresses) into the mailboxes a scoped pass may
// touch. A value that names no resource, or a resource that is not synced, is a usage error naming why: a scoped
// pass that silently did nothing would look like success.
func resolveScope(ctx context.Context, p *pass, values []string) (map[string]bool, error) {
	resources, err := p.src.Resources(ctx)
	if err != nil {
		return nil, fmt.Errorf("read resources from TF for --resource: %w", err)
	}
	settings := Settings(p.cfg)
	scope := map[string]bool{}
	for _, v := range values {
		want := strings.TrimSpace(v)
		found := false
		for _, r := range resources {
			if r.ID != want && !(r.Email != "" && strings.EqualFold(strings.TrimSpace(r.Email), want)) {
				continue
			}
			found = true
			if !r.SyncEnabled {
				return nil, &usageError{fmt.Sprintf("--resource %s: %s is not enabled for sync in TF (Inställningar -> Grunddata -> Resurser)", want, r.Name)}
			}
			mb, skip := settings.Mailbox(r)
			if skip != "" {
				return nil, &usageError{fmt.Sprintf("--resource %s: %s is not synced: %s", want, r.Name, skip)}
			}
			scope[mb] = true
		}
		if !found {
			return nil, &usageError{fmt.Sprintf("--resource %q names no TF resource by id or e-mail: see 'tfsync list-resources'", want)}
		}
	}
	return scope, nil
}
