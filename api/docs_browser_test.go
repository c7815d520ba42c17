package api_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"fieldsync/api"
	"fieldsync/devstack/devtest/browser"
	"fieldsync/openapi"

	"github.com/chromedp/chromedp"
)

// mustChromium returns a headless Chromium context, failing (never skipping)
// when the browser is not installed.
func mustChromium(tb testing.TB) context.Context {
	tb.Helper()
	return browser.MustChromium(tb, 90*time.Second)
}

// TestDocsRenderEveryOperationInChromium loads /docs in headless Chromium
// and checks Swagger UI rendered every operation of the contract (by its
// operationId), every component schema, and, for an opened operation, its
// request schema and example.
func TestDocsRenderEveryOperationInChromium(t *testing.T) {
	ctx := mustChromium(t)
	base := "http://" + serveOnLoopback(t, api.New(api.Options{}))
	doc, err := openapi.Parse()
	if err != nil {
		t.Fatal(err)
	}
	var wantOps []string
	for _, ops := range doc.Paths {
		for _, o := range ops {
			wantOps = append(wantOps, o.OperationID)
		}
	}
	sort.Strings(wantOps)
	var wantSchemas []string
	for n := range doc.Components.Schemas {
		wantSchemas = append(wantSchemas, n)
	}
	sort.Strings(wantSchemas)

	var gotOps, gotSchemas []string
	var pushBody string
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/docs"),
		chromedp.WaitVisible(chromedp.CSS(`.opblock`)),
		chromedp.WaitVisible(chromedp.CSS(`.models article .json-schema-2020-12__title`)),
	)
	if err == nil {
		gotOps, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('.opblock .opblock-summary-operation-id')).map(e => e.textContent.trim())`))
	}
	if err == nil {
		gotSchemas, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('.models article[data-json-schema-level="0"] > .json-schema-2020-12-head .json-schema-2020-12__title')).map(e => e.textContent.trim())`))
	}
	if err == nil {
		err = chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`#operations-sync-syncPush .opblock-summary-control`)),
			chromedp.WaitVisible(chromedp.CSS(`#operations-sync-syncPush .opblock-body .highlight-code`)),
		)
	}
	if err == nil {
		pushBody, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#operations-sync-syncPush .opblock-body`)))
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("/docs did not render in Chromium within 90 s: %v", err)
		}
		t.Fatal(err)
	}
	sort.Strings(gotOps)
	if strings.Join(gotOps, ",") != strings.Join(wantOps, ",") {
		t.Errorf("/docs rendered operations %v, want %v", gotOps, wantOps)
	}
	have := map[string]bool{}
	for _, s := range gotSchemas {
		have[s] = true
	}
	for _, s := range wantSchemas {
		if !have[s] {
			t.Errorf("/docs does not render schema %s (rendered %d schemas)", s, len(gotSchemas))
		}
	}
	for _, w := range []string{"mutation_id", "device_id", "Example Value", "applied"} {
		if !strings.Contains(pushBody, w) {
			t.Errorf("/docs: the opened syncPush operation does not show %q; it shows %.2000s", w, pushBody)
		}
	}
}

// TestDocsTryItLogsIn logs in through the /docs page's try-it (the example
// body is a demo login) and checks the returned token then authorizes the
// try-it of GET /v1/me.
func TestDocsTryItLogsIn(t *testing.T) {
	ctx := mustChromium(t)
	srv := newFullServer(t)
	mustSeedUsers(t, srv)
	base := "http://" + serveOnLoopback(t, srv)
	login := `#operations-auth-login`
	me := `#operations-auth-me`
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/docs"),
		chromedp.WaitVisible(chromedp.CSS(login+` .opblock-summary-control`)),
		chromedp.Click(chromedp.CSS(login+` .opblock-summary-control`)),
		chromedp.WaitVisible(chromedp.CSS(login+` .try-out__btn`)),
		chromedp.Click(chromedp.CSS(login+` .try-out__btn`)),
		chromedp.WaitVisible(chromedp.CSS(login+` .execute`)),
		chromedp.Click(chromedp.CSS(login+` .execute`)),
		chromedp.WaitVisible(chromedp.CSS(login+` .live-responses-table tr.response .response-col_status`)),
		chromedp.Click(chromedp.CSS(me+` .opblock-summary-control`)),
		chromedp.WaitVisible(chromedp.CSS(me+` .try-out__btn`)),
		chromedp.Click(chromedp.CSS(me+` .try-out__btn`)),
		chromedp.WaitVisible(chromedp.CSS(me+` .execute`)),
		chromedp.Click(chromedp.CSS(me+` .execute`)),
		chromedp.WaitVisible(chromedp.CSS(me+` .live-responses-table tr.response .response-col_status`)),
	)
	if err != nil {
		t.Fatalf("driving the try-it of /docs: %v", err)
	}
	loginStatus, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(login+` .live-responses-table tr.response .response-col_status`)))
	if err != nil {
		t.Fatal(err)
	}
	meAnswer, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(me+` .live-responses-table`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(loginStatus, "200") {
		t.Fatalf("the try-it login answered %q, want 200", loginStatus)
	}
	if !strings.Contains(meAnswer, "200") || !strings.Contains(meAnswer, "cs.a1") {
		t.Fatalf("GET /v1/me after the try-it login answered %.1000s, want 200 with cs.a1", meAnswer)
	}
}
