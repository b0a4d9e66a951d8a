package cmd

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"tfsync/exchange"
)

// foreignEvents reads a mailbox's sync window in full and counts the events another tfsync installation wrote (a
// trial beside production), by installation id. Events this installation linked are known to be its own, so a
// backend need not look up their properties.
func foreignEvents(ctx context.Context, cal exchange.Calendar, mailbox string, window exchange.Window,
	installation string, linked map[string]bool) (map[string]int, error) {
	res := cal.Read(ctx, []exchange.ReadRequest{{Mailbox: mailbox, Window: window,
		Known: func(id string) bool { return linked[id] }}})
	if len(res) != 1 {
		return nil, fmt.Errorf("read the calendar of %s: the backend returned %d results", mailbox, len(res))
	}
	if res[0].Err != nil {
		return nil, res[0].Err
	}
	out := map[string]int{}
	for _, ev := range res[0].Events {
		if ev.BookingID != "" && ev.InstallationID != "" && ev.InstallationID != installation {
			out[ev.InstallationID]++
		}
	}
	return out, nil
}

// foreignText says in one phrase which other installations hold events in a mailbox.
func foreignText(foreign map[string]int) string {
	if len(foreign) == 0 {
		return ""
	}
	ids := make([]string, 0, len(foreign))
	for id := range foreign {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%d events of tfsync installation %s", foreign[id], id)
	}
	return "holds " + strings.Join(parts, ", ") + " (another TF database syncs here; this one leaves them alone)"
}
