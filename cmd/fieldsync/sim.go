package main

import (
	"context"
	"errors"
	"io"
)

func runSim(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return errors.New("sim: not yet")
}
