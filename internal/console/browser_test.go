package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Environment variables of the browser tests.
const (
	// chromiumEnv names the browser binary; default the first of
	// chromiumPaths that is installed.
	chromiumEnv = "SAPIENT_TEST_CHROMIUM"
	// requireBrowserEnv=1 turns a missing browser into a failure (CI).
	requireBrowserEnv = "SAPIENT_TEST_REQUIRE_BROWSER"
	// screenshotsEnv names a folder that keeps every screenshot; without
	// it they are kept only when a test fails.
	screenshotsEnv = "SAPIENT_TEST_SCREENSHOTS"
)

// browserTab is one headless Chromium driven through the DevTools
// protocol. Its helpers find elements as a person using assistive
// technology would: by role and accessible name.
type browserTab struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	step int
	// always takes every screenshot shot asks for; otherwise only with
	// SAPIENT_TEST_SCREENSHOTS, and the page as it is when a test fails.
	always bool
}

// chromium is the one Chromium the package's tests share, started by the
// first that needs it and stopped by TestMain; each test gets a browser
// context of its own (cookies, storage and permissions apart, like a fresh
// profile) in it, which takes milliseconds where a new Chromium takes a
// second.
var chromium struct {
	once   sync.Once
	ctx    context.Context // the browser
	err    error
	stop   func()
	tmpDir string
}

// TestMain stops the shared Chromium once every test has run.
func TestMain(m *testing.M) {
	code := m.Run()
	if chromium.stop != nil {
		chromium.stop()
	}
	if chromium.tmpDir != "" {
		os.RemoveAll(chromium.tmpDir)
	}
	os.Exit(code)
}

// startChromium starts the shared Chromium at path.
func startChromium(path string) {
	dir, err := os.MkdirTemp("", "sapient-chromium-")
	if err != nil {
		chromium.err = err
		return
	}
	chromium.tmpDir = dir
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Every page of these tests is one site (the loopback address), and
		// no test is about isolating sites from each other. With isolation
		// on, each navigation a test makes started a renderer process: 139
		// for the package against 44 (see docs/BENCHMARKS.md).
		chromedp.Flag("disable-site-isolation-trials", true),
		// Nor is any test about what these features do: keeping each page
		// a test leaves alive for a Back it never presses
		// (BackForwardCache), a new frame for each navigation
		// (RenderDocument), holding the paint of the next page
		// (PaintHolding), and slowing the timers and the priority of
		// every tab but one, where several tests have tabs open at once.
		//
		// Nor is any about the full browser's own window: each browser
		// context a test opens is a window whose omnibox popup Chromium
		// renders as a web page (WebUIOmniboxPopup, WebUIOmniboxAimPopup),
		// loaded in a renderer of its own before anything is typed in it.
		// Without them the browser tests take a quarter less CPU in the
		// full browser; the headless shell has no such window.
		chromedp.Flag("disable-features", "IsolateOrigins,site-per-process,BackForwardCache,RenderDocument,PaintHolding,WebUIOmniboxPopup,WebUIOmniboxAimPopup"),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1280, 860),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	chromium.stop = func() { cancelCtx(); cancelAlloc() }
	chromium.ctx = ctx
	chromium.err = chromedp.Do(ctx) // starts the browser, bound to ctx
}

// chromiumPaths are the browsers the tests look for, in order. Chromium's
// headless shell (Debian's chromium-headless-shell) is its engine without
// the full browser's windows, omnibox pages and profile services: the same
// Blink, the same accessibility tree, and 35 CPU seconds for this package
// where the full browser took 60. The full browser serves when the shell
// is not installed.
var chromiumPaths = []string{"/usr/bin/chromium-headless-shell", "/usr/bin/chromium"}

