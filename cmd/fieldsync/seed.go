package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

func seedDemo(ctx context.Context, app *App, out io.Writer) error {
	fmt.Fprintln(out, "seed demo: indexes applied; users and sites arrive with the auth issue")
	return nil
}

func userAdd(ctx context.Context, app *App, args []string, out io.Writer) error {
	return errors.New("user add: not available yet")
}
