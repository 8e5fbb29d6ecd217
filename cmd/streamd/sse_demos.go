package main

import (
	"context"
	"encoding/json"
	"mime"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/sse"
)

const (
	maxChatMessage    = 2000 // bytes
	maxCalendarTitle  = 200  // bytes
	maxCalendarEvents = 1000

	// chatRetry is the reconnection delay the chat stream asks for.
	chatRetry = 2 * time.Second
	// chatHistory is how many recent messages a chat keeps: the "chat"
	// topic's ring (what a page shows on first load and what a reconnect
	// can resume from), and the wall's list for /ws/chat?history=1.
	chatHistory = 50
)

// sseDemos holds the state of the SSE demos: the clock ticker, the chat
// topic, and the calendar entries.
type sseDemos struct {
	hub    *loop.Hub
	remote bool // the hub's broker is NATS: publishing waits for its acknowledgement

	stopClock chan struct{}
	clockDone chan struct{}

	calMu   sync.Mutex // orders calendar adds against stream snapshots
	entries []calendarEntry
	nextID  int

	streamsMu sync.Mutex
	streams   map[*sse.Stream]struct{} // open demo streams, for dropStreams
}

type calendarEntry struct {
	ID    int    `json:"id"`
	Date  string `json:"date"`
	Title string `json:"title"`
}

func newSSEDemos(hub *loop.Hub, remote bool) *sseDemos {
	return &sseDemos{hub: hub, remote: remote, stopClock: make(chan struct{}), clockDone: make(chan struct{}),
		streams: make(map[*sse.Stream]struct{})}
}

// track remembers s until it closes, so dropStreams can reach it.
func (d *sseDemos) track(s *sse.Stream) {
	d.streamsMu.Lock()
	d.streams[s] = struct{}{}
	d.streamsMu.Unlock()
	s.OnClose(func() {
		d.streamsMu.Lock()
		delete(d.streams, s)
		d.streamsMu.Unlock()
	})
}

// dropStreams closes every open demo stream from the server side, as a
// restart or a proxy timeout would: clients reconnect with Last-Event-ID
// and resume from the topic history. It returns how many it closed. The
// end-to-end tests use it; safe from any goroutine.
func (d *sseDemos) dropStreams() int {
	d.streamsMu.Lock()
	list := make([]*sse.Stream, 0, len(d.streams))
	for s := range d.streams {
		list = append(list, s)
	}
	d.streamsMu.Unlock()
	for _, s := range list {
		s.Close()
	}
	return len(list)
}

func (d *sseDemos) routes(a *app) {
	a.srv.GET("/sse/clock", d.clockStream)
	a.srv.GET("/sse/chat", d.chatStream)
	a.srv.POST("/chat", d.postChat)
	a.srv.GET("/sse/calendar", d.calendarStream)
	a.srv.POST("/calendar/events", d.postCalendar)
	a.srv.GET("/clock", a.page("clock.html"))
	a.srv.GET("/chat/sse", a.page("chat_sse.html"))
	a.srv.GET("/calendar", a.page("calendar.html"))
}

// startClock publishes the server time to the "clock" topic every second:
// one goroutine for all clock streams, fanned out by the hub.
func (d *sseDemos) startClock() {
	go func() {
		defer close(d.clockDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-d.stopClock:
				return
			case now := <-t.C:
				_, _ = sse.Publish(d.hub, "clock", sse.Event{Event: "time", Data: now.Format(time.RFC3339)})
			}
		}
	}()
}

func (d *sseDemos) stop() {
	close(d.stopClock)
	<-d.clockDone
}

func (d *sseDemos) clockStream(c *loop.Ctx) {
	sse.Open(c, sse.Options{Hub: d.hub}, func(s *sse.Stream) {
		d.track(s)
		_, _ = s.Event("time", time.Now().Format(time.RFC3339))
		_ = s.Join("clock")
	})
}

// chatStream follows the "chat" topic. The chat page's first load asks
// for the recent messages as /sse/chat?lastEventId=recent: sse.Open takes
// the query as the Last-Event-ID a polyfill would send, and as no message
// has that id, Join answers as to a client that fell behind the topic's
// ring: an event: reset, then every message the ring holds (chatHistory),
// read in the same step as the subscription, so none is lost or doubled
// between history and live. A reconnect sends the Last-Event-ID header,
// which wins over the query, and gets only what it missed.
func (d *sseDemos) chatStream(c *loop.Ctx) {
	sse.Open(c, sse.Options{Hub: d.hub, Retry: chatRetry}, func(s *sse.Stream) {
		d.track(s)
		_ = s.Join("chat")
	})
}

// chatEntry is the data of an "event: chat": the message and the time
// the server took it, so a page loading the history later shows when
// each was said.
type chatEntry struct {
	T    string `json:"t"` // RFC 3339, UTC, whole seconds
	Text string `json:"text"`
}

// postChat publishes a chat message from form field "message" or a raw
// text body, stamped with the server's time, as JSON
// {"t":"2026-12-01T09:30:00Z","text":"..."}.
func (d *sseDemos) postChat(c *loop.Ctx) {
	msg, err := chatMessage(c)
	if err != "" {
		c.Error(400, err)
		return
	}
	data, _ := json.Marshal(chatEntry{T: time.Now().UTC().Format(time.RFC3339), Text: msg})
	ev := sse.Event{Event: "chat", Data: string(data)}
	if d.remote {
		// NATS acknowledges the publish after a round trip: answer from a
		// goroutine, never block the loop.
		dfr := c.Defer()
		go func() {
			if err := d.publishRemote("chat", ev); err != nil {
				busy(dfr, "chat is unavailable, try again")
				return
			}
			_ = dfr.Reply(204, "", nil)
		}()
		return
	}
	if _, perr := sse.Publish(d.hub, "chat", ev); perr != nil {
		c.Error(503, "chat is busy, try again")
		return
	}
	c.NoContent(204)
}

