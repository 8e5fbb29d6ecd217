package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// embeddedStartTimeout bounds the start of an embedded server, which
// recovers the stream's files first.
const embeddedStartTimeout = 30 * time.Second

// Embedded starts a NATS server inside the process, with JetStream keeping
// its files in dir and no network listener, and returns a Broker connected
// to it in process (nats.InProcessServer). It is `streamd -store DIR`: one
// node whose history survives restarts, on the same code path as a NATS
// cluster. opts.Conn and opts.URLs are ignored; Replicas must be 1.
//
// stop closes the broker, then shuts the server down and waits for it, so
// that the same dir can be opened again. Call stop rather than Close.
func Embedded(ctx context.Context, dir string, opts Options) (b *Broker, stop func() error, err error) {
	if dir == "" {
		return nil, nil, errors.New("natsbroker: Embedded needs a directory")
	}
	s, err := server.NewServer(&server.Options{
		ServerName: "streamd-embedded",
		JetStream:  true,
		StoreDir:   dir,
		DontListen: true,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("natsbroker: embedded server: %w", err)
	}
	s.Start()
	shutdown := func() {
		s.Shutdown()
		s.WaitForShutdown()
	}
	if !s.ReadyForConnections(embeddedStartTimeout) {
		shutdown()
		return nil, nil, fmt.Errorf("natsbroker: embedded server in %s not ready after %v", dir, embeddedStartTimeout)
	}
	nc, err := nats.Connect("", append([]nats.Option{
		nats.InProcessServer(s),
		nats.Name("streamd"),
		nats.ReconnectBufSize(-1),
	}, opts.ConnOptions...)...)
	if err != nil {
		shutdown()
		return nil, nil, fmt.Errorf("natsbroker: embedded connection: %w", err)
	}
	opts.Conn, opts.URLs, opts.Replicas = nc, nil, 1
	b, err = New(ctx, opts)
	if err != nil {
		nc.Close()
		shutdown()
		return nil, nil, err
	}
	b.ownConn = true
	stop = func() error {
		err := b.Close()
		if errors.Is(err, ErrClosed) {
			err = nil
		}
		shutdown()
		return err
	}
	return b, stop, nil
}
