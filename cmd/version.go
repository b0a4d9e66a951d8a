package cmd

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X tfsync/cmd.Version=v1.2.3".
var Version = "dev"

// VersionOptions are version's flags: none, but the command has the same runF seam as every other.
type VersionOptions struct{}

// NewCmdVersion wires `tfsync version`.
func NewCmdVersion(f *Factory, runF func(context.Context, *VersionOptions) error) *cobra.Command {
	opts := &VersionOptions{}
	return &cobra.Command{
		Use:   "version",
		Short: "Print tfsync's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runVersion(f)
		},
	}
}

func runVersion(f *Factory) error {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " (" + s.Value[:12] + ")"
			}
		}
	}
	p := f.printer()
	if p.JSON() {
		return p.Result(struct {
			Version  string `json:"version"`
			Revision string `json:"revision"`
			OS       string `json:"os"`
			Arch     string `json:"arch"`
			Go       string `json:"go"`
		}{Version, strings.Trim(rev, " ()"), runtime.GOOS, runtime.GOARCH, runtime.Version()})
	}
	fmt.Fprintf(p.Text(), "tfsync %s%s %s/%s %s\n", Version, rev, runtime.GOOS, runtime.GOARCH, runtime.Version())
	return nil
}
