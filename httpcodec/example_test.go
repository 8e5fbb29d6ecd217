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
		out = httpcodec.AppendResponse(out, &httpcodec.ResponseHead{Status: 200, ContentType: "text/plain",
			KeepAlive: req.KeepAlive, HTTP10: req.ProtoMinor == 0, HeadRequest: string(req.Method) == "HEAD"}, req.Body)
		inbound = inbound[n:] // gnet: c.Discard(n)
	}
	// Output:
	// GET /hello name="gopher" body="" keep-alive=true
	// POST /echo name="" body="hi" keep-alive=true
	// need more, 25 bytes kept
}

// ExampleParser_Compact shows a loop that keeps an incomplete request in a
// buffer of its own and compacts it after each ErrNeedMore, so a chunked
// body costs its decoded size, not its wire size.
func ExampleParser_Compact() {
	p := httpcodec.NewParser(httpcodec.Limits{})
	var req httpcodec.Request
	var buf []byte // the connection's unconsumed input, owned by the loop

	reads := []string{
		"POST /up HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n",
		"0000000000000005\r\nhel",
		"lo\r\n0000000000000006\r\n world\r\n",
		"0\r\n\r\n",
	}
	for _, r := range reads {
		buf = append(buf, r...) // the bytes Parse and Compact left, plus new input
		n, err := p.Parse(buf, &req)
		if err == httpcodec.ErrNeedMore {
			buf = buf[:p.Compact(buf)]
			fmt.Printf("need more, %d bytes kept\n", len(buf))
			continue
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s %s body=%q\n", req.Method, req.Path, req.Body)
		buf = buf[:copy(buf, buf[n:])] // drop the request, keep what follows
	}
	// Output:
	// need more, 68 bytes kept
	// need more, 71 bytes kept
	// need more, 79 bytes kept
	// POST /up body="hello world"
}