// newBrowser gives the test a fresh browser context (an empty profile) in
// the shared Chromium, or skips the test when there is no Chromium (fails
// instead under SAPIENT_TEST_REQUIRE_BROWSER=1). A test calls it first:
// it makes the test parallel, which pauses it until its turn, and a server
// started before that would serve nobody meanwhile, its queue polling the
// database all the while.
func newBrowser(t *testing.T) *browserTab {
	t.Helper()
	paths := chromiumPaths
	if p := os.Getenv(chromiumEnv); p != "" {
		paths = []string{p}
	}
	path := ""
	for _, p := range paths {
		if _, err := exec.LookPath(p); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		where := strings.Join(paths, " or ")
		if os.Getenv(requireBrowserEnv) == "1" {
			t.Fatalf("Chromium not found at %s but %s=1", where, requireBrowserEnv)
		}
		t.Skipf("browser tests skipped: no Chromium at %s (install the chromium-headless-shell or chromium package, or set %s)", where, chromiumEnv)
	}
	// Browser tests run beside each other, each in its own browser
	// context of the one Chromium.
	t.Parallel()
	chromium.once.Do(func() { startChromium(path) })
	if chromium.err != nil {
		t.Fatalf("start Chromium: %v", chromium.err)
	}
	ctx, cancelCtx := chromedp.NewContext(chromium.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancelCtx)
	if err := chromedp.Do(ctx); err != nil { // opens the tab in a browser context of its own
		t.Fatalf("open a tab: %v", err)
	}
	// chromedp turns on every DevTools domain a test might use. No test
	// reads requests or style sheets, and their events, sent for every
	// request and every style sheet of every page, were a tenth of the
	// browser tests' CPU.
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, network.Disable, cdp.Empty{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, css.Disable, cdp.Empty{})
		return err
	})); err != nil {
		t.Fatalf("quiet the tab: %v", err)
	}
	// Each step below must finish well within this.
	tctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	b := &browserTab{t: t, ctx: tctx, dir: screenshotDir(t)}
	t.Cleanup(func() {
		if t.Failed() {
			b.capture("failed") // the page the test failed on
		}
	})
	b.viewport(1280, 860)
	return b
}

// screenshotDir makes the folder for a test's screenshots. It is removed
// after a passing test unless SAPIENT_TEST_SCREENSHOTS names a folder.
func screenshotDir(t *testing.T) string {
	name := regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(t.Name(), "_")
	if root := os.Getenv(screenshotsEnv); root != "" {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshots: %s", dir)
		return dir
	}
	dir, err := os.MkdirTemp("", "sapient-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("screenshots kept: %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	t.Logf("screenshots: %s (kept if the test fails, or set %s)", dir, screenshotsEnv)
	return dir
}

// do runs actions and fails the test on the first error.
func (b *browserTab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.shot("failed")
		b.t.Fatalf("%s: %v", what, err)
	}
}

// viewport sets the size of the page.
func (b *browserTab) viewport(w, h int64) {
	b.t.Helper()
	b.do("set viewport", chromedp.EmulateViewport(w, h))
}

// open loads a URL and waits for the page.
func (b *browserTab) open(url string) {
	b.t.Helper()
	b.do("open "+url, chromedp.Navigate(url))
	if err := b.waitFor(`document.readyState === "complete"`); err != nil {
		b.t.Fatalf("load %s: %v", url, err)
	}
}

// shot saves a screenshot of the viewport as the next step of the test.
func (b *browserTab) shot(name string) string {
	b.t.Helper()
	if !b.always && os.Getenv(screenshotsEnv) == "" {
		return "" // a screenshot costs a tenth of a second; see newBrowser for failures
	}
	return b.capture(name)
}

// capture saves a screenshot of the page as it is now.
func (b *browserTab) capture(name string) string {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	b.step++
	path := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.step, name))
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("step %d: %s", b.step, path)
	return path
}

// byRole finds elements whose computed ARIA role and accessible name
// match, skipping those hidden from assistive technology (closed dialogs,
// content behind a modal dialog, hidden elements).
func byRole(role, name string) chromedp.QueryOption {
	return chromedp.ByFunc(func(ctx context.Context, t *chromedp.Target, n *chromedp.Node) ([]cdp.NodeID, error) {
		return axQuery(ctx, t, n.NodeID, role, name)
	})
}

func axQuery(ctx context.Context, t *chromedp.Target, root cdp.NodeID, role, name string) ([]cdp.NodeID, error) {
	res, err := cdp.Call(ctx, t, accessibility.QueryAXTree, accessibility.QueryAXTreeParams{
		NodeID: root, Role: role, AccessibleName: name,
	})
	if err != nil {
		return nil, err
	}
	var backend []cdp.BackendNodeID
	for _, ax := range res.Nodes {
		if !ax.Ignored && ax.BackendDOMNodeID != 0 {
			backend = append(backend, ax.BackendDOMNodeID)
		}
	}
	if len(backend) == 0 {
		return []cdp.NodeID{}, nil
	}
	pushed, err := cdp.Call(ctx, t, dom.PushNodesByBackendIDsToFrontend, dom.PushNodesByBackendIDsToFrontendParams{BackendNodeIDs: backend})
	if err != nil {
		return nil, err
	}
	return pushed.NodeIDs, nil
}

