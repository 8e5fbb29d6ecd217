package ws_test

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/ws"
)

// An echo socket that says goodbye after one message, and a minimal
// client written against RFC 6455 with the standard library only: the
// opening handshake, one masked text frame, the server's text and close
// frames, and the closing handshake.
func ExampleUpgrade_echo() {
	srv := loop.New(loop.Config{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	srv.GET("/echo", func(c *loop.Ctx) {
		ws.Upgrade(c, ws.Handler{
			OnMessage: func(s *ws.Socket, m ws.Message) { // on the loop
				s.Send("echo: " + m.Text())
				_ = s.Close(ws.CloseNormal, "bye")
			},
		})
	})
	ctx, shutdown := context.WithCancel(context.Background())
	defer shutdown()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-served:
		fmt.Println(err)
		return
	}

	if err := echoOnce(srv.Addr().String(), "/echo"); err != nil {
		fmt.Println(err)
	}
	shutdown()
	<-served
	// Output:
	// text: echo: hello
	// close: 1000 "bye"
	// after the closing handshake: EOF
}

func echoOnce(addr, path string) error {
	conn, r, err := dial(addr, path)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := writeFrame(conn, 0x1, []byte("hello")); err != nil { // text
		return err
	}
	_, text, err := readFrame(r)
	if err != nil {
		return err
	}
	fmt.Printf("text: %s\n", text)
	op, body, err := readFrame(r)
	if err != nil || op != 0x8 || len(body) < 2 {
		return fmt.Errorf("want a close frame, got opcode %#x %q (%v)", op, body, err)
	}
	fmt.Printf("close: %d %q\n", binary.BigEndian.Uint16(body), body[2:])
	if err := writeFrame(conn, 0x8, body[:2]); err != nil { // close back with the same code
		return err
	}
	_, err = r.ReadByte() // the server closes the TCP connection
	fmt.Println("after the closing handshake:", err)
	return nil
}

// dial opens a connection and performs the opening handshake
// (RFC 6455, Section 4.1), checking Sec-WebSocket-Accept.
func dial(addr, path string) (net.Conn, *bufio.Reader, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	key := base64.StdEncoding.EncodeToString([]byte("sixteen bytes!!!")) // random in a real client
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, addr, key)
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil) // a 101 has no body: frames follow in r
	if err == nil {
		sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
			err = errors.New("handshake refused: " + resp.Status)
		}
	}
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, r, nil
}

// writeFrame writes one final frame of at most 125 bytes, masked as every
// client frame must be (RFC 6455, Section 5.3).
func writeFrame(w io.Writer, op byte, payload []byte) error {
	mask := [4]byte{0x12, 0x34, 0x56, 0x78} // random in a real client
	frame := append([]byte{0x80 | op, 0x80 | byte(len(payload))}, mask[:]...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	_, err := w.Write(frame)
	return err
}

// readFrame reads one unmasked server frame of at most 125 bytes.
func readFrame(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[1] > 125 {
		return 0, nil, errors.New("frame too long for this client")
	}
	payload = make([]byte, h[1])
	_, err = io.ReadFull(r, payload)
	return h[0] & 0x0f, payload, err
}