// remotePublishTimeout bounds a publish through NATS before the client is
// told to retry.
const remotePublishTimeout = 5 * time.Second

// publishRemote publishes ev through the hub's NATS broker, waiting for
// its acknowledgement. Off the loop.
func (d *sseDemos) publishRemote(topic string, ev sse.Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), remotePublishTimeout)
	defer cancel()
	_, err := d.hub.PublishContext(ctx, topic, loop.Publication{ID: ev.ID, Event: ev.Event, Data: []byte(ev.Data)})
	return err
}

// busy answers 503 with Retry-After: the broker is unreachable or behind;
// the client may try again in a second.
func busy(dfr *loop.Deferred, msg string) {
	dfr.SetHeader("Retry-After", "1")
	_ = dfr.Text(503, msg+"\n")
}

func chatMessage(c *loop.Ctx) (string, string) {
	body := c.Body()
	msg := string(body)
	ct, _, _ := mime.ParseMediaType(c.Header("Content-Type"))
	if ct == "application/x-www-form-urlencoded" {
		// curl -d sends any body with this type: a body without a
		// "message" field is taken as raw text.
		if form, err := url.ParseQuery(string(body)); err == nil && form.Has("message") {
			msg = form.Get("message")
		}
	}
	msg = strings.TrimSpace(msg)
	switch {
	case msg == "":
		return "", "message is empty"
	case len(msg) > maxChatMessage:
		return "", "message is longer than 2000 bytes"
	case !utf8.ValidString(msg):
		return "", "message is not valid UTF-8"
	}
	return msg, ""
}

// calendarStream sends the entries as one "snapshot" event, then every
// new entry (of any month: the page keeps those of the month it shows) as
// an "entry" event. With ?month=YYYY-MM the snapshot holds that month's
// entries only, which is what the page asks for as it pages through
// months. Snapshot and join happen under calMu, which postCalendar holds
// while it stores and publishes, so no entry falls between them.
func (d *sseDemos) calendarStream(c *loop.Ctx) {
	month, ok := c.Query("month")
	if ok {
		if _, err := time.Parse(calendarMonth, month); err != nil {
			c.Error(400, "month must be YYYY-MM, like 2026-11")
			return
		}
	}
	sse.Open(c, sse.Options{Hub: d.hub}, func(s *sse.Stream) {
		d.track(s)
		d.calMu.Lock()
		defer d.calMu.Unlock()
		snap, _ := json.Marshal(d.calendarSnapshot(month))
		_, _ = s.Event("snapshot", string(snap))
		_ = s.Join("calendar")
	})
}

// calendarMonth is the layout of the month query parameter.
const calendarMonth = "2006-01"

// calendarSnapshot returns the entries of month (YYYY-MM), or all of them
// when month is "", in the order they were added; never nil, so the
// snapshot is [] rather than null. Under calMu.
func (d *sseDemos) calendarSnapshot(month string) []calendarEntry {
	out := make([]calendarEntry, 0, len(d.entries))
	for _, e := range d.entries {
		// Dates are validated YYYY-MM-DD, so the month is their prefix.
		if month == "" || e.Date[:len(calendarMonth)] == month {
			out = append(out, e)
		}
	}
	return out
}

func (d *sseDemos) postCalendar(c *loop.Ctx) {
	var in struct {
		Date  *string `json:"date"`
		Title *string `json:"title"`
	}
	dec := json.NewDecoder(strings.NewReader(string(c.Body())))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		c.Error(400, "body must be JSON like {\"date\":\"2026-11-25\",\"title\":\"...\"}")
		return
	}
	if dec.More() {
		c.Error(400, "body must hold exactly one JSON object")
		return
	}
	if in.Date == nil || in.Title == nil {
		c.Error(400, "date and title are required")
		return
	}
	if _, err := time.Parse(time.DateOnly, *in.Date); err != nil {
		c.Error(400, "date must be a real date in YYYY-MM-DD form")
		return
	}
	title := strings.TrimSpace(*in.Title)
	if title == "" || len(title) > maxCalendarTitle {
		c.Error(400, "title must be 1 to 200 bytes")
		return
	}
	add := func() ([]byte, error) {
		d.calMu.Lock()
		defer d.calMu.Unlock()
		d.nextID++
		e := calendarEntry{ID: d.nextID, Date: *in.Date, Title: title}
		body, _ := json.Marshal(e)
		ev := sse.Event{Event: "entry", Data: string(body)}
		var err error
		if d.remote {
			err = d.publishRemote("calendar", ev)
		} else {
			_, err = sse.Publish(d.hub, "calendar", ev)
		}
		if err != nil {
			return nil, err
		}
		d.entries = append(d.entries, e)
		if len(d.entries) > maxCalendarEvents {
			d.entries = d.entries[1:]
		}
		return body, nil
	}
	if d.remote {
		dfr := c.Defer()
		go func() {
			body, err := add()
			if err != nil {
				busy(dfr, "calendar is unavailable, try again")
				return
			}
			_ = dfr.Reply(201, "application/json", body)
		}()
		return
	}
	body, err := add()
	if err != nil {
		c.Error(503, "calendar is busy, try again")
		return
	}
	c.Bytes(201, "application/json", body)
}