// find waits for the visible element of role and name, optionally inside
// another element, and returns it. Each attempt starts a fresh query, so a
// page replaced by the next one is no obstacle.
func (b *browserTab) find(role, name string, within ...*chromedp.Node) *chromedp.Node {
	b.t.Helper()
	opts := []chromedp.QueryOption{byRole(role, name), chromedp.NodeVisible}
	if len(within) > 0 {
		opts = append(opts, chromedp.FromNode(within[0]))
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		nodes, err := chromedp.Run(ctx, chromedp.Nodes(role+" "+name, opts...))
		cancel()
		if err == nil && len(nodes) > 0 {
			return nodes[0]
		}
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			b.shot("not-found")
			b.t.Fatalf("no visible %s named %q: %v", role, name, err)
		}
	}
}

// count is the number of elements of role and name exposed now.
func (b *browserTab) count(role, name string) int {
	b.t.Helper()
	var (
		n   int
		err error
	)
	for range 20 { // a page being replaced answers with errors for a moment
		n, err = chromedp.Run(b.ctx, func(ctx context.Context, t *chromedp.Target) (int, error) {
			// The root is passed as a JavaScript object: DOM.getDocument
			// would invalidate the nodes the test holds.
			doc, err := chromedp.Evaluate[*runtime.RemoteObject](`document`)(ctx, t)
			if err != nil {
				return 0, err
			}
			res, err := cdp.Call(ctx, t, accessibility.QueryAXTree, accessibility.QueryAXTreeParams{
				ObjectID: doc.ObjectID, Role: role, AccessibleName: name,
			})
			if err != nil {
				return 0, err
			}
			n := 0
			for _, ax := range res.Nodes {
				if !ax.Ignored {
					n++
				}
			}
			return n, nil
		})
		if err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatalf("look for %s %q: %v", role, name, err)
	}
	return n
}

// absent checks that no element of role and name is exposed now.
func (b *browserTab) absent(role, name string) {
	b.t.Helper()
	if n := b.count(role, name); n > 0 {
		b.shot("unexpected")
		b.t.Fatalf("found %d %s named %q, want none", n, role, name)
	}
}

// click clicks the element of role and name.
func (b *browserTab) click(role, name string, within ...*chromedp.Node) {
	b.t.Helper()
	n := b.find(role, name, within...)
	b.do("click "+role+" "+name, chromedp.MouseClickNode(n))
}

// fill enters text into the field with the accessible name label, as one
// input event, the way a paste or an automation library's fill does: a
// key event for each character cost the browser a fifth of these tests'
// CPU. TestBrowserKeyboard types with the keys themselves.
func (b *browserTab) fill(label, text string, within ...*chromedp.Node) {
	b.t.Helper()
	n := b.find("textbox", label, within...)
	ids := []cdp.NodeID{n.NodeID}
	b.do("fill "+label, chromedp.Focus(ids),
		chromedp.Evaluate[chromedp.Void](`document.activeElement.value = ""`),
		insertText(text))
}

// insertText enters text into the focused field as one input event.
func insertText(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})
}

// value reads the value of the field with the accessible name label.
func (b *browserTab) value(label string, within ...*chromedp.Node) string {
	b.t.Helper()
	n := b.find("textbox", label, within...)
	v, err := chromedp.Run(b.ctx, chromedp.Value([]cdp.NodeID{n.NodeID}))
	if err != nil {
		b.t.Fatalf("value of %s: %v", label, err)
	}
	return v
}

// dialog waits for the open dialog named name.
func (b *browserTab) dialog(name string) *chromedp.Node {
	b.t.Helper()
	return b.find("dialog", name)
}

