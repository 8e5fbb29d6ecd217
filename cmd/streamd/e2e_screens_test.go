package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/streamd/streamd/cmd/streamd/internal/e2e"
)

// The demo pages as a person sees them: each page in headless Chromium at
// a desktop and a phone width, checked for what a person would look for
// on it, and saved as a PNG under t.TempDir() — and, when
// STREAMD_SCREENSHOTS names a directory, there too, to look at:
//
//	cd cmd/streamd && STREAMD_SCREENSHOTS=/tmp/shots go test -run TestE2EBrowserScreens .

// viewport is a window size the pages are rendered at, with what its
// pass writes: the passes share one server, so each one's words differ
// and the pages read like a conversation in the screenshots.
type viewport struct {
	name          string
	width, height int64
	phone         bool // mobile emulation: the page's meta viewport applies, touch events

	chat     []string  // SSE chat: posted before the page opens, then one typed
	wall     []string  // WebSocket chat: typed in a tab
	calendar [3]string // titles: today, next month (posted before paging), next month (live)
}

var viewports = []viewport{
	{name: "desktop", width: 1280, height: 800,
		chat:     []string{"Morning! Is the build green?", "Green on both loops.", "Shipping the calendar after lunch.", "Typed in one tab, seen in the other"},
		wall:     []string{"Hello from the desktop", "κόσμε 😀 over permessage-deflate"},
		calendar: [3]string{"Demo review", "Release party", "Posted while looking"}},
	{name: "phone", width: 375, height: 740, phone: true,
		chat:     []string{"Back from lunch: the calendar is out.", "Month navigation works on my phone.", "And no sideways scrolling.", "Typed on the phone"},
		wall:     []string{"Hello from a phone", "The wall keeps the last 50 lines"},
		calendar: [3]string{"Standup notes", "Team lunch", "Added live from a phone"}},
}

// screens drives the tabs of one browser at one viewport.
type screens struct {
	t   *testing.T
	a   *sseApp
	vp  viewport
	dir string // where PNGs go, besides STREAMD_SCREENSHOTS
}

