// Package demo holds tfsync's demo TF data: a readable SQL file (tf.sql) with resources and bookings of a small
// Swedish property-management company, and Seed, which loads it with dates relative to a given day.
package demo

import (
	"context"
	"database/sql"
	_ "embed"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

//go:embed tf.sql
var tfSQL string

// The booking a technician moves in `tfsync demo`, and whose calendar it is in.
const (
	MovedBooking = "BES-10233"
	MovedBy      = "anna.lindqvist@example.com"
)

// placeholder matches {{day +N}}, {{day -N}}, {{day 0}} and {{now}} in tf.sql.
var placeholder = regexp.MustCompile(`\{\{([^{}]*)\}\}`)

// SQL returns the demo data as SQL statements, with dates relative to now's day in zone.
func SQL(now time.Time, zone *time.Location) (string, error) {
	local := now.In(zone)
	today := time.Date(local.Year(), local.Month(), local.Day(), 12, 0, 0, 0, zone)
	var bad []string
	out := placeholder.ReplaceAllStringFunc(tfSQL, func(m string) string {
		f := strings.Fields(placeholder.FindStringSubmatch(m)[1])
		switch {
		case len(f) == 1 && f[0] == "now":
			return local.Format("2006-01-02T15:04:05")
		case len(f) == 2 && f[0] == "day":
			n, err := strconv.Atoi(f[1])
			if err != nil {
				bad = append(bad, m)
				return m
			}
			// Calendar days, not multiples of 24 hours, so daylight saving changes do not shift a date.
			return today.AddDate(0, 0, n).Format("2006-01-02")
		}
		bad = append(bad, m)
		return m
	})
	if len(bad) > 0 {
		return "", fmt.Errorf("demo tf.sql: unknown placeholder(s) %s (want {{day +N}} or {{now}})",
			strings.Join(bad, ", "))
	}
	return out, nil
}

// Seed inserts the demo resources and bookings into db, which must hold the integration schema and none of the
// demo's ids yet (tf.CreateSchema creates the schema). Booking dates are relative to now's day in zone, so
// they fall inside the default sync window [now - 7 days, now + 90 days].
func Seed(ctx context.Context, db *sql.DB, now time.Time, zone *time.Location) error {
	stmts, err := SQL(now, zone)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("seed demo data: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, stmts); err != nil {
		return fmt.Errorf("seed demo data: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("seed demo data: %w", err)
	}
	return nil
}