// eval runs JavaScript in the page and returns its result.
func eval[T any](b *browserTab, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// html is the whole document as the browser has it now.
func (b *browserTab) html() string {
	b.t.Helper()
	return eval[string](b, `document.documentElement.outerHTML`)
}

// text is the visible text of the page.
func (b *browserTab) text() string {
	b.t.Helper()
	return eval[string](b, `document.body.innerText`)
}

// waitFor evaluates the JavaScript condition until it is true. Errors
// while a page is replaced by the next one are retried.
func (b *browserTab) waitFor(cond string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("still false: %s", cond)
			}
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGone waits until no element matches the CSS selector and the page
// has loaded.
func (b *browserTab) waitGone(css string) {
	b.t.Helper()
	if err := b.waitFor(fmt.Sprintf(`document.readyState === "complete" && !document.querySelector(%q)`, css)); err != nil {
		b.shot("still-there")
		b.t.Fatalf("wait for %s to go: %v", css, err)
	}
}

// reloaded runs action, which must lead to a new page, and waits until a
// page other than the one before has loaded: waitURL alone can return on
// the old page when the new one has the same path.
func (b *browserTab) reloaded(action func()) {
	b.t.Helper()
	eval[bool](b, `window.sapientOldPage = true`)
	action()
	if err := b.waitFor(`!window.sapientOldPage && document.readyState === "complete"`); err != nil {
		b.shot("no-new-page")
		b.t.Fatalf("wait for a new page: %v", err)
	}
}

// waitURL waits until the page's path is path and it has loaded.
func (b *browserTab) waitURL(path string) {
	b.t.Helper()
	if err := b.waitFor(fmt.Sprintf(`location.pathname === %q && document.readyState === "complete"`, path)); err != nil {
		got, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.shot("wrong-url")
		b.t.Fatalf("wait for %s: %v (at %s)", path, err, got)
	}
}

// waitText waits until the visible text of the page contains s.
func (b *browserTab) waitText(s string) {
	b.t.Helper()
	if err := b.waitFor(fmt.Sprintf(`!!document.body && document.body.innerText.includes(%q)`, s)); err != nil {
		b.shot("text-missing")
		b.t.Fatalf("wait for text %q: %v", s, err)
	}
}

// grantClipboard lets the page read and write the clipboard, so that the
// test can check what Copy put there.
func (b *browserTab) grantClipboard(origin string) {
	b.t.Helper()
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(b.ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: origin,
			BrowserContextID: chromedp.FromContext(b.ctx).BrowserContextID,
		})
		if err != nil {
			b.t.Fatalf("grant %s: %v", name, err)
		}
	}
}

// watchJSDialogs records alert, confirm and prompt dialogs the page opens.
func (b *browserTab) watchJSDialogs() func() []string {
	events := chromedp.Events(b.ctx, page.JavascriptDialogOpening)
	var got []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range events {
			if err != nil {
				return
			}
			got = append(got, ev.Message)
			chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return func() []string { return got }
}

// login logs in through the login page and waits for Home.
func (b *browserTab) login(baseURL, email, password string) {
	b.t.Helper()
	b.open(baseURL + "/login")
	b.fill("Email", email)
	b.fill("Password", password)
	b.click("button", "Log in")
	b.waitURL("/")
}

// clean squeezes runs of white space, for comparing visible text.
func clean(s string) string { return strings.Join(strings.Fields(s), " ") }

// tableRows reads the body rows of the table whose caption starts with
// caption, each as a map from column heading to visible cell text.
func (b *browserTab) tableRows(caption string) []map[string]string {
	b.t.Helper()
	js := fmt.Sprintf(`(() => {
		const table = [...document.querySelectorAll('table')].find(t => t.caption && t.caption.textContent.trim().startsWith(%q));
		if (!table) return null;
		const heads = [...table.tHead.rows[0].cells].map(c => c.textContent.trim() || 'Actions');
		return [...table.tBodies[0].rows].filter(r => !r.classList.contains('empty-row'))
			.map(r => Object.fromEntries([...r.cells].map((c, i) => [heads[i], c.innerText.trim().replace(/\s+/g, ' ')])));
	})()`, caption)
	rows := eval[[]map[string]string](b, js)
	if rows == nil {
		b.shot("no-table")
		b.t.Fatalf("no table %q", caption)
	}
	return rows
}

// row returns the row whose Name column is name, or nil.
func row(rows []map[string]string, name string) map[string]string {
	for _, r := range rows {
		if r["Name"] == name {
			return r
		}
	}
	return nil
}

// checkboxes lists the checkboxes inside the element with id: value and
// whether it is checked.
func (b *browserTab) checkboxes(id string) map[string]bool {
	b.t.Helper()
	return eval[map[string]bool](b, fmt.Sprintf(
		`Object.fromEntries([...document.getElementById(%q).querySelectorAll('input[type=checkbox]')].map(i => [i.value, i.checked]))`, id))
}

// chromedpSelect chooses the option with value in the select element found
// by css, as a person picking from the list would, and tells the page.
func chromedpSelect(css, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event('change', {bubbles: true})); })()`, css, value))
}

// mouseAway moves the pointer to a corner, so that no hover effect shows
// in a screenshot.
func mouseAway() chromedp.Action[chromedp.Void] {
	return chromedp.MouseEvent("mouseMoved", 1, 1)
}

// tableFits reports whether the table of credentials shows every column
// without scrolling sideways.
func (b *browserTab) tableFits() bool {
	b.t.Helper()
	return eval[bool](b, `(() => { const w = document.querySelector('.table-wrap'); return w.scrollWidth <= w.clientWidth; })()`)
}

// chromedpClickCSS clicks the element found by css through the page, for
// controls whose accessible name is long (a checkbox with its description).
func chromedpClickCSS(css string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).click()`, css))
}
