package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/auth"
	"fieldsync/client"
	chromium "fieldsync/devstack/devtest/browser"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
)

// mustChromium returns a headless Chromium context (1400×900, zh-CN),
// failing (never skipping) when the browser is not installed.
func mustChromium(tb testing.TB, timeout time.Duration) context.Context {
	tb.Helper()
	return chromium.MustChromium(tb, timeout, chromedp.Flag("lang", "zh-CN"), chromedp.WindowSize(1400, 900))
}

// screenshotDir is $FIELDSYNC_SCREENSHOTS, else a new temporary directory
// that outlives the test (so the screenshots can be looked at).
func screenshotDir(tb testing.TB, name string) string {
	tb.Helper()
	dir := os.Getenv("FIELDSYNC_SCREENSHOTS")
	var err error
	if dir == "" {
		dir, err = os.MkdirTemp("", "fieldsync-"+name+"-")
	} else {
		dir = filepath.Join(dir, name)
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("screenshots of each step: %s", dir)
	return dir
}

// serveDemo seeds the demo tenant into a new data dir and serves it
// in-process on a free loopback port until the test ends.
func serveDemo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	env := envOf(map[string]string{"FIELDSYNC_DATA_DIR": dir, "FIELDSYNC_ADDR": "127.0.0.1:0"})
	if err := run(context.Background(), []string{"seed", "demo"}, env, io.Discard, io.Discard); err != nil {
		t.Fatalf("seed demo: %v", err)
	}
	base, _ := serveIn(t, env)
	return base
}

// serveIn runs `fieldsync serve` in-process with env until the test ends
// and returns its base URL and its log.
func serveIn(t *testing.T, env func(string) string) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, env, io.Discard, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop after cancel")
		}
		// The embedded S3 gateway moved the process into the data dir, which
		// is removed next: later tests (devtest's stores) need a working directory.
		chdirPkg(t)
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		for _, line := range strings.Split(logs.String(), "\n") {
			var l struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "fieldsync serving" {
				return "http://" + l.Addr, logs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start; logs:\n%s", logs.String())
		}
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v; logs:\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// goDevice logs a demo user in with the Go client, as a phone would.
func goDevice(t *testing.T, base, username string) *client.Client {
	t.Helper()
	c, err := client.New(base, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(context.Background(), client.Credentials{Username: username, Password: auth.DemoPassword, DeviceID: "go-" + username}); err != nil {
		t.Fatalf("login %s: %v", username, err)
	}
	return c
}

// mustPush pushes the mutations and fails unless every one is applied.
func mustPush(t *testing.T, c *client.Client, muts ...client.Mutation) {
	t.Helper()
	for i := range muts {
		muts[i].MutationID = uuid.NewString()
	}
	res, err := c.Push(context.Background(), muts)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Status != client.StatusApplied {
			t.Fatalf("push %s %s: got %s %+v, want applied", muts[i].Collection, muts[i].Action, r.Status, r.Error)
		}
	}
}

// testPhoto is a small PNG, uploaded through the API as a phone without
// access to the object store would.
func uploadTestPhoto(t *testing.T, c *client.Client) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 160, 120))
	for y := range 120 {
		for x := range 160 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y * 2), 180, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	id := uuid.NewString()
	ctx := context.Background()
	if _, err := c.CreateMedia(ctx, client.NewMedia{ID: id, ContentType: "image/png", Size: int64(buf.Len()), SHA256: hex.EncodeToString(sum[:])}); err != nil {
		t.Fatal(err)
	}
	m, err := c.UploadMedia(ctx, id, "image/png", int64(buf.Len()), func() (io.Reader, error) { return bytes.NewReader(buf.Bytes()), nil })
	if err != nil || m.Status != "stored" {
		t.Fatalf("upload: %+v %v", m, err)
	}
	return id
}

// browser drives the console step by step, with a screenshot after each.
type browser struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	step int
}

// do runs one named step: its actions, each waiting on a DOM condition (never
// a fixed sleep), then a full-page screenshot. A failing step leaves a
// screenshot and the page's text in the failure.
func (b *browser) do(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.step++
	file := fmt.Sprintf("%02d-%s.png", b.step, name)
	ctx, cancel := context.WithTimeout(b.ctx, 90*time.Second)
	err := chromedp.Do(ctx, actions...)
	cancel()
	if err != nil {
		shot, _ := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		_ = os.WriteFile(filepath.Join(b.dir, "FAILED-"+file), shot, 0o644)
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		b.t.Fatalf("step %d %s: %v\nscreenshot: %s\npage text:\n%.3000s", b.step, name, err, filepath.Join(b.dir, "FAILED-"+file), text)
	}
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, file), shot, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// until waits (60 s at most) for a JavaScript condition to hold.
func until(cond string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(100*time.Millisecond))
}

