// Package sync is tfsync's engine: one level-based reconciliation pass that observes TF, the state store and the
// calendars (observe*.go), computes a plan as a pure function of what it saw (plan*.go), and applies it in an
// order that makes a crash at any point safe (apply*.go). The state store (store*.go, migrations/) and the run
// lock (lock*.go) live here too, because only the engine writes them. docs/architecture.md describes the phases
// and why their order matters.
package sync
