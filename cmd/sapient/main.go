// Command sapient runs the Sapient server and its administration commands.
package main

import (
	"context"
	"os"

	"sapient.dev/sapient/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
