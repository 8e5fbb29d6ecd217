package ws

import (
	"errors"
	"fmt"
	"testing"

	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/ws/internal/wsframe"
)

func TestCloseStatus(t *testing.T) {
	if got := CloseStatus(fmt.Errorf("read: %w", &CloseError{Code: CloseGoingAway})); got != CloseGoingAway {
		t.Errorf("CloseStatus(wrapped 1001) = %d", got)
	}
	if got := CloseStatus(errors.New("x")); got != 0 {
		t.Errorf("CloseStatus(other) = %d; want 0", got)
	}
	if got := CloseStatus(nil); got != 0 {
		t.Errorf("CloseStatus(nil) = %d; want 0", got)
	}
	if s := errRateLimit.Error(); s != "ws: close 1008 (policy violation): message rate limit exceeded" {
		t.Errorf("Error() = %q", s)
	}
	if len(errRateLimit.Reason) > wsframe.MaxControlPayload-2 {
		t.Errorf("%v: reason does not fit a close frame", errRateLimit)
	}
}

// TestCodecAgrees checks the names ws shows users against the codec's
// own: the codes it produces, its defaults, the opcodes of a message.
func TestCodecAgrees(t *testing.T) {
	codes := []struct {
		ws StatusCode
		wf wsframe.StatusCode
	}{
		{CloseProtocolError, wsframe.CloseProtocolError},
		{CloseNoStatus, wsframe.CloseNoStatus},
		{CloseInvalidPayload, wsframe.CloseInvalidPayload},
		{CloseMessageTooBig, wsframe.CloseMessageTooBig},
	}
	for _, c := range codes {
		if uint16(c.ws) != uint16(c.wf) {
			t.Errorf("ws %v = wsframe %d", c.ws, c.wf)
		}
	}
	if DefaultReadLimit != wsframe.DefaultReadLimit {
		t.Errorf("DefaultReadLimit %d; wsframe's %d", DefaultReadLimit, wsframe.DefaultReadLimit)
	}
	if DefaultCompressionThreshold != wsframe.DefaultCompressionThreshold {
		t.Errorf("DefaultCompressionThreshold %d; wsframe's %d", DefaultCompressionThreshold, wsframe.DefaultCompressionThreshold)
	}
	if byte(OpText) != byte(wsframe.OpText) || byte(OpBinary) != byte(wsframe.OpBinary) {
		t.Errorf("OpText, OpBinary = %d, %d; wsframe's %d, %d", OpText, OpBinary, wsframe.OpText, wsframe.OpBinary)
	}
}

// TestSocketProtocolError checks what a client breaking the protocol
// gets (a close frame with the code and reason) and what OnError gets:
// a *CloseError of this package with the same code and reason.
func TestSocketProtocolError(t *testing.T) {
	ev := newConnEvents()
	up := &Upgrader{Options: Options{PingInterval: -1}}
	ws := startServer(t, loop.Config{}, func(s *loop.Server) {
		s.GET("/", func(c *loop.Ctx) { up.Upgrade(c, ev.handler(Handler{})) })
	})
	rc := openWS(t, ws.HostPort, "/")
	recv(t, ev.open, "OnOpen")
	rc.write(unmaskedFrame(wsframe.OpText, "x"))
	f := rc.mustFrame()
	if f.op != wsframe.OpClose || f.closeCode() != CloseProtocolError || string(f.payload[2:]) != "unmasked client frame" {
		t.Fatalf("got %v; want close 1002 \"unmasked client frame\"", f)
	}
	rc.expectClosed()
	err := recv(t, ev.errs, "OnError")
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != CloseProtocolError || ce.Reason != "unmasked client frame" {
		t.Errorf("OnError(%#v); want *CloseError{1002, \"unmasked client frame\"}", err)
	}
	if code := recv(t, ev.closed, "OnClose"); code != CloseAbnormal {
		t.Errorf("OnClose code %v; want %v", code, CloseAbnormal)
	}
}
