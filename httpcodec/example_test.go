package httpcodec_test

import (
	"errors"
	"fmt"

	"github.com/streamd/streamd/httpcodec"
)

// ExampleParser_Parse shows the event-loop pattern: parse from all unconsumed
// bytes, answer, discard what was consumed, repeat for pipelined requests.
func ExampleParser_Parse() {
	p := httpcodec.NewParser(httpcodec.Limits{})
	var req httpcodec.Request
	var out []byte

	inbound := []byte("GET /hello?name=gopher HTTP/1.1\r\nHost: example.com\r\n\r\n" +
		"POST /echo HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2\r\n\r\nhi" +
		"GET /partial HTTP/1.1\r\nHo")
	for {
		n, err := p.Parse(inbound, &req) // gnet: inbound = c.Peek(-1)
		var pe *httpcodec.ProtocolError
		switch {
		case err == httpcodec.ErrNeedMore:
			fmt.Printf("need more, %d bytes kept\n", len(inbound))
			return
		case err == httpcodec.ErrExpectContinue:
			out = append(out, "HTTP/1.1 100 Continue\r\n\r\n"...)
			return
		case errors.As(err, &pe):
			out = httpcodec.AppendError(out, pe) // then close
			return
		}
		name, _ := req.QueryValue("name")
		fmt.Printf("%s %s name=%q body=%q keep-alive=%v\n", req.Method, req.Path, name, req.Body, req.KeepAlive)
		out = httpcodec.AppendResponse(out, 200, "text/plain", req.Body, req.KeepAlive)
		inbound = inbound[n:] // gnet: c.Discard(n)
	}
	// Output:
	// GET /hello name="gopher" body="" keep-alive=true
	// POST /echo name="" body="hi" keep-alive=true
	// need more, 25 bytes kept
}
