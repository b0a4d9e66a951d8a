package cmd

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X tfsync/cmd.Version=v1.2.3".
var Version = "dev"

// NewCmdVersion wires `tfsync version`.
func NewCmdVersion(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print tfsync's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rev := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" && len(s.Value) >= 12 {
						rev = " (" + s.Value[:12] + ")"
					}
				}
			}
			if f.Output == "json" {
				return f.setJSON(struct {
					Version  string `json:"version"`
					Revision string `json:"revision"`
					OS       string `json:"os"`
					Arch     string `json:"arch"`
					Go       string `json:"go"`
				}{Version, strings.Trim(rev, " ()"), runtime.GOOS, runtime.GOARCH, runtime.Version()})
			}
			fmt.Fprintf(f.IO.Out, "tfsync %s%s %s/%s %s\n", Version, rev, runtime.GOOS, runtime.GOARCH, runtime.Version())
			return nil
		},
	}
}