// visible waits for the element.
func visible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}

// click clicks the element once visible.
func click(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(chromedp.CSS(sel))
}

// fill sets an input's, textarea's or select's value as typing or choosing
// would, firing input and change so the app's state follows.
func fill(sel, value string) chromedp.Action[chromedp.Void] {
	s, _ := json.Marshal(sel)
	v, _ := json.Marshal(value)
	return chromedp.Steps(visible(sel), func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
			const e = document.querySelector(%s);
			const proto = e instanceof HTMLSelectElement ? HTMLSelectElement.prototype : e instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
			Object.getOwnPropertyDescriptor(proto, "value").set.call(e, %s);
			e.dispatchEvent(new Event("input", {bubbles: true}));
			e.dispatchEvent(new Event("change", {bubbles: true}));
			return true;
		})()`, s, v))(ctx, t)
		return chromedp.Void{}, err
	})
}

// action opens an action's form inside scope (a CSS selector), fills it and submits it.
func action(scope, name string, fields ...string) chromedp.Action[chromedp.Void] {
	steps := []chromedp.Action[chromedp.Void]{click(fmt.Sprintf(`%s button[data-action=%q]`, scope, name))}
	for i := 0; i+1 < len(fields); i += 2 {
		steps = append(steps, fill(fmt.Sprintf(`%s form[data-form=%q] [name=%q]`, scope, name, fields[i]), fields[i+1]))
	}
	steps = append(steps, click(fmt.Sprintf(`%s button[data-submit=%q]`, scope, name)))
	return chromedp.Steps(steps...)
}

// TestConsoleWalkThroughInChromium drives /console in headless Chromium
// against a real server on the demo tenant: cs.a1 logs in; a guard's
// complaint pushed by a Go client appears live; cs.a1 walks it through the
// process (classify, callback time, a work order dispatched to tech.a1 on the
// board, escalation); the technician's completion pushed by a Go client
// appears live and is verified; the follow-up call; the close queued while
// offline and applied once back online; the field feed and the reports'
// charts. Screenshots of each step go where the log says.
func TestConsoleWalkThroughInChromium(t *testing.T) {
	base := serveDemo(t)
	ctx := mustChromium(t, 10*time.Minute)
	b := &browser{t: t, ctx: ctx, dir: screenshotDir(t, "console")}

	guard := goDevice(t, base, "guard.a1")
	tech := goDevice(t, base, "tech.a1")

	b.do("login",
		chromedp.Navigate(base+"/console"),
		visible(`form[data-testid=login]`),
		until(`document.documentElement.lang === "zh-CN" && document.body.innerText.includes("登录")`),
		fill(`input[name=username]`, "cs.a1"),
		fill(`input[name=password]`, auth.DemoPassword),
		click(`form[data-testid=login] button[type=submit]`),
		visible(`[data-testid=user]`),
		visible(`table[data-testid=complaints] tbody tr`),
		until(`document.querySelector("[data-testid=pending]").dataset.pending === "0"`),
	)

	// A guard registers an owner's complaint on the phone, with a photo.
	photo := uploadTestPhoto(t, guard)
	complaint := uuid.NewString()
	content := "3号楼2单元电梯异响，业主要求尽快检修 " + complaint[:8]
	mustPush(t, guard, client.Mutation{Collection: "complaints", Op: "create", ID: complaint, Fields: map[string]any{
		"site_id": fieldsync.DemoSiteA, "channel": "on_site", "category": "facilities", "content": content,
		"owner_name": "张先生", "building": "3号楼", "unit": "2-1201", "photo_ids": []string{photo},
	}})
	row := fmt.Sprintf(`tr[data-id=%q]`, complaint)
	b.do("complaint-appears-live", visible(row), visible(row+`[data-stage=received]`))

	page := `[data-testid=complaint]`
	b.do("complaint-page",
		click(row),
		visible(page+`[data-stage=received]`),
		visible(`img[data-testid=thumbnail]`),
		until(`document.querySelector("img[data-testid=thumbnail]").naturalWidth > 0`),
	)
	b.do("classify", action(page, "clarify", "notes", "核实：电梯曳引机异响"), visible(page+`[data-stage=clarifying]`))

	before, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid=callback-by]`)))
	if err != nil {
		t.Fatal(err)
	}
	b.do("callback-time",
		action(page, "set_callback"),
		until(fmt.Sprintf(`document.querySelector("[data-testid=callback-by]").innerText !== %q && document.querySelector("[data-testid=pending]").dataset.pending === "0"`, before)),
	)
	b.do("create-work-order",
		action(page, "create_work_order", "title", "3号楼2单元电梯检修", "department", "engineering", "priority", "urgent"),
		visible(page+`[data-stage=resolving]`),
		visible(`[data-testid=linked-orders] li[data-status=open]`),
		// The server's own timeline note, shown in the reader's language.
		until(`(document.querySelector("[data-testid=timeline] li[data-action=create_work_order] .note")?.innerText ?? "").startsWith("工单 ")`),
	)
	order, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("[data-testid=linked-orders] li").dataset.id`))
	if err != nil {
		t.Fatal(err)
	}
	b.do("escalate", action(page, "escalate", "reason", "业主对处理进度不满意"), visible(page+`[data-level="1"]`))

	card := fmt.Sprintf(`.card[data-id=%q]`, order)
	b.do("dispatch-assign",
		click(`a[data-nav=dispatch]`),
		visible(`.column[data-column=open] `+card),
		click(card+` button[data-action=assign]`),
		fill(card+` form[data-form=assign] select[name=assignee_id]`, tech.User().ID),
		click(card+` button[data-submit=assign]`),
		visible(`.column[data-column=assigned] `+card),
		until(fmt.Sprintf(`document.querySelector(%q).innerText.includes(%q)`, card+` [data-testid=assignee]`, tech.User().Name)),
	)

	// The technician accepts, works and completes on the phone.
	mustPush(t, tech,
		client.Mutation{Collection: "work_orders", Op: "action", ID: order, Action: "accept"},
		client.Mutation{Collection: "work_orders", Op: "action", ID: order, Action: "start"},
		client.Mutation{Collection: "work_orders", Op: "action", ID: order, Action: "complete", Args: map[string]any{"resolution": "更换曳引机轴承，试运行正常", "parts": []string{"轴承"}}},
	)
	b.do("completion-appears-live", visible(`.column[data-column=completed] `+card))
	b.do("verify", action(card, "verify", "satisfaction", "5", "notes", "业主确认"), visible(`.column[data-column=verified] `+card))

	b.do("resolve",
		chromedp.Navigate(base+"/console#/complaints/"+complaint),
		visible(page+`[data-stage=resolving]`),
		visible(`[data-testid=linked-orders] li[data-status=verified]`),
		action(page, "resolve", "notes", "电梯已修复"),
		visible(page+`[data-stage=follow_up]`),
	)
	b.do("follow-up-call",
		action(page, "record_follow_up", "method", "phone", "satisfaction", "4", "notes", "业主表示满意"),
		visible(`button[data-action=close]`),
		until(`document.querySelector("[data-testid=pending]").dataset.pending === "0"`),
	)

	// Offline: the close waits in the outbox, then is applied once.
	offline := func(off bool) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
				return chromedp.Void{}, err
			}
			if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
				MatchedNetworkConditions: []*network.Conditions{{Offline: off, DownloadThroughput: -1, UploadThroughput: -1}},
			}); err != nil {
				return chromedp.Void{}, err
			}
			_, err := chromedp.Call(ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: off, DownloadThroughput: -1, UploadThroughput: -1})
			return chromedp.Void{}, err
		}
	}
	b.do("offline-close-queued",
		offline(true),
		until(`document.querySelector("[data-testid=online]").dataset.online === "false"`),
		action(page, "close", "result_summary", "电梯异响已修复，业主满意"),
		until(`document.querySelector("[data-testid=pending]").dataset.pending === "1"`),
		visible(page+`[data-stage=follow_up]`),
		// No second close can be queued while the first waits.
		visible(page+` [data-testid=awaiting-sync]`),
		// Still reading while offline: the board from the browser's own copy.
		click(`a[data-nav=dispatch]`),
		visible(`.column[data-column=verified] `+card),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = "#/complaints/%s"`, complaint)),
		visible(page+`[data-stage=follow_up]`),
	)
	b.do("online-close-applied",
		offline(false),
		until(`document.querySelector("[data-testid=online]").dataset.online === "true"`),
		until(`document.querySelector("[data-testid=pending]").dataset.pending === "0"`),
		visible(page+`[data-stage=closed]`),
		until(`document.querySelectorAll("[data-testid=timeline] li[data-action=close]").length === 1`),
	)
	// Applied once on the server too.
	super1 := goDevice(t, base, "super.a1")
	closes := -1
	if _, _, err := super1.PullAll(context.Background(), "", 500, func(c client.Change) error {
		if c.ID == complaint {
			var doc struct {
				Stage    string `json:"stage"`
				Timeline []struct {
					Action string `json:"action"`
				} `json:"timeline"`
			}
			if err := json.Unmarshal(c.Doc, &doc); err != nil {
				return err
			}
			closes = 0
			for _, e := range doc.Timeline {
				if e.Action == "close" {
					closes++
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if closes != 1 {
		t.Fatalf("the server's complaint has %d close entries in its timeline, want 1", closes)
	}

	// The field feed: a guard's inspection with its photo arrives live.
	inspection := uuid.NewString()
	b.do("field-feed", click(`a[data-nav=feed]`), visible(`[data-testid=feed] li`))
	mustPush(t, guard, client.Mutation{Collection: "inspections", Op: "create", ID: inspection, Fields: map[string]any{
		"site_id": fieldsync.DemoSiteA, "category": "fire_safety", "severity": "high", "description": "地下车库B2消防通道被杂物堵塞", "location": "B2", "photo_ids": []string{photo},
	}})
	b.do("field-feed-live",
		visible(fmt.Sprintf(`li.inspection[data-id=%q] img[data-testid=thumbnail]`, inspection)),
		click(fmt.Sprintf(`li.inspection[data-id=%q] img[data-testid=thumbnail]`, inspection)),
		visible(`img[data-testid=full-photo]`),
		until(`document.querySelector("img[data-testid=full-photo]").naturalWidth === 160`),
	)

	b.do("reports",
		chromedp.Navigate(base+"/console#/reports"),
		visible(`[data-testid=reports]`),
		until(`document.querySelectorAll(".chart canvas").length === 5 && [...document.querySelectorAll(".chart canvas")].every(c => c.width > 0 && c.height > 0)`),
		until(`Number(document.querySelector("[data-figure=total]").innerText) > 0`),
	)
	b.do("english",
		click(`button[data-lang=en]`),
		until(`document.documentElement.lang === "en" && document.body.innerText.includes("Reports")`),
	)
}

// TestFirstRunSetupInChromium: a server on a data dir with no user logs one
// line with a loopback setup URL; the console opened there creates the first
// tenant and admin, who then logs in. The token is spent: a second use, and a
// wrong token, are refused.
func TestFirstRunSetupInChromium(t *testing.T) {
	env := envOf(map[string]string{"FIELDSYNC_DATA_DIR": t.TempDir(), "FIELDSYNC_ADDR": "127.0.0.1:0"})
	base, logs := serveIn(t, env)
	var setupURL string
	n := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		var l struct{ Msg, URL string }
		if json.Unmarshal([]byte(line), &l) == nil && strings.HasPrefix(l.Msg, "first-run setup") {
			setupURL = l.URL
			n++
		}
	}
	if n != 1 || !strings.HasPrefix(setupURL, base+"/console#/setup?token=") {
		t.Fatalf("got %d setup lines (url %q), want one with %s/console#/setup?token=; logs:\n%s", n, setupURL, base, logs.String())
	}
	token := setupURL[strings.Index(setupURL, "token=")+len("token="):]

	ctx := mustChromium(t, 3*time.Minute)
	b := &browser{t: t, ctx: ctx, dir: screenshotDir(t, "first-run")}
	b.do("setup-page",
		chromedp.Navigate(setupURL),
		visible(`form[data-testid=setup]`),
		fill(`input[name=tenant]`, "acme"),
		fill(`input[name=name]`, "物业管理员"),
		fill(`input[name=username]`, "admin"),
		fill(`input[name=password]`, "a-long-passphrase"),
	)
	b.do("setup-done",
		click(`form[data-testid=setup] button[type=submit]`),
		until(`(document.querySelector("[data-testid=setup-result]")?.innerText ?? "").includes("admin")`),
		visible(`form[data-testid=setup] .ok`),
	)
	b.do("admin-logs-in",
		click(`[data-testid=setup-result] a`),
		visible(`form[data-testid=login]`),
		fill(`input[name=username]`, "admin"),
		fill(`input[name=password]`, "a-long-passphrase"),
		click(`form[data-testid=login] button[type=submit]`),
		until(`(document.querySelector("[data-testid=user]")?.innerText ?? "") === "物业管理员"`),
	)

	for _, tok := range []string{token, strings.Repeat("0", 64)} {
		body := fmt.Sprintf(`{"token":%q,"tenant":"evil","username":"root","password":"another-passphrase","name":"x"}`, tok)
		resp, err := http.Post(base+"/v1/setup", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("setup again with token %.8s…: got %d, want 403", tok, resp.StatusCode)
		}
	}
}
