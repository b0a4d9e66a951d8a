package cmd

import (
	"context"

	"tfsync/tf"
)

// installationID returns this installation's id, kept in TF's database. Only sync creates it (on its first pass):
// read-only commands read it and get "" before then.
func installationID(ctx context.Context, src tf.Source, create bool) (string, error) {
	in, ok := src.(tf.Installer)
	if !ok {
		return "", nil
	}
	if create {
		return in.Installation(ctx)
	}
	return in.ReadInstallation(ctx)
}

// installationMessage is test-connection's line for the installation id.
func installationMessage(id string) string {
	if id == "" {
		return "none yet: the first `tfsync sync` creates it (table tfsync_installation in the TF database)"
	}
	return id + " (table tfsync_installation in the TF database; every event tfsync writes carries it)"
}
