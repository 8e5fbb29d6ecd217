package loop

// For protocol packages: Drain holds the callback of a stream's OnDrain
// method (sse.Stream, ws.Socket, chunked.Writer): Set stores it and asks
// the connection for a drain, and the stream's Mode.OnDrain calls Run,
// which runs it once. The zero value holds none; a Drain is one func
// value, 8 bytes.
//
// # Concurrency
//
// A Drain is loop-only: Set, Run and Pending are called on the
// connection's loop. A stream's public OnDrain checks with
// Conn.MustOnLoop first, so that a call from another goroutine panics with
// the stream's method name, then skips Set once the stream has ended.
type Drain struct{ fn func() }

// Set stores fn, replacing a callback not yet run (nil clears it), and
// asks c for one Mode.OnDrain call once its queued output has fallen to
// the low watermark (Conn.WantDrain, whose check panics off the loop).
// On the loop.
func (d *Drain) Set(c *Conn, fn func()) {
	d.fn = fn
	c.WantDrain()
}

// Run runs the stored callback, if any, once: it is cleared first, so the
// callback may Set another. The stream's Mode.OnDrain calls it. On the
// loop.
func (d *Drain) Run() {
	if fn := d.fn; fn != nil {
		d.fn = nil
		fn()
	}
}

// Pending reports whether a callback is stored and not yet run. On the
// loop.
func (d *Drain) Pending() bool { return d.fn != nil }

// MustOnLoop panics with "method called off the connection's loop" unless
// it is called on c's loop. A protocol's loop-only method calls it before
// it touches loop-only state, naming itself with its package
// ("sse: Stream.OnDrain"), so a call from another goroutine fails with
// that name rather than race. Safe from any goroutine.
func (c *Conn) MustOnLoop(method string) {
	if !c.el.onLoop() {
		panic(method + " called off the connection's loop")
	}
}
