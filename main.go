// Command tfsync keeps TF's bookings and technicians' Exchange calendars in step.
package main

import (
	"os"

	"tfsync/cmd"
)

func main() {
	os.Exit(cmd.Main(os.Args[1:]))
}