// tab opens a tab with the viewport emulated.
func (s *screens) tab(browser context.Context) context.Context {
	s.t.Helper()
	tab := e2e.NewTab(s.t, browser)
	var opts []chromedp.EmulateViewportOption
	if s.vp.phone {
		opts = append(opts, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	e2e.Run(s.t, tab, browserWait, chromedp.EmulateViewport(s.vp.width, s.vp.height, opts...))
	return tab
}

// open navigates tab to path and waits until the page's #state reads
// state ("" for a page without one).
func (s *screens) open(tab context.Context, path, state string) {
	s.t.Helper()
	e2e.Run(s.t, tab, browserWait, chromedp.Navigate(s.a.base+path))
	if state != "" {
		e2e.WaitJS(s.t, tab, browserWait, path+" to be "+state,
			fmt.Sprintf(`document.getElementById("state").textContent === %q`, state))
	}
}

// fits checks that the page needs no horizontal scrolling, and on a
// phone what else makes it usable there: body text of at least 16 px and
// tap targets (buttons, inputs, the back link) at least 44 px high.
func (s *screens) fits(tab context.Context, page string) {
	s.t.Helper()
	if w := e2e.Eval[int](s.t, tab, `document.documentElement.scrollWidth`); w > int(s.vp.width) {
		s.t.Errorf("%s at %d px: scrollWidth %d; want no horizontal scrolling", page, s.vp.width, w)
	}
	if !s.vp.phone {
		return
	}
	if px := e2e.Eval[float64](s.t, tab, `parseFloat(getComputedStyle(document.body).fontSize)`); px < 16 {
		s.t.Errorf("%s at %d px: body text %.1f px; want at least 16", page, s.vp.width, px)
	}
	small := e2e.Eval[string](s.t, tab, `JSON.stringify([...document.querySelectorAll("button, input, a.back")]
		.filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 44)
		.map(e => e.id || e.textContent.trim() || e.tagName))`)
	if small != "[]" {
		s.t.Errorf("%s at %d px: tap targets under 44 px high: %s", page, s.vp.width, small)
	}
}

// shot saves a full-page PNG of tab as NAME-VIEWPORT.png.
func (s *screens) shot(tab context.Context, name string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserWait)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Fatalf("screenshot of %s: %v", name, err)
	}
	file := name + "-" + s.vp.name + ".png"
	dirs := []string{s.dir}
	if d := os.Getenv("STREAMD_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			s.t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, file), png, 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
	s.t.Logf("screenshot %s (%d KB) in %s", file, len(png)/1024, strings.Join(dirs, " and "))
}

// innerTexts is the expression for the text of the elements matching a
// CSS selector, as rendered (innerText), as JSON.
func innerTexts(selector string) string {
	return fmt.Sprintf(`JSON.stringify([...document.querySelectorAll(%q)].map(e => e.innerText))`, selector)
}

func TestE2EBrowserScreens(t *testing.T) {
	a := startSSEApp(t, 2)
	browser := e2e.NewBrowser(t)
	for _, vp := range viewports {
		t.Run(vp.name, func(t *testing.T) {
			s := &screens{t: t, a: a, vp: vp, dir: t.TempDir()}
			s.index(browser)
			s.clock(browser)
			s.chatSSE(browser)
			s.chatWS(browser)
			s.calendar(browser)
			s.chunked(browser)
		})
	}
}

func (s *screens) index(browser context.Context) {
	tab := s.tab(browser)
	s.open(tab, "/", "")
	links := e2e.Eval[string](s.t, tab, innerTexts(".demos strong"))
	if want := `["SSE clock","SSE chat","WebSocket chat","Live calendar","Chunked stream"]`; links != want {
		s.t.Errorf("index lists demos %s; want %s", links, want)
	}
	s.fits(tab, "index")
	s.shot(tab, "index")
}

// clock: a time HH:MM:SS that changes.
func (s *screens) clock(browser context.Context) {
	tab := s.tab(browser)
	s.open(tab, "/clock", "open")
	hms := regexp.MustCompile(`^\d\d:\d\d:\d\d$`)
	first := e2e.Eval[string](s.t, tab, `document.getElementById("time").innerText`)
	if !hms.MatchString(first) {
		s.t.Fatalf("clock shows %q; want HH:MM:SS", first)
	}
	e2e.WaitJS(s.t, tab, browserWait, "the clock to move on",
		fmt.Sprintf(`document.getElementById("time").innerText !== %q`, first))
	if next := e2e.Eval[string](s.t, tab, `document.getElementById("time").innerText`); !hms.MatchString(next) {
		s.t.Errorf("clock then shows %q; want HH:MM:SS", next)
	}
	if date := e2e.Eval[string](s.t, tab, `document.getElementById("date").innerText`); !strings.Contains(date, time.Now().Format("2006")) {
		s.t.Errorf("clock's date line %q; want the date, with the year", date)
	}
	s.fits(tab, "clock")
	s.shot(tab, "clock")
}

// chatLine is a message as a chat page shows it.
type chatLine struct {
	Time, At, Text string // Time: "HH:MM" shown; At: its datetime attribute (SSE page only)
}

// chatLines is the expression for a chat page's messages.
const chatLines = `JSON.stringify([...document.querySelectorAll("#log li")].map(li => {
	const t = li.querySelector("time");
	return {Time: t ? t.innerText : "", At: t ? t.dateTime : "", Text: li.querySelector(".text").innerText};
}))`

func (s *screens) lines(tab context.Context) []chatLine {
	s.t.Helper()
	var out []chatLine
	if err := json.Unmarshal([]byte(e2e.Eval[string](s.t, tab, chatLines)), &out); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// waitText waits until the chat page of tab lists want, in order, after
// whatever came before.
func (s *screens) waitText(tab context.Context, what string, want ...string) {
	s.t.Helper()
	w, _ := json.Marshal(want)
	e2e.WaitJS(s.t, tab, browserWait, what, fmt.Sprintf(`(() => {
		const got = [...document.querySelectorAll("#log li .text")].map(e => e.innerText);
		return JSON.stringify(got.slice(-%d)) === %q;
	})()`, len(want), w))
}

// send types msg into the page's message box and presses Enter.
func (s *screens) send(tab context.Context, msg string) {
	s.t.Helper()
	e2e.Run(s.t, tab, browserWait, chromedp.SendKeys(chromedp.ID("message"), msg+"\n"))
}

// chatSSE: earlier messages with their times on first load and after a
// reload; a message typed in one tab appears in another.
func (s *screens) chatSSE(browser context.Context) {
	start := time.Now().Add(-time.Second)
	earlier, typed := s.vp.chat[:len(s.vp.chat)-1], s.vp.chat[len(s.vp.chat)-1]
	for _, m := range earlier {
		ssePostChat(s.t, s.a.base, m)
	}
	tab1, tab2 := s.tab(browser), s.tab(browser)
	s.open(tab1, "/chat/sse", "connected")
	s.waitText(tab1, "the earlier messages on first load", earlier...)
	s.open(tab2, "/chat/sse", "connected")
	// History and subscription are one step: tab 2 is following now.
	s.waitText(tab2, "the earlier messages in the second tab", earlier...)

	s.send(tab1, typed)
	s.waitText(tab2, "the typed message in the other tab", s.vp.chat...)

	e2e.Run(s.t, tab2, browserWait, chromedp.Reload())
	s.waitText(tab2, "the earlier messages after a reload", s.vp.chat...)
	lines := s.lines(tab2)
	if n := e2e.Eval[bool](s.t, tab2, `!document.getElementById("notice").hidden`); n {
		s.t.Error("a fresh load shows the missed-messages notice")
	}
	for _, l := range lines[len(lines)-len(earlier)-1:] {
		at, err := time.Parse(time.RFC3339, l.At)
		if err != nil || at.Before(start.Truncate(time.Second)) || at.After(time.Now()) {
			s.t.Errorf("message %q stamped %q: %v; want a time of this test", l.Text, l.At, err)
			continue
		}
		// HH:MM, after the day if the message is of another day (a run
		// across midnight).
		if want := at.Local().Format("15:04"); !strings.HasSuffix(l.Time, want) {
			s.t.Errorf("message %q shows time %q; want %s (its stamp %s, local)", l.Text, l.Time, want, l.At)
		}
	}
	s.fits(tab1, "chat-sse")
	s.shot(tab1, "chat-sse")
}

// chatWS: a message typed in one tab appears in another, with its time;
// a reload shows the earlier lines again, before the welcome.
func (s *screens) chatWS(browser context.Context) {
	tab1, tab2 := s.tab(browser), s.tab(browser)
	s.open(tab1, "/chat/ws", "connected")
	s.open(tab2, "/chat/ws", "connected")
	for _, tab := range []context.Context{tab1, tab2} {
		s.waitText(tab, "the welcome", wallWelcome)
	}
	said := s.vp.wall
	for _, m := range said {
		s.send(tab1, m)
	}
	s.waitText(tab2, "the typed messages in the other tab", append([]string{wallWelcome}, said...)...)

	e2e.Run(s.t, tab2, browserWait, chromedp.Reload())
	e2e.WaitJS(s.t, tab2, browserWait, "the reconnect", `document.getElementById("state").textContent === "connected"`)
	s.waitText(tab2, "the earlier lines after a reload", append(said, wallWelcome)...)
	lines := s.lines(tab2)
	hm := regexp.MustCompile(`^\d\d:\d\d$`)
	for _, l := range lines[len(lines)-3 : len(lines)-1] {
		if !hm.MatchString(l.Time) {
			s.t.Errorf("wall line %q shows time %q; want HH:MM", l.Text, l.Time)
		}
	}
	s.fits(tab1, "chat-ws")
	s.shot(tab1, "chat-ws")
}

// calendar: the month's name and its entries; the next month, with an
// entry posted for it before and one while it is shown.
func (s *screens) calendar(browser context.Context) {
	tab := s.tab(browser)
	s.open(tab, "/calendar", "live")
	month := e2e.Eval[string](s.t, tab, `document.body.dataset.month`)
	today := e2e.Eval[string](s.t, tab, `document.getElementById("date").value`)
	first, err := time.Parse("2006-01", month)
	if err != nil || !strings.HasPrefix(today, month+"-") {
		s.t.Fatalf("page shows month %q with default date %q; want YYYY-MM holding the date", month, today)
	}
	next := first.AddDate(0, 1, 0)
	if got := e2e.Eval[string](s.t, tab, `document.getElementById("title").innerText`); got != first.Format("January 2006") {
		s.t.Errorf("calendar title %q; want %q", got, first.Format("January 2006"))
	}
	post := func(date, title string) {
		s.t.Helper()
		body, _ := json.Marshal(map[string]string{"date": date, "title": title})
		if st, resp := ssePost(s.t, s.a.base, "/calendar/events", "application/json", string(body)); st != 201 {
			s.t.Fatalf("POST /calendar/events = %d %q", st, resp)
		}
	}
	shows := func(what, date, title string) {
		s.t.Helper()
		e2e.WaitJS(s.t, tab, browserWait, what, fmt.Sprintf(`[...document.querySelectorAll('td[data-date=%q] li')].some(li => li.textContent === %q) &&
			[...document.querySelectorAll("#agenda li")].some(li => li.innerText.includes(%q))`, date, title, title))
	}
	// Entries of this month and the next, posted while this one is shown.
	thisTitle := s.vp.calendar[0]
	nextDate := next.AddDate(0, 0, 9).Format(time.DateOnly)
	nextTitle := s.vp.calendar[1]
	post(today, thisTitle)
	post(nextDate, nextTitle)
	shows("this month's entry", today, thisTitle)
	if n := e2e.Eval[int](s.t, tab, fmt.Sprintf(`document.querySelectorAll('td[data-date=%q]').length`, nextDate)); n != 0 {
		s.t.Errorf("next month's date %s is in this month's grid", nextDate)
	}
	if got := e2e.Eval[string](s.t, tab, innerTexts("#agenda li")); strings.Contains(got, nextTitle) {
		s.t.Errorf("this month's agenda %s lists next month's entry", got)
	}

	e2e.Run(s.t, tab, browserWait, chromedp.Click(chromedp.ID("next")))
	e2e.WaitJS(s.t, tab, browserWait, "the next month's title",
		fmt.Sprintf(`document.getElementById("title").innerText === %q`, next.Format("January 2006")))
	e2e.WaitJS(s.t, tab, browserWait, "the next month's stream", `document.getElementById("state").textContent === "live"`)
	shows("the entry posted earlier for the next month", nextDate, nextTitle)
	if got := e2e.Eval[string](s.t, tab, `location.search`); got != "?month="+next.Format("2006-01") {
		s.t.Errorf("URL query %q; want ?month=%s, so a reload stays on the month", got, next.Format("2006-01"))
	}
	liveDate := next.AddDate(0, 0, 20).Format(time.DateOnly)
	liveTitle := s.vp.calendar[2]
	post(liveDate, liveTitle)
	shows("an entry posted live for the shown month", liveDate, liveTitle)
	s.fits(tab, "calendar-next")
	s.shot(tab, "calendar-next")

	e2e.Run(s.t, tab, browserWait, chromedp.Click(chromedp.ID("today")))
	e2e.WaitJS(s.t, tab, browserWait, "back to this month",
		fmt.Sprintf(`document.getElementById("title").innerText === %q`, first.Format("January 2006")))
	shows("this month's entry again", today, thisTitle)
	if n := e2e.Eval[int](s.t, tab, fmt.Sprintf(`document.querySelectorAll('td.today[data-date=%q]').length`, today)); n != 1 {
		s.t.Errorf("today (%s) is not marked in the grid", today)
	}
	s.fits(tab, "calendar")
	s.shot(tab, "calendar")
}

// chunked: the page reads /chunked as it arrives: every line, one
// interval apart, not all at once at the end.
func (s *screens) chunked(browser context.Context) {
	tab := s.tab(browser)
	s.open(tab, "/chunked/view?n=20&interval=100ms", "")
	e2e.WaitJS(s.t, tab, browserWait, "the stream to end", `document.getElementById("state").textContent === "done"`)
	var got []string
	if err := json.Unmarshal([]byte(e2e.Eval[string](s.t, tab, innerTexts("#lines li .text"))), &got); err != nil {
		s.t.Fatal(err)
	}
	if want := chunkLines(20); strings.Join(got, "\n")+"\n" != want {
		s.t.Errorf("chunked page shows %q; want %q", got, want)
	}
	// 19 intervals of 100 ms lie between the first line and the last.
	spread := e2e.Eval[int](s.t, tab, `(() => { const t = document.querySelectorAll("#lines time");
		return t[t.length-1].dataset.ms - t[0].dataset.ms; })()`)
	if spread < 1000 {
		s.t.Errorf("lines arrived within %d ms; want them spread over about 1.9 s, as sent", spread)
	}
	s.fits(tab, "chunked")
	s.shot(tab, "chunked")
}
